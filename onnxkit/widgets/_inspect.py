"""``InspectPanel``: pick a model, read its summary, see its graph inline or in Netron."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import traitlets

from onnxkit import (
    GraphView,
    Model,
    ModelLike,
    ModelSummary,
    NetronView,
    load,
    samples,
    summarize,
    view,
)
from onnxkit.errors import ParameterError
from onnxkit.widgets._base import Panel, call

SAMPLE = "sample:"  # prefix of a picker value naming a sample builder
_SAMPLES = ("tiny_model", "digits_cnn", "text_transformer", "sklearn_pipeline")


def choices(folder: Path, given: Model | None = None) -> list[tuple[str, str]]:
    """Picker entries ``(label, value)``: the given model, the samples, ``folder/*.onnx``."""
    entries = [(f"{given.name} (given)", str(given.path))] if given is not None else []
    entries += [(f"sample: {name}", SAMPLE + name) for name in _SAMPLES]
    entries += [(f"file: {p.name}", str(p)) for p in sorted(folder.glob("*.onnx"))
                if p.is_file() and (given is None or p != given.path)]
    return entries


class InspectPanel(Panel):
    """Inspect a model: its summary, its graph drawn inline, or Netron on 127.0.0.1.

    Args:
        model: a model to start with (default: the picker starts on the tiny sample).
        folder: where to list ``.onnx`` files for the picker (default: the working folder).

    Buttons: *Summarize* (the main action, :meth:`run`: :func:`onnxkit.summarize`), *Graph*
    (the inline, serverless drawing), *Netron* (serves the model to Netron and shows it; a
    second click replaces the previous server) and *Stop Netron*.

    Examples:
        >>> import onnxkit
        >>> from onnxkit.widgets import InspectPanel
        >>> panel = InspectPanel(onnxkit.samples.tiny_model())
        >>> panel.run().op_counts
        {'Gemm': 2, 'Relu': 1}
        >>> print(panel.to_code().splitlines()[-1])
        summary = onnxkit.summarize(model)
    """

    source = traitlets.Unicode(help="The picked model: 'sample:<builder>' or a file path.")
    model = traitlets.Instance(Model, allow_none=True,
                               help="The model the last action used (None before any).")
    max_nodes = traitlets.Int(GraphView.MAX_NODES, min=1,
                              help="Graph: most boxes drawn before the graph is collapsed.")
    height = traitlets.Int(NetronView.HEIGHT, min=100, help="Netron: height of the view in pixels.")
    netron = traitlets.Instance(NetronView, allow_none=True,
                                help="The Netron view this panel started (None when none).")

    def __init__(self, model: ModelLike | None = None, *,
                 folder: str | os.PathLike[str] | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        given = load(model) if model is not None else None
        self._folder = Path(folder).absolute() if folder is not None else Path.cwd()
        self._loaded: str | None = None  # the source self.model was loaded from
        self._model_code = ""
        options = choices(self._folder, given)
        self.source = options[0][1] if given is not None else SAMPLE + "tiny_model"

        self.picker = widgets.Dropdown(options=options, description="model",
                                       layout=widgets.Layout(width="420px"))
        self.max_nodes_control = widgets.BoundedIntText(min=1, max=10**6, description="max nodes",
                                                        tooltip="graph: boxes before collapsing")
        self.height_control = widgets.BoundedIntText(min=100, max=5000, description="height",
                                                     tooltip="Netron view height (px)")
        for name, control in [("max_nodes", self.max_nodes_control),
                              ("height", self.height_control)]:
            traitlets.link((self, name), (control, "value"))
        self._picking = False  # True while source is copied to the picker
        self.picker.value = self.source
        self.picker.observe(self._picked, "value")
        self.observe(self._show_source, "source")

        self.summarize_button = self._button("Summarize", self._summarize, icon="list",
                                             button_style="primary")
        self.graph_button = self._button("Graph", self._graph, icon="sitemap",
                                         tooltip="Draw the graph here (no server)")
        self.netron_button = self._button("Netron", self._netron, icon="external-link",
                                          tooltip="Serve the model to Netron on 127.0.0.1")
        self.stop_button = self._button("Stop Netron", self._stop, icon="stop-circle")
        self.observe(lambda _: self._sync_buttons(), "netron")
        self._layout(self.picker, widgets.HBox([self.max_nodes_control, self.height_control]))

    def _picked(self, change: dict[str, Any]) -> None:
        if not self._picking:
            self.source = change["new"]

    def _show_source(self, change: dict[str, Any]) -> None:
        """Select ``source`` in the picker, adding it when it is a file not listed yet."""
        self._picking = True  # new options reset the picker's value: not a user's pick
        try:
            if change["new"] not in {value for _, value in self.picker.options}:
                label = f"file: {Path(change['new']).name}"
                self.picker.options = [*self.picker.options, (label, change["new"])]
            self.picker.value = change["new"]
        finally:
            self._picking = False

    def _enabled(self, button: widgets.Button) -> bool:
        if button is self.stop_button:
            return self.netron is not None and self.netron.running
        return True

    # --- actions ----------------------------------------------------------------------------

    def _main(self) -> ModelSummary:
        return self._summarize()

    def _summarize(self) -> ModelSummary:
        model = self._current()
        self._step("summarizing")
        summary = summarize(model)
        self._record(call("summary", "onnxkit.summarize", "model"))
        return summary

    def _graph(self) -> GraphView:
        model = self._current()
        self._step("laying out the graph")
        graph = view(model, backend="inline", max_nodes=self.max_nodes)
        self._record(call("graph", "onnxkit.view", "model", backend="'inline'",
                          max_nodes=repr(self.max_nodes)))
        return graph

    def _netron(self) -> NetronView:
        model = self._current()
        if self.netron is not None and self.netron.running:
            self._stop()
        self._step("starting Netron")
        netron = view(model, height=self.height)
        netron.stop_hint = "<b>Stop Netron</b> ends it"
        self.netron = netron
        self._record(call("netron", "onnxkit.view", "model", height=repr(self.height)))
        return netron

    def _stop(self) -> NetronView:
        if self.netron is None:
            raise ParameterError("InspectPanel: no Netron view to stop; click Netron first.")
        stopped = self.netron
        stopped.stop()
        self._record("netron.stop()")
        self.netron = None
        return stopped

    def close(self) -> None:
        """Close the panel, stopping its Netron server."""
        if self.netron is not None:
            self.netron.stop()
        super().close()

    # --- the model --------------------------------------------------------------------------

    def _current(self) -> Model:
        """The picked model, loaded once per pick (samples are built on first use)."""
        source = self.source
        if source == self._loaded and self.model is not None:
            return self.model
        self._step("loading the model")
        if source.startswith(SAMPLE):
            name = source[len(SAMPLE):]
            if name not in _SAMPLES:
                raise ParameterError(f"InspectPanel: unknown sample {name!r}; the samples are "
                                     f"{', '.join(_SAMPLES)}.")
            built = getattr(samples, name)()
            model = built if isinstance(built, Model) else built.model
            code = f"model = onnxkit.samples.{name}()" + ("" if built is model else ".model")
        else:
            model = load(source)
            code = f"model = {self._expr(model)}"
        self._record(fresh=True)  # another model: the recorded code starts again
        self.model, self._loaded, self._model_code = model, source, code
        return model

    def _preamble(self) -> list[str]:
        return [self._model_code] if self._model_code else []
