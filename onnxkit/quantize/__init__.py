"""Quantization: int8 dynamic and static (calibrated, QDQ or QOperator), int4/int8 weight-only,
per-layer error debugging, and a side-by-side assessment against the float model.

Every function pre-processes the model once (:func:`prepare`: folding, basic optimization,
shape inference with fallbacks) and records what it did in the result's lineage.
"""

from onnxkit.base import publish as _publish
from onnxkit.errors import Cancelled
from onnxkit.quantize._assess import AssessedModel, QuantAssessment, assess
from onnxkit.quantize._debug import LayerError, LayerErrors, debug
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
from onnxkit.quantize._weight_only import weight_only

__all__ = ["dynamic", "static", "weight_only", "prepare", "debug", "LayerErrors", "LayerError",
           "assess", "QuantAssessment", "AssessedModel", "Cancelled", "METHODS", "FORMATS",
           "MODES", "Method", "Format", "Mode"]

_publish(globals(), __name__, __all__)
