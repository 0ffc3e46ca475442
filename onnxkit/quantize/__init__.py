"""Quantization: int8 dynamic and static (calibrated, QDQ or QOperator), int4/int8 weight-only,
per-layer error debugging, a side-by-side assessment against the float model, and
:func:`tune`: the fastest model within an accuracy budget (after a :func:`preflight` that says
whether int8 can be fast on this CPU).

Every function pre-processes the model once (:func:`prepare`: folding, basic optimization,
shape inference with fallbacks) and records what it did in the result's lineage.
"""

from onnxkit.base import publish as _publish
from onnxkit.errors import Cancelled
from onnxkit.quantize._assess import AssessedModel, QuantAssessment, assess
from onnxkit.quantize._debug import LayerError, LayerErrors, debug
from onnxkit.quantize._preflight import Preflight, preflight
from onnxkit.quantize._quantize import (
    FORMATS,
    METHODS,
    MODES,
    Format,
    Method,
    Mode,
    dynamic,
    prepare,
    static,
)
from onnxkit.quantize._trail import Candidate, TuningResult
from onnxkit.quantize._tune import tune
from onnxkit.quantize._weight_only import weight_only

__all__ = ["dynamic", "static", "weight_only", "prepare", "debug", "LayerErrors", "LayerError",
           "assess", "QuantAssessment", "AssessedModel", "Cancelled", "METHODS", "FORMATS",
           "MODES", "Method", "Format", "Mode", "tune", "TuningResult", "Candidate",
           "preflight", "Preflight"]

_publish(globals(), __name__, __all__)
