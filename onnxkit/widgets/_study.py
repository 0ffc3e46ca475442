"""``StudyPanel``: variants of one model side by side, the Pareto chart, the best under a limit."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

import ipywidgets as widgets
import numpy as np
import traitlets

from onnxkit import Choice, Model, ModelLike, Study, load
from onnxkit.errors import ParameterError
from onnxkit.widgets._base import Panel, call

Data = np.ndarray | Mapping[str, np.ndarray]


def variant_name(model: Model, reference: Model) -> str:
    """A row name: the model's name less the reference's (``tiny.opt-all`` -> ``opt-all``)."""
    prefix = reference.name + "."
    return model.name[len(prefix):] if model.name.startswith(prefix) else model.name


class StudyPanel(Panel):
    """Compare variants of ``reference``: size, latency, memory, error, accuracy; pick the best.

    Args:
        reference: the model the variants are compared with (the study's first row).
        data: evaluation inputs (an array for single-input models, or a dict of arrays; rows
            are samples). Default: random inputs.
        labels: the true class of each row of ``data``: adds accuracy.
        calibration: inputs for the ``int8-static`` recipe of *Auto*.

    Buttons: *Auto* (the main action, :meth:`run`: :meth:`onnxkit.Study.auto` builds and
    measures the usual variants; variants added before are measured again in the new study),
    *Add* (measure the model file in ``source`` as row ``variant_name``; the first Add makes
    the study when *Auto* has not) and *Best* (:meth:`onnxkit.Study.best`: the best variant
    by ``by`` whose accuracy drop is at most ``max_accuracy_drop``, when there are labels).
    :meth:`offer` queues a model to add in the background (what the workbench does with the
    models its panels make). The output area shows the study's table and Pareto chart.

    Examples:
        >>> import onnxkit
        >>> from onnxkit.widgets import StudyPanel
        >>> panel = StudyPanel(onnxkit.samples.tiny_model())
        >>> panel.recipes, panel.rounds, panel.max_rounds = ["ort-basic"], 2, 2
        >>> panel.run().names
        ['reference', 'ort-basic']
        >>> [line.strip() for line in panel.to_code().splitlines()[-5:-1]]
        ["variants=['ort-basic'],", 'rounds=2,', 'max_rounds=2,', 'budget_s=60.0,']
    """

    reference = traitlets.Instance(Model, read_only=True,
                                   help="The model the variants are compared with.")
    data = traitlets.Any(None, allow_none=True, read_only=True,
                         help="Evaluation inputs (None: random inputs).")
    labels = traitlets.Any(None, allow_none=True, read_only=True,
                           help="True classes of the rows of data, for accuracy.")
    calibration = traitlets.Any(None, allow_none=True, read_only=True,
                                help="Auto: calibration inputs for int8 static quantization.")
    recipes = traitlets.List(traitlets.Unicode(), help="Auto: the recipes to try ([]: every "
                             "one that applies).")
    rounds = traitlets.Int(5, min=1, help="Interleaved timing rounds, at least.")
    max_rounds = traitlets.Int(30, min=1, help="Timing rounds at most: rounds are added until "
                               "the fastest variant separates from the reference.")
    budget_s = traitlets.Float(60.0, min=1.0, help="Seconds for Auto (recipes and timing), or "
                               "for timing each Add.")
    runs = traitlets.Int(0, min=0, help="Timed runs of each model per round (0: about 100 ms "
                         "of them).")
    source = traitlets.Unicode("", help="Add: the model file to add.")
    variant_name = traitlets.Unicode("", help="Add: the row's name ('': from the model's name).")
    max_accuracy_drop = traitlets.Float(0.01, min=0.0, help="Best: most accuracy lost vs the "
                                        "reference (0.01 = one point; needs labels).")
    by = traitlets.Enum(Study.BEST_BY, "p50_ms",
                        help="Best: the column to optimize.")
    study = traitlets.Instance(Study, allow_none=True,
                               help="The study (None before Auto or the first Add).")
    best = traitlets.Instance(Choice, allow_none=True,
                              help="What the last Best chose (a variant, or the reference), "
                                   "and why.")

    def __init__(self, reference: ModelLike, *, data: Data | None = None, labels: Any = None,
                 calibration: Data | None = None, **kwargs: Any):
        if labels is not None and data is None:
            raise ParameterError("StudyPanel(labels=...) are the classes of the rows of data; "
                                 "got labels but data=None. Pass both.")
        super().__init__(**kwargs)
        self.set_trait("reference", load(reference))
        self.set_trait("data", data)
        self.set_trait("labels", None if labels is None else np.asarray(labels))
        self.set_trait("calibration", calibration)
        self._added: dict[str, Model] = {}  # rows added (by Add or offer), re-added after Auto
        self._queue: list[tuple[str, Model]] = []
        self._lock = threading.RLock()

        self.recipes_control = widgets.TagsInput(allowed_tags=list(Study.RECIPES),
                                                 allow_duplicates=False)
        self.rounds_control = widgets.BoundedIntText(min=1, max=1000, description="rounds")
        self.max_rounds_control = widgets.BoundedIntText(min=1, max=10_000,
                                                         description="max rounds")
        self.budget_control = widgets.BoundedFloatText(min=1, max=86_400, description="budget s")
        self.runs_control = widgets.BoundedIntText(min=0, max=100_000, description="runs (0: auto)")
        self.source_control = widgets.Combobox(description="model", ensure_option=False,
                                               placeholder="a model file to add")
        self.name_control = widgets.Text(description="name", placeholder="(from the model)")
        self.drop_control = widgets.BoundedFloatText(min=0, max=1, step=0.005,
                                                     description="max drop")
        self.by_control = widgets.Dropdown(options=Study.BEST_BY,
                                           description="best by")
        for name, control in [("recipes", self.recipes_control),
                              ("rounds", self.rounds_control),
                              ("max_rounds", self.max_rounds_control),
                              ("budget_s", self.budget_control), ("runs", self.runs_control),
                              ("source", self.source_control),
                              ("variant_name", self.name_control),
                              ("max_accuracy_drop", self.drop_control),
                              ("by", self.by_control)]:
            traitlets.link((self, name), (control, "value"))
        self.drop_control.disabled = self.labels is None
        self.hint = widgets.Label(
            "" if self.labels is not None else
            "no labels: Best ranks without an accuracy limit" if self.data is not None else
            f"no data: the errors compare outputs on {Study.EVAL_ROWS} rows of random inputs, and "
            "there is no accuracy; pass data=... and labels=... to measure on real inputs")
        self.auto_button = self._button("Auto", self._auto, icon="magic",
                                        button_style="primary",
                                        tooltip="Build and measure the usual variants")
        self.add_button = self._button("Add", self._add, icon="plus",
                                       tooltip="Measure the model file and add it")
        self.best_button = self._button("Best", self._best, icon="trophy")
        self.observe(lambda _: self._sync_buttons(), ["study", "source"])
        self.observe(self._drain, "busy")
        self._layout(widgets.HBox([widgets.Label("recipes"), self.recipes_control]),
                     widgets.HBox([self.rounds_control, self.max_rounds_control,
                                   self.budget_control, self.runs_control]),
                     widgets.HBox([self.source_control, self.name_control]),
                     widgets.HBox([self.drop_control, self.by_control]), self.hint)

    def _enabled(self, button: widgets.Button) -> bool:
        if button is self.add_button:
            return bool(self.source.strip())
        if button is self.best_button:
            return self.study is not None
        return True

    # --- actions ------------------------------------------------------------------------------

    def _main(self) -> Study:
        return self._auto()

    def _auto(self) -> Study:
        kwargs = {**self._inputs(), **({"calibration": self.calibration}
                                       if self.calibration is not None else {})}
        options: dict[str, Any] = {"variants": list(self.recipes)} if self.recipes else {}
        options.update(self._timing())
        self._step("building and measuring the variants")
        study = Study.auto(self.reference, **kwargs, **options, progress=self._progress)
        code = [call("study", "onnxkit.Study.auto", "model", **{k: k for k in kwargs},
                     **{k: repr(v) for k, v in options.items()})]
        again = {}
        for name, model in self._added.items():
            if not _in_study(study, model):
                again[_unique(study, name)] = model
        if again:
            self._step("measuring the variants added before")
            study.add_all(again)
            items = ", ".join(f"{n!r}: {self._expr(m)}" for n, m in again.items())
            code.append(f"study.add_all({{{items}}})")
        self._added = dict(again)
        self._record(*code, "", fresh=True)
        self.best = None
        self.study = study
        return study

    def _timing(self) -> dict[str, Any]:
        options: dict[str, Any] = {"rounds": self.rounds, "max_rounds": self.max_rounds,
                                   "budget_s": self.budget_s}
        return {**options, "runs": self.runs} if self.runs else options

    def _add(self) -> Study:
        if not self.source.strip():
            raise ParameterError("StudyPanel: give the model file to add (source).")
        self._step("loading the model")
        model = load(self.source.strip())
        return self._add_model(self.variant_name.strip() or variant_name(model, self.reference),
                               model)

    def _add_model(self, name: str, model: Model) -> Study:
        study, code = self.study, []
        if study is None:
            self._step("measuring the reference")
            options = self._timing()
            study = Study(self.reference, **self._inputs(), **options)
            code.append(call("study", "onnxkit.Study", "model",
                             **{k: k for k in self._inputs()},
                             **{k: repr(v) for k, v in options.items()}))
        self._step(f"measuring '{name}'")
        study.add(name, model)
        code.append(f"study.add({name!r}, {self._expr(model)})")
        self._added[name] = model
        self._record(*code, "", fresh=self.study is None)
        self.study = study
        return study

    def _best(self) -> Choice:
        study = self.study
        if study is None:
            raise ParameterError("StudyPanel: no study yet; click Auto or Add first.")
        kwargs: dict[str, Any] = {}
        if study.score_name is not None:
            kwargs["max_accuracy_drop"] = self.max_accuracy_drop
        if self.by != "p50_ms":
            kwargs["by"] = self.by
        self._step("choosing")
        best = study.best(**kwargs)
        self._record(call("best", "study.best", **{k: repr(v) for k, v in kwargs.items()}), "")
        self.best = best
        return best

    def accepts(self, model: ModelLike) -> bool:
        """Whether Add can take ``model``: it has the reference's inputs and outputs."""
        return Study.interface_difference(self.reference, model) is None

    # --- background adds ----------------------------------------------------------------------

    def offer(self, model: ModelLike, name: str | None = None) -> None:
        """Add ``model`` to the study in the background, after what is running or queued.

        The row is named ``name`` (default: from the model's name, made unique); a model the
        study already holds (the reference, or the same file) is not added again.
        """
        handle = load(model)
        with self._lock:
            if not self._holds(handle) and all(m.path != handle.path for _, m in self._queue):
                self._queue.append((name or variant_name(handle, self.reference), handle))
        self._drain()

    def _drain(self, _: Any = None) -> None:
        with self._lock:
            if self._queue and not self.busy:
                self.start(self._add_queued)

    def _add_queued(self) -> Study | None:
        with self._lock:
            name, model = self._queue.pop(0)
        if self._holds(model):  # it got there while queued (Auto, Add)
            return self.study
        return self._add_model(name if self.study is None else _unique(self.study, name), model)

    def _holds(self, model: Model) -> bool:
        """Whether the study has ``model`` already (the reference, or a row of that file)."""
        return model.path == self.reference.path or any(
            m.path == model.path for m in self._added.values()) or (
            self.study is not None and _in_study(self.study, model))

    def cancel(self) -> None:
        """Stop the running action and drop the models queued by :meth:`offer`."""
        with self._lock:
            self._queue.clear()
        super().cancel()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the running action and the adds queued behind it."""
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            thread = self._thread
            left = None if end is None else max(0.0, end - time.monotonic())
            if not super().wait(left):
                return False
            if self._thread is thread:  # none started after it
                return True

    # --- inputs -------------------------------------------------------------------------------

    def _inputs(self) -> dict[str, Any]:
        """The data/labels keywords the study is made with (their values, by name)."""
        values = {"data": self.data, "labels": self.labels}
        return {k: v for k, v in values.items() if v is not None}

    def _preamble(self) -> list[str]:
        lines = [f"model = {self._expr(self.reference)}"]
        for name in ("data", "labels", "calibration"):
            value = getattr(self, name)
            if value is not None:
                lines.append(f"{name} = {self._expr(value)}")
        return lines


def _in_study(study: Study, model: Model) -> bool:
    return any(row.model.path == model.path for row in study.rows())


def _unique(study: Study, name: str) -> str:
    taken = {*study.names, Study.REFERENCE}
    if name not in taken:
        return name
    n = 2
    while f"{name}-{n}" in taken:
        n += 1
    return f"{name}-{n}"
