"""``TunePanel``: the search for the fastest model within an accuracy budget, drawn live."""

from __future__ import annotations

import json
from typing import Any

import ipywidgets as widgets
import traitlets

from onnxkit import Model, ModelLike, load, quantize
from onnxkit.errors import ParameterError
from onnxkit.widgets._base import Panel, call


class TunePanel(Panel):
    """Tune ``model`` on ``data`` (:func:`onnxkit.quantize.tune`): *Preflight* says whether
    int8 can be fast on this CPU and where the search starts; *Tune* (the main action,
    :meth:`run`) tries recipes until ``budget_s``, drawing each candidate as it is measured
    (speedup against score, the budget as a line); Cancel stops it with the best so far.
    ``to_code()`` prints the search and the call that rebuilds the winner.

    Examples:
        >>> import onnxkit
        >>> from onnxkit.widgets import TunePanel
        >>> s = onnxkit.samples.digits_cnn()
        >>> panel = TunePanel(s.model, s.inputs["image"], s.labels)
        >>> panel.run_preflight().start
        'static-qdq'
    """

    model = traitlets.Instance(Model, read_only=True, help="The float model to tune.")
    data = traitlets.Any(None, read_only=True, help="Evaluation inputs (rows are samples).")
    labels = traitlets.Any(None, allow_none=True, read_only=True,
                           help="True classes of the rows of data (None: max_error budget).")
    max_accuracy_drop = traitlets.Float(0.01, min=0.0, help="Most accuracy lost (0.01 = one "
                                        "point); with labels.")
    max_error = traitlets.Float(0.05, min=0.0, help="Largest max abs error vs float; without "
                                "labels.")
    budget_s = traitlets.Float(120.0, min=1.0, help="Seconds for the whole search.")
    tuning = traitlets.Instance(quantize.TuningResult, allow_none=True,
                                help="The last search's result.")

    def __init__(self, model: ModelLike, data: Any, labels: Any = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.set_trait("model", load(model))
        self.set_trait("data", data)
        self.set_trait("labels", labels)
        self.drop_control = widgets.BoundedFloatText(min=0, max=1, step=0.005,
                                                     description="max drop")
        self.error_control = widgets.BoundedFloatText(min=0, max=1e6, description="max error")
        self.budget_control = widgets.BoundedFloatText(min=1, max=86_400, description="budget s")
        for name, control in [("max_accuracy_drop", self.drop_control),
                              ("max_error", self.error_control),
                              ("budget_s", self.budget_control)]:
            traitlets.link((self, name), (control, "value"))
        (self.error_control if labels is not None else self.drop_control).disabled = True
        self.trail = widgets.Output()
        self.preflight_button = self._button("Preflight", self.run_preflight, icon="plane")
        self.tune_button = self._button("Tune", self._tune, icon="search",
                                        button_style="primary")
        self._layout(widgets.HBox([self.drop_control, self.error_control,
                                   self.budget_control]), self.trail)

    def _main(self) -> quantize.TuningResult:
        return self._tune()

    def _enabled(self, button: widgets.Button) -> bool:
        return button is not self.tune_button or self.data is not None

    def _hint(self) -> str:
        if self.data is None:
            return ("Tune needs data to measure accuracy or error on: "
                    "Workbench(model, data=..., labels=...) or TunePanel(model, data, labels).")
        return "" if self.labels is not None else \
            "No labels: the budget is a max abs error vs the float model."

    def run_preflight(self) -> quantize.Preflight:
        """Whether int8 can be fast here, and the recipe the search starts from."""
        self._step("checking the CPU and the model")
        checks = quantize.preflight(self.model)
        self._record(call("checks", "onnxkit.quantize.preflight", "model"), "")
        return checks

    def _tune(self) -> quantize.TuningResult:
        if self.data is None:
            raise ParameterError("TunePanel: no data to tune on; pass data=... (rows are "
                                 "samples) and labels=... for an accuracy budget.")
        budget: dict[str, Any] = ({"max_accuracy_drop": self.max_accuracy_drop}
                                  if self.labels is not None
                                  else {"max_error": self.max_error})
        self._step("searching")
        result = quantize.tune(self.model, self.data, labels=self.labels, **budget,
                               budget_s=self.budget_s, progress=self._progress,
                               on_candidate=self._draw)
        args = {"labels": "labels"} if self.labels is not None else {}
        lines = [call("tuning", "onnxkit.quantize.tune", "model", "data", **args,
                      **{k: repr(v) for k, v in budget.items()},
                      budget_s=repr(self.budget_s))]
        if result.winner is not None:
            if result.winner.recipe.startswith("static"):  # what tune calibrated on
                lines.append("calibration = {k: v[:128] for k, v in data.items()}"
                             if isinstance(self.data, dict) else "calibration = data[:128]")
            lines.append(f"best = {result.winner.code}")
        self._record(*lines, "")
        self.tuning = result
        self.made = result.best
        return result

    def _draw(self, so_far: quantize.TuningResult) -> None:
        """A candidate was measured: redraw the trail (the budget line, the best so far)."""
        import plotly.io as pio

        figure = so_far.plot()
        figure.update_layout(title=f"{len(so_far.candidates)} candidate(s) so far: "
                                   f"{so_far.why}", height=360)
        self.trail.outputs = ({"output_type": "display_data", "metadata": {}, "data": {
            "application/vnd.plotly.v1+json": json.loads(pio.to_json(figure)),
            "text/plain": f"{len(so_far.candidates)} candidates"}},)

    def _preamble(self) -> list[str]:
        lines = [f"model = {self._expr(self.model)}", f"data = {self._expr(self.data)}"]
        if self.labels is not None:
            lines.append(f"labels = {self._expr(self.labels)}")
        return lines
