"""``Workbench``: every panel in one tabbed app, sharing the current model and one study."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets
import traitlets

from onnxkit import Model, ModelLike, load
from onnxkit.results import fmt_bytes
from onnxkit.widgets._base import Panel
from onnxkit.widgets._cluster import ClusterPanel
from onnxkit.widgets._compose import ComposePanel
from onnxkit.widgets._convert import ConvertPanel
from onnxkit.widgets._deploy import DeployPanel
from onnxkit.widgets._generate import GeneratePanel
from onnxkit.widgets._inspect import InspectPanel
from onnxkit.widgets._optimize import OptimizePanel
from onnxkit.widgets._providers import ProviderPanel
from onnxkit.widgets._quantize import QuantizePanel
from onnxkit.widgets._serve import ServePanel
from onnxkit.widgets._study import Data, StudyPanel
from onnxkit.widgets._tune import TunePanel

log = logging.getLogger("onnxkit.widgets")



@dataclass(frozen=True)
class Tab:
    """One tab of the Workbench: its title, and how its panel is made for a model (with the
    bench's data); ``on_model``: made again when the current model changes."""

    title: str
    make: Callable[[Workbench, Model], Panel]
    on_model: bool = True


def _quantize(bench: Workbench, model: Model) -> Panel:
    if bench._calibration is not None:
        return QuantizePanel(model, bench._calibration)
    return QuantizePanel(model, bench._data, bench._labels)


# The tabs in order; a new panel is one row here.
TABS: dict[str, Tab] = {
    "inspect": Tab("Inspect", lambda b, m: InspectPanel(m)),
    "convert": Tab("Convert", lambda b, m: ConvertPanel(b._namespace), on_model=False),
    "optimize": Tab("Optimize", lambda b, m: OptimizePanel(m)),
    "compose": Tab("Compose", lambda b, m: ComposePanel(m, others=b.models)),
    "quantize": Tab("Quantize", _quantize),
    "tune": Tab("Tune", lambda b, m: TunePanel(m, b._data, b._labels)),
    "providers": Tab("Providers", lambda b, m: ProviderPanel(m)),
    "study": Tab("Study", lambda b, m: StudyPanel(m, data=b._data, labels=b._labels,
                                                  calibration=b._calibration), on_model=False),
    "deploy": Tab("Deploy", lambda b, m: DeployPanel(m)),
    "serve": Tab("Serve", lambda b, m: ServePanel(m)),
    "cluster": Tab("Cluster", lambda b, m: ClusterPanel(m, data=b._data, labels=b._labels)),
}
# The tab a language model adds (Workbench(lm=...)): its panel works on the LM, not the model.
GENERATE = Tab("Generate", lambda b, m: GeneratePanel(b._lm), on_model=False)


class Workbench(widgets.VBox):
    """One tabbed app over the panels, sharing the current model and a study of its variants.

    Args:
        model: the first model: the current model to start with, and the study's reference.
        data: evaluation inputs (an array for single-input models, or a dict of arrays; rows
            are samples), for the study and, without ``calibration``, Quantize.
        labels: the true class of each row of ``data``: accuracy in the study, Quantize and
            Tune (without labels, Tune's budget is a max abs error).
        calibration: calibration inputs for static quantization (Quantize and the study's
            *Auto*); Quantize then assesses on them, without labels.
        namespace: where Convert looks for models (default: the notebook's).
        lm: a language model (:class:`onnxkit.llm.LanguageModel` or its folder): adds a
            Generate tab (:class:`GeneratePanel`) after the others.

    Tabs: Inspect, Convert, Optimize, Compose, Quantize, Tune, Providers, Study, Deploy, Serve,
    Cluster, and Generate with ``lm`` (``panels`` by lowercase name; :data:`TABS`). When a
    panel makes a model (its ``made``),
    the model is added to ``models`` and to the study as a variant (named from the model's
    name); it becomes the current ``model`` only when the person says so (*Use as current*
    in the header), or with ``follow`` on. The panels that take the model are then made again
    for it: at once, or, for the panel that made it and any busy panel, when its tab is next
    shown: a result stays on its tab until that tab's next action. The header says which
    model the shown tab works on, and the study's verdict on each model it offers.
    :meth:`to_code` gives the code of every action, in the order they happened.

    Examples:
        >>> import onnxkit
        >>> from onnxkit.widgets import Workbench
        >>> bench = Workbench(onnxkit.samples.tiny_model())
        >>> optimized = bench.panels["optimize"].run()
        >>> bench.model.name, [m.name for m in bench.models]  # offered, not yet current
        ('tiny', ['tiny', 'tiny.opt-basic'])
        >>> bench.use(optimized).name, bench.panels["quantize"].model.name
        ('tiny.opt-basic', 'tiny.opt-basic')
        >>> bench.wait(), bench.study.names  # the study measured it in the background
        (True, ['reference', 'opt-basic'])
    """

    model = traitlets.Instance(Model, help="The current model: the input of Inspect, "
                                           "Optimize, Quantize, Providers and Deploy.")
    models = traitlets.List(traitlets.Instance(Model), help="Every model so far: the first, "
                            "then those the panels made (or that were made current).")
    follow = traitlets.Bool(False, help="Make each model a panel makes the current model at "
                                        "once (default: it is offered in the header).")

    def __init__(self, model: ModelLike, *, data: Data | None = None, labels: Any = None,
                 calibration: Data | None = None, namespace: Mapping[str, Any] | None = None,
                 lm: Any = None, **kwargs: Any):
        super().__init__(**kwargs)
        first = load(model)
        self._data: Data | None = data
        self._labels: Any = labels
        self._calibration: Data | None = calibration
        self._namespace: Mapping[str, Any] | None = namespace
        self._lm = lm
        self._tabs = {**TABS, **({"generate": GENERATE} if lm is not None else {})}
        self._lock = threading.RLock()
        self._blocks: list[tuple[Panel, str, str]] = []  # (panel, tab title, its code)
        self._made: dict[int, Model | None] = {}  # id(panel) -> the last model it made
        self._built: dict[str, Model] = {}  # panel key -> the model it was made for
        self._stale: set[str] = set()
        self._producer: Panel | None = None
        self.panels: dict[str, Panel] = {}
        self.set_trait("model", first)
        self.models = [first]
        self.message = widgets.Label("")
        for key in self._tabs:
            self._watch(key, self._build(key, first))
        # each tab holds a slot whose panel is swapped: the tab bar itself never changes (new
        # tab children would send the browser back to the first tab)
        self._slots = {k: widgets.VBox([self.panels[k]]) for k in self._tabs}
        self.tab = widgets.Tab(children=list(self._slots.values()),
                               titles=tuple(t.title for t in self._tabs.values()))
        self.tab.observe(self._shown, "selected_index")
        self.current = widgets.HTML()
        self.choice = widgets.Dropdown(description="models",
                                       layout=widgets.Layout(width="420px"))
        self.use_button = widgets.Button(description="Use as current", icon="check",
                                         tooltip="Make the chosen model the current one",
                                         layout=widgets.Layout(width="auto"))
        self.use_button.on_click(lambda _: self.use(self.models[self.choice.value]))
        self.follow_box = widgets.Checkbox(description="use each new model at once",
                                           indent=False, layout=widgets.Layout(width="220px"))
        traitlets.link((self, "follow"), (self.follow_box, "value"))
        self.observe(self._on_model, "model")
        self.observe(lambda _: self._show_header(), "models")
        self._show_header()
        self.code_view = widgets.HTML()
        self.code = widgets.Accordion(children=[self.code_view], titles=("Code (session)",),
                                      selected_index=None)
        # two rows: the current model in words, then the choice (a row of its own fits any
        # width: nothing of it is cut)
        self.children = [self.current, widgets.HBox([self.choice, self.use_button,
                                                     self.follow_box]),
                         self.message, self.tab, self.code]

    # --- reading ------------------------------------------------------------------------------

    @property
    def study(self) -> Any:
        """The shared :class:`~onnxkit.Study` (None until *Auto* or the first variant)."""
        return self.panels["study"].study

    def use(self, model: ModelLike) -> Model:
        """Make ``model`` the current model (added to ``models`` and the study if new). A tab
        that kept its result on an earlier model is moved to it when it is the one shown."""
        handle = load(model)
        shown = self._shown_key()
        if handle == self.model and shown in self._stale and not self.panels[shown].busy:
            self._rebuild(shown)
            self._show_header()
        self.model = handle
        return handle

    def _shown_key(self) -> str | None:
        tab = getattr(self, "tab", None)
        index = None if tab is None else tab.selected_index
        return None if index is None else list(self._tabs)[index]

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until no panel is busy (the study's queued variants included)."""
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            for panel in list(self.panels.values()):
                left = None if end is None else max(0.0, end - time.monotonic())
                if not panel.wait(left):
                    return False
            if not any(p.busy for p in self.panels.values()):
                return True
            time.sleep(0.01)

    def close(self) -> None:
        """Close the workbench and its panels (stopping Inspect's Netron server)."""
        for panel in self.panels.values():
            panel.close()
        super().close()

    # --- panels -------------------------------------------------------------------------------

    def _build(self, key: str, model: Model) -> Panel:
        self._built[key] = model
        return self._tabs[key].make(self, model)

    def _watch(self, key: str, panel: Panel) -> None:
        self.panels[key] = panel
        self._made[id(panel)] = panel.made
        panel.observe(lambda _: self._acted(key, panel), "actions")

    def _rebuild(self, key: str) -> None:
        old = self.panels[key]
        self._watch(key, self._build(key, self.model))
        self._slots[key].children = (self.panels[key],)
        self._stale.discard(key)
        self._made.pop(id(old), None)
        old.close()

    def _shown(self, change: dict[str, Any]) -> None:
        key = list(self._tabs)[change["new"]] if change["new"] is not None else None
        panel = self.panels.get(key) if key else None
        if key in self._stale and panel is not None and not panel.busy and panel.result is None:
            self._rebuild(key)  # nothing to lose: made for the current model
        self._show_header()

    # --- events -------------------------------------------------------------------------------

    def _acted(self, key: str, panel: Panel) -> None:
        """A panel finished an action: keep its code; take the model it made, if any."""
        try:
            with self._lock:
                if self._blocks and self._blocks[-1][0] is panel:
                    self._blocks.pop()
                self._blocks.append((panel, self._tabs[key].title, panel.to_code()))
                self.code_view.value = (f"<pre style='white-space: pre-wrap'>"
                                        f"{_escape(self.to_code())}</pre>")
                made = panel.made
                self._show_header()  # a study row may carry a new verdict
                if made is None or made is self._made.get(id(panel)):
                    return
                self._made[id(panel)] = made
                self._producer = panel
                try:
                    self._take(made)
                finally:
                    self._producer = None
        except Exception as e:  # never break the panel's action
            log.error("Workbench: could not take the result of %s", key, exc_info=True)
            self.message.value = f"Workbench: {type(e).__name__}: {e}"

    def _take(self, made: Model) -> None:
        if made not in self.models:
            self.models = [*self.models, made]
            self._offer(made)
        if self.follow:
            self.model = made

    def _offer(self, model: Model) -> None:
        """Have the study measure ``model`` when it is a variant of the reference (the same
        inputs and outputs); the header says so of any other."""
        study = self.panels["study"]
        if study.accepts(model):
            study.offer(model)
            study.source = str(model.path)

    def _on_model(self, change: dict[str, Any]) -> None:
        model: Model = change["new"]
        with self._lock:
            if model not in self.models:
                self.models = [*self.models, model]
                self._offer(model)
            for key in [k for k, t in self._tabs.items() if t.on_model]:
                panel = self.panels[key]
                if self._built.get(key) == model:
                    self._stale.discard(key)
                elif panel is self._producer or panel.busy or panel.result is not None:
                    self._stale.add(key)  # keeps its result until Use as current on its tab
                else:
                    self._rebuild(key)
            self._show_header()

    def _show_header(self) -> None:
        m = self.model
        key = self._shown_key()
        works_on = self._built.get(key, m) if key and self._tabs[key].on_model else None
        here = "" if works_on is None else \
            f"; {self._tabs[key].title} works on <b>{_escape(works_on.name)}</b>"  # type: ignore[index]
        if works_on is not None and works_on != m:
            here += " (it keeps its result; <i>Use as current</i> moves it to the current model)"
        self.current.value = (f"current model: <span style='white-space: nowrap'><b>"
                              f"{_escape(m.name)}</b> ({fmt_bytes(m.size_bytes)})</span>"
                              f"{_escape(self._verdict(m))}{here}")
        options = [(f"{x.name} ({fmt_bytes(x.size_bytes)}){self._verdict(x)}", i)
                   for i, x in enumerate(self.models)]
        self.choice.options = options
        study = self.panels.get("study")
        compose = self.panels.get("compose")
        if isinstance(compose, ComposePanel):  # to chain or ensemble with
            compose.others = list(self.models)
        if isinstance(study, StudyPanel):  # Add offers the models so far that it can take
            study.source_control.options = [str(x.path) for x in self.models[1:]
                                            if study.accepts(x)]
        self.choice.value = self.models.index(m) if m in self.models else None

    def _verdict(self, model: Model) -> str:
        """What the study measured of ``model`` against the first one, when it did: a slower
        variant carries its verdict wherever it is offered."""
        study = self.panels.get("study")
        if isinstance(study, StudyPanel) and not study.accepts(model):
            return " — not a variant of the reference (other inputs or outputs): not in the study"
        found = getattr(study, "study", None)
        row = next((r for r in found.rows() if r.model.path == model.path), None) \
            if found is not None else None
        if row is None or row.name == "reference":
            return ""
        return f" — {row.speedup} vs the reference: {row.verdict}"

    # --- code ---------------------------------------------------------------------------------

    def to_code(self) -> str:
        """The code of every panel's actions, in the order they happened, runnable as pasted.

        Each block is its panel's :meth:`~onnxkit.widgets.Panel.to_code` at that moment, which
        defines its own inputs, so later blocks do not depend on earlier ones' variables.
        """
        with self._lock:
            blocks = [(title, code) for _, title, code in self._blocks]
        imports: list[str] = ["import onnxkit"]
        body: list[str] = []
        for title, code in blocks:
            lines = code.splitlines()
            while lines and (lines[0].startswith("import ") or not lines[0].strip()):
                if lines[0].strip() and lines[0] not in imports:
                    imports.insert(0, lines[0])
                lines.pop(0)
            body += ["", f"# --- {title} ---", *lines]
        return "\n".join([*imports, *body]).rstrip() + "\n"


def _escape(text: str) -> str:
    import html

    return html.escape(text)
