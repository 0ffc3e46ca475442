"""``QuantizePanel``: quantize a model, see it beside the float model, debug and exclude layers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ipywidgets as widgets
import numpy as np
import traitlets

from onnxkit import Model, ModelLike, load, quantize, random_inputs
from onnxkit.errors import ParameterError
from onnxkit.widgets._base import Panel, call

CANDIDATES = 10  # worst layers offered for exclusion after Debug
RANDOM_BATCH = 8  # rows of random inputs used for the assessment without calibration data
# How each of quantize.MODES reads in the mode menu.
_MODE_LABELS = {"dynamic": "dynamic int8", "static": "static int8 (calibrated)",
                "int4": "int4 weight-only"}
_MODES = [(_MODE_LABELS[m], m) for m in quantize.MODES]


class QuantizePanel(Panel):
    """Quantize ``model`` (dynamic, static or int4) and assess it against the float model.

    Args:
        model: the float model.
        calibration: sample inputs: one array (single-input models; rows are samples) or a
            dict of arrays by input name. Needed for static mode; also the data of the
            assessment (random inputs otherwise).
        labels: true classes of ``calibration``'s rows, for accuracy in the assessment.

    Buttons: *Quantize* (the main action, :meth:`run`), *Debug* (per-layer errors of a static
    QDQ result; fills the exclusion list with the worst layers) and *Re-quantize* (again, with
    the selected layers kept in float, assessed beside the previous result).

    Examples:
        >>> import onnxkit
        >>> from onnxkit.widgets import QuantizePanel
        >>> panel = QuantizePanel(onnxkit.samples.tiny_model())  # no data: dynamic mode
        >>> [row.name for row in panel.run().rows]
        ['tiny', 'tiny.int8-dynamic']
        >>> for line in panel.to_code().splitlines()[-2:]:
        ...     print(line)
        quantized = onnxkit.quantize.dynamic(model, per_channel=False)
        assessment = onnxkit.quantize.assess(model, [quantized], data)
    """

    model = traitlets.Instance(Model, read_only=True, help="The float model.")
    calibration = traitlets.Any(None, allow_none=True, read_only=True,
                                help="Calibration / assessment inputs (array or dict of arrays).")
    labels = traitlets.Any(None, allow_none=True, read_only=True,
                           help="True classes of the calibration rows, for accuracy.")
    mode = traitlets.Enum([v for _, v in _MODES], "static",
                          help="dynamic int8, static int8 (calibrated) or int4 weight-only.")
    method = traitlets.Enum(quantize.METHODS, "minmax",
                            help="Static: how activation ranges are chosen.")
    format = traitlets.Enum(quantize.FORMATS, "qdq",
                            help="Static: QDQ pairs or QOperator (QLinear*) ops.")
    per_channel = traitlets.Bool(True, help="Dynamic/static: one scale per output channel "
                                 "(follows the kernel's default when the mode changes).")
    samples = traitlets.Int(0, min=0, help="Static: calibration rows to use (0: all).")
    candidates = traitlets.List(traitlets.Unicode(),
                                help="Worst layers (node names) found by the last Debug.")
    exclude = traitlets.List(traitlets.Unicode(),
                             help="Layers to keep in float when re-quantizing.")
    quantized = traitlets.Instance(Model, allow_none=True,
                                   help="The last quantized model (None before Quantize).")

    def __init__(self, model: ModelLike, calibration: np.ndarray | Mapping[str, np.ndarray]
                 | None = None, labels: np.ndarray | None = None, **kwargs: Any):
        if labels is not None and calibration is None:
            raise ParameterError("QuantizePanel(labels=...) are the classes of the calibration "
                                 "rows; got labels but calibration=None. Pass both.")
        super().__init__(**kwargs)
        self.set_trait("model", load(model))
        self.set_trait("calibration", calibration)
        self.set_trait("labels", None if labels is None else np.asarray(labels))
        # Each mode starts from the kernel's defaults (per-channel: static yes, dynamic no).
        self.observe(lambda change: setattr(self, "per_channel", change.new == "static"), "mode")
        if calibration is None:
            self.mode = "dynamic"

        self.mode_control = widgets.Dropdown(options=_MODES, description="mode")
        self.method_control = widgets.Dropdown(options=quantize.METHODS, description="method")
        self.format_control = widgets.Dropdown(options=quantize.FORMATS, description="format")
        self.per_channel_control = widgets.Checkbox(description="per channel")
        self.samples_control = widgets.BoundedIntText(min=0, max=10**9,
                                                      description="samples (0: all)",
                                                      tooltip="calibration rows (0: all)")
        self.exclusions = widgets.SelectMultiple(options=[], description="exclude", rows=6)
        for name, control, attr in [("mode", self.mode_control, "value"),
                                    ("method", self.method_control, "value"),
                                    ("format", self.format_control, "value"),
                                    ("per_channel", self.per_channel_control, "value"),
                                    ("samples", self.samples_control, "value"),
                                    ("candidates", self.exclusions, "options"),
                                    ("exclude", self.exclusions, "value")]:
            traitlets.link((self, name), (control, attr))
        self.hint = widgets.Label("")

        self.quantize_button = self._button("Quantize", self._quantize, icon="play",
                                            button_style="primary")
        self.debug_button = self._button("Debug", self._debug, icon="search",
                                         tooltip="Per-layer error (static QDQ results)")
        self.requantize_button = self._button("Re-quantize with exclusions", self._requantize,
                                              icon="refresh",
                                              layout=widgets.Layout(width="auto"))
        self.observe(lambda _: self._sync(), ["mode", "exclude", "candidates", "quantized"])
        self._layout(widgets.HBox([self.mode_control, self.per_channel_control]),
                     widgets.HBox([self.method_control, self.format_control]),
                     self.samples_control, self.exclusions, self.hint)
        self._sync()

    # --- state ------------------------------------------------------------------------------

    def _sync(self) -> None:
        static = self.mode == "static"
        for control in (self.method_control, self.format_control, self.samples_control):
            control.disabled = not static
        self.per_channel_control.disabled = self.mode == "int4"
        self.exclusions.disabled = self.mode == "int4" or not self.candidates
        if static and self.calibration is None:
            self.hint.value = ("static quantization needs calibration data: "
                               "QuantizePanel(model, calibration=...)")
        elif self.candidates and not self.exclude:
            self.hint.value = "select layers to keep in float, then Re-quantize"
        else:
            self.hint.value = ""
        self._sync_buttons()

    def _enabled(self, button: widgets.Button) -> bool:
        ready = self.mode != "static" or self.calibration is not None
        if button is self.quantize_button:
            return ready
        if button is self.debug_button:
            return _static_qdq(self.quantized)
        return ready and self.mode != "int4" and bool(self.exclude)

    # --- actions ----------------------------------------------------------------------------

    def _main(self) -> quantize.QuantAssessment:
        return self._quantize()

    def _quantize(self) -> quantize.QuantAssessment:
        return self._quantize_and_assess(exclude=[], previous=None)

    def _requantize(self) -> quantize.QuantAssessment:
        if not self.exclude:
            raise ParameterError("QuantizePanel: select layers to exclude first (run Debug to "
                                 "list the worst ones).")
        return self._quantize_and_assess(exclude=list(self.exclude), previous=self.quantized)

    def _quantize_and_assess(self, *, exclude: list[str], previous: Model | None
                             ) -> quantize.QuantAssessment:
        mode, calibration = self.mode, self.calibration
        excluded: dict[str, Any] = {"exclude": exclude} if exclude else {}
        if mode == "static":
            if calibration is None:
                raise ParameterError(
                    "QuantizePanel: static quantization needs calibration data; got "
                    "calibration=None. Pass QuantizePanel(model, calibration=<sample inputs>) "
                    "or choose mode 'dynamic' or 'int4'.")
            options = {"method": self.method, "format": self.format,
                       "per_channel": self.per_channel, **self._samples(), **excluded}
            self._step("calibrating and quantizing")
            q = quantize.static(self.model, calibration, **options, progress=self._progress)
        elif mode == "dynamic":
            options = {"per_channel": self.per_channel, **excluded}
            self._step("quantizing")
            q = quantize.dynamic(self.model, **options)
        else:
            options = {"bits": 4}
            self._step("quantizing")
            q = quantize.weight_only(self.model, **options)
        compared = [previous, q] if previous is not None and previous.path != q.path else [q]
        self._step("assessing")
        assessment = quantize.assess(self.model, compared, self._data(), labels=self.labels)

        feeds = "calibration"
        fn, positional = {"static": ("static", ["model", feeds]), "dynamic": ("dynamic", ["model"]),
                          "int4": ("weight_only", ["model"])}[mode]
        both = len(compared) == 2
        code = [*(["previous = quantized"] if both else []),
                call("quantized", f"onnxkit.quantize.{fn}", *positional,
                     **{k: self._expr(v) for k, v in options.items()}),
                call("assessment", "onnxkit.quantize.assess", "model",
                     "[previous, quantized]" if both else "[quantized]",
                     "calibration" if self.calibration is not None else "data",
                     **({"labels": "labels"} if self.labels is not None else {})),
                ""]
        self._record(*code, fresh=not exclude)
        self.quantized = q
        self.made = q
        return assessment

    def _debug(self) -> quantize.LayerErrors:
        if not _static_qdq(self.quantized):
            raise ParameterError("QuantizePanel: Debug needs a static QDQ result; quantize "
                                 "with mode 'static' and format 'qdq' first.")
        assert self.quantized is not None
        self._step("comparing layers")
        errors = quantize.debug(self.model, self.quantized, self.calibration)
        self._record(call("errors", "onnxkit.quantize.debug", "model", "quantized",
                          "calibration"),
                     f"worst = errors.worst({CANDIDATES})", "")
        worst, kept = errors.worst(CANDIDATES), list(self.exclude)
        self.candidates = worst  # new options clear the selection: restore what still applies
        self.exclude = [e for e in kept if e in worst]
        return errors

    # --- inputs -----------------------------------------------------------------------------

    def _samples(self) -> dict[str, int]:
        return {"samples": self.samples} if self.samples else {}

    def _data(self) -> Any:
        if self.calibration is not None:
            return self.calibration
        return random_inputs(self.model, batch=RANDOM_BATCH)

    def _preamble(self) -> list[str]:
        lines = [f"model = {self._expr(self.model)}"]
        if self.calibration is not None:
            lines.append(f"calibration = {self._expr(self.calibration)}")
        else:
            lines.append(f"data = onnxkit.random_inputs(model, batch={RANDOM_BATCH})")
        if self.labels is not None:
            lines.append(f"labels = {self._expr(self.labels)}")
        return lines


def _static_qdq(model: Model | None) -> bool:
    if model is None or not model.lineage:
        return False
    step = model.lineage[-1]
    return step.op == "quantize.static" and step.params.get("format") == "qdq"
