"""``ProviderPanel``: choose execution providers and options, benchmark them side by side."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ipywidgets as widgets
import numpy as np
import traitlets

from onnxkit import (
    EXECUTION_MODES,
    OPT_LEVELS,
    Model,
    ModelLike,
    NodePlacement,
    OptionSpec,
    SweepResult,
    load,
    placement,
    provider_options,
    providers,
    sweep,
)
from onnxkit.errors import ParameterError
from onnxkit.widgets._base import Panel, call

CONFIGURABLE = ("cpu", "cuda", "tensorrt", "openvino")  # providers with an options form
# Azure's provider calls remote endpoints instead of running the graph: nothing to time here.
NOT_OFFERED = ("azure",)


class ProviderPanel(Panel):
    """Pick execution providers in priority order, set their options, benchmark and place.

    Args:
        model: the model to run.
        feeds: inputs (default: random inputs of each batch size).

    The table on top lists every provider ONNX Runtime knows and whether this build has it.
    *Benchmark* (the main action, :meth:`run`) times each provider of the priority list on its
    own (with CPU as the fallback for nodes it cannot run), at every thread count and batch
    size, interleaved: :func:`onnxkit.sweep`. *Placement* runs the whole priority list once
    and shows which provider ran each node: :func:`onnxkit.placement`.

    Examples:
        >>> import onnxkit
        >>> from onnxkit.widgets import ProviderPanel
        >>> panel = ProviderPanel(onnxkit.samples.tiny_model())
        >>> panel.threads, panel.batch, panel.duration = [1, 2], [4], 0.1
        >>> panel.run().table()[["providers", "threads", "batch"]].values.tolist()
        [['cpu', 1, 4], ['cpu', 2, 4]]
        >>> print(panel.to_code().splitlines()[-1])
        sweep = onnxkit.sweep(model, providers=['cpu'], threads=[1, 2], batch=[4], duration=0.1)
    """

    model = traitlets.Instance(Model, read_only=True, help="The model to run.")
    feeds = traitlets.Any(None, allow_none=True, read_only=True,
                          help="Inputs (None: random inputs of each batch size).")
    priority = traitlets.List(traitlets.Unicode(), default_value=["cpu"],
                              help="Providers in priority order (short names, e.g. 'openvino').")
    provider_options = traitlets.Dict(
        help="{provider short name: {option: value}}: options that differ from the defaults.")
    threads = traitlets.List(traitlets.Int(min=1), help="Intra-op thread counts to sweep "
                             "([]: ONNX Runtime's default).")
    batch = traitlets.List(traitlets.Int(min=1), help="Batch sizes to sweep ([]: the feeds' "
                           "own, or 1).")
    inter_threads = traitlets.Int(0, min=0, help="Inter-op threads (0: default; used by the "
                                  "parallel execution mode).")
    opt_level = traitlets.Enum(OPT_LEVELS, "all", help="Graph optimization level.")
    execution_mode = traitlets.Enum(EXECUTION_MODES, "sequential",
                                    help="Run nodes one at a time or independent branches in "
                                         "parallel.")
    duration = traitlets.Float(0.5, min=0.01, max=600, help="Seconds of timed runs per "
                               "combination.")
    io_binding = traitlets.Bool(False, help="Keep inputs and outputs on each provider's device "
                                "(IOBinding), so host/device copies are not timed.")

    def __init__(self, model: ModelLike, feeds: np.ndarray | Mapping[str, np.ndarray]
                 | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.set_trait("model", load(model))
        self.set_trait("feeds", feeds)
        table = providers()
        self._available = [p.short for p in table.providers
                           if p.available and p.short not in NOT_OFFERED]
        self.providers_table = widgets.HTML(table._repr_html_())
        providers_box = widgets.Accordion(
            children=[self.providers_table],
            titles=(f"providers in this build: {', '.join(self._available)} "
                    f"({len(table.providers)} known; open for the list and this machine)",))
        self.priority_control = widgets.TagsInput(allowed_tags=self._available,
                                                  allow_duplicates=False)
        traitlets.link((self, "priority"), (self.priority_control, "value"))
        self._forms = {name: _OptionForm(name, name in self._available, self._option_changed)
                       for name in CONFIGURABLE}
        self.options_accordion = widgets.Accordion(
            children=[f.box for f in self._forms.values()],
            titles=tuple(f"{n} options" + ("" if n in self._available else " (not in this build)")
                         for n in self._forms))
        self.observe(lambda _: self._sync_forms(), "provider_options")
        self._session_controls()
        self.benchmark_button = self._button("Benchmark", self._benchmark, icon="play",
                                             button_style="primary")
        self.placement_button = self._button("Placement", self._placement, icon="sitemap")
        self.observe(lambda _: self._sync_buttons(), "priority")
        self._layout(providers_box,
                     widgets.HBox([widgets.Label("priority (drag to reorder)"),
                                   self.priority_control]),
                     self.options_accordion, self.session_box, self.sweep_box)

    @traitlets.validate("priority")
    def _check_priority(self, proposal: Any) -> list[str]:
        missing = [p for p in proposal.value if p not in self._available]
        if missing:
            raise ParameterError(
                f"ProviderPanel.priority: {', '.join(missing)} is not in this onnxruntime "
                f"build; available: {', '.join(self._available)}. Install the onnxruntime "
                "package that has it (e.g. onnxruntime-gpu, onnxruntime-openvino).")
        return list(dict.fromkeys(proposal.value))

    # --- controls -----------------------------------------------------------------------------

    def _session_controls(self) -> None:
        inter = widgets.BoundedIntText(min=0, max=1024, description="inter threads")
        level = widgets.Dropdown(options=OPT_LEVELS, description="opt level")
        mode = widgets.Dropdown(options=EXECUTION_MODES, description="execution")
        duration = widgets.BoundedFloatText(min=0.01, max=600, step=0.1, description="seconds")
        binding = widgets.Checkbox(description="IOBinding", indent=False,
                                   tooltip=self.traits()["io_binding"].help)
        for name, control in [("inter_threads", inter), ("opt_level", level),
                              ("execution_mode", mode), ("duration", duration),
                              ("io_binding", binding)]:
            traitlets.link((self, name), (control, "value"))
        threads = _IntList(self, "threads", "threads", "e.g. 1, 2 (empty: default)")
        batch = _IntList(self, "batch", "batch", "e.g. 1, 8 (empty: 1)")
        self.session_box = widgets.HBox([level, mode, inter])
        self.sweep_box = widgets.HBox([threads.text, batch.text, duration, binding])

    def _option_changed(self, provider: str, values: dict[str, Any]) -> None:
        options = {k: v for k, v in self.provider_options.items() if k != provider}
        self.provider_options = {**options, **({provider: values} if values else {})}

    def _sync_forms(self) -> None:
        for name, form in self._forms.items():
            form.show(self.provider_options.get(name, {}))

    def _enabled(self, button: widgets.Button) -> bool:
        return bool(self.priority)

    # --- actions ------------------------------------------------------------------------------

    def _main(self) -> SweepResult:
        return self._benchmark()

    def _benchmark(self) -> SweepResult:
        configs = [self._config(p, fallback=True) for p in self._priority()]
        kwargs = {"providers": configs, **self._sweep_kwargs(), **self._session_kwargs()}
        self._step("benchmarking")
        result = sweep(self.model, self.feeds, **kwargs, progress=self._progress)
        args = ["model", *(["feeds"] if self.feeds is not None else [])]
        self._record(call("sweep", "onnxkit.sweep", *args,
                          **{k: self._expr(v) for k, v in kwargs.items()}), "", fresh=True)
        return result

    def _placement(self) -> NodePlacement:
        chain = [self._config(p, fallback=False) for p in self._priority()]
        kwargs: dict[str, Any] = {"providers": chain}
        if self.opt_level != "all":
            kwargs["opt_level"] = self.opt_level
        self._step("placing nodes")
        result = placement(self.model, self.feeds, **kwargs)
        args = ["model", *(["feeds"] if self.feeds is not None else [])]
        self._record(call("placement", "onnxkit.placement", *args,
                          **{k: self._expr(v) for k, v in kwargs.items()}), "")
        return result

    # --- kernel arguments ---------------------------------------------------------------------

    def _priority(self) -> list[str]:
        if not self.priority:
            raise ParameterError("ProviderPanel: the priority list is empty; add at least one "
                                 f"provider (available: {', '.join(self._available)}).")
        return list(self.priority)

    def _config(self, provider: str, *, fallback: bool) -> Any:
        """``"cpu"``, ``("openvino", {...})``, or with ``fallback`` ``[that, "cpu"]``."""
        options = self.provider_options.get(provider)
        spec: Any = (provider, dict(options)) if options else provider
        if not fallback or provider == "cpu":
            return spec
        return [spec, "cpu"]

    def _sweep_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if self.threads:
            kwargs["threads"] = list(self.threads)
        if self.batch:
            kwargs["batch"] = list(self.batch)
        kwargs["duration"] = self.duration
        if self.io_binding:
            kwargs["io_binding"] = True
        return kwargs

    def _session_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if self.opt_level != "all":
            kwargs["opt_level"] = self.opt_level
        options: dict[str, Any] = {}
        if self.execution_mode != "sequential":
            options["execution_mode"] = self.execution_mode
        if self.inter_threads:
            options["inter_op_num_threads"] = self.inter_threads
        if options:
            kwargs["options"] = options
        return kwargs

    def _preamble(self) -> list[str]:
        lines = [f"model = {self._expr(self.model)}"]
        if self.feeds is not None:
            lines.append(f"feeds = {self._expr(self.feeds)}")
        return lines


class _IntList:
    """A text box of comma-separated positive integers, kept in step with a list trait."""

    def __init__(self, owner: Panel, trait: str, label: str, placeholder: str):
        self.owner, self.trait = owner, trait
        self.text = widgets.Text(description=label, placeholder=placeholder,
                                 continuous_update=False)
        self.text.observe(self._parse, "value")
        owner.observe(self._show, trait)
        self._show()

    def _parse(self, _: Any = None) -> None:
        try:
            values = [int(v) for v in self.text.value.replace(",", " ").split()]
            if any(v < 1 for v in values):
                raise ValueError
        except ValueError:  # say so, and show the values still in force
            kept = getattr(self.owner, self.trait)
            self.owner.status.value = (f"{self.trait}: {self.text.value!r} is not a list of "
                                       f"positive integers; kept {kept}")
            self._show()
            return
        setattr(self.owner, self.trait, list(dict.fromkeys(values)))

    def _show(self, _: Any = None) -> None:
        self.text.value = ", ".join(map(str, getattr(self.owner, self.trait)))


class _OptionForm:
    """One provider's options as controls built from its :class:`OptionSpec` list.

    Only values that differ from the provider's default are reported, so the code the panel
    prints names just what the user changed.
    """

    def __init__(self, provider: str, available: bool, changed: Any):
        self.provider, self._changed = provider, changed
        self.specs = {s.name: s for s in provider_options(provider)}
        self.controls = {name: _control(spec) for name, spec in self.specs.items()}
        for control in self.controls.values():
            control.disabled = not available
            control.observe(lambda _: self._report(), "value")
        note = [] if available else [widgets.Label(
            f"{provider} is not in this onnxruntime build: these options show what it takes.")]
        self.box = widgets.VBox([*note, *self.controls.values()])
        self._showing = False

    def values(self) -> dict[str, Any]:
        out = {}
        for name, control in self.controls.items():
            value = _value(self.specs[name], control.value)
            if value is not None and value != self.specs[name].default:
                out[name] = value
        return out

    def _report(self) -> None:
        if not self._showing:
            self._changed(self.provider, self.values())

    def show(self, values: Mapping[str, Any]) -> None:
        """Set the controls from ``values`` (the panel's trait), defaults elsewhere."""
        self._showing = True
        try:
            for name, control in self.controls.items():
                spec = self.specs[name]
                control.value = _shown(spec, values.get(name, spec.default))
        finally:
            self._showing = False


def _control(spec: OptionSpec) -> widgets.Widget:
    style = {"description_width": "180px"}
    layout = widgets.Layout(width="420px")
    if spec.kind is bool:
        return widgets.Checkbox(value=bool(spec.default), description=spec.name,
                                tooltip=spec.help, style=style, indent=False)
    if spec.choices:
        options = [("(default)", "")] + [(str(c), str(c)) for c in spec.choices]
        return widgets.Dropdown(options=options, value=_shown(spec, spec.default),
                                description=spec.name, tooltip=spec.help, style=style,
                                layout=layout)
    return widgets.Text(value=_shown(spec, spec.default), description=spec.name,
                        placeholder="(default)", tooltip=spec.help, style=style, layout=layout,
                        continuous_update=False)


def _shown(spec: OptionSpec, value: Any) -> Any:
    if spec.kind is bool:
        return bool(value)
    if spec.choices and value is not None and str(value) not in map(str, spec.choices):
        return ""
    return "" if value is None else str(value)


def _value(spec: OptionSpec, shown: Any) -> Any:
    """The typed value of a control; text that does not parse goes to the kernel as typed,
    so its check names the option and the allowed values."""
    if spec.kind is bool:
        return bool(shown)
    if shown == "":
        return None
    if spec.choices:
        return next((c for c in spec.choices if str(c) == shown), shown)
    try:
        return spec.kind(shown)
    except (TypeError, ValueError):
        return shown
