"""Quantization: int8 dynamic and static (calibrated, QDQ or QOperator), int4/int8 weight-only,
per-layer error debugging, and a :func:`preflight` that says whether int8 can be fast on this
CPU. :func:`assess` (a side-by-side assessment against the float model) and :func:`tune` (the
fastest model within an accuracy budget) are read here too, where users look for them; they
compare and search, so they live in :mod:`onnxkit.study`, above quantize, prune and transforms.

Every function pre-processes the model once (:func:`prepare`: folding, basic optimization,
shape inference with fallbacks) and records what it did in the result's lineage.
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from onnxkit.base import publish as _publish
from onnxkit.errors import Cancelled
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
from onnxkit.quantize._weight_only import gemms_as_matmuls, weight_only

if _TYPE_CHECKING:
    from onnxkit.study import AssessedModel, Candidate, QuantAssessment, TuningResult, assess, tune

# Defined in onnxkit.study (a later stage), read here lazily: importing quantize stays cheap
# and circle-free.
_FROM_STUDY = ("assess", "QuantAssessment", "AssessedModel", "tune", "TuningResult",
               "Candidate")

__all__ = ["dynamic", "static", "weight_only", "gemms_as_matmuls", "prepare", "debug",
           "LayerErrors", "LayerError",
           "assess", "QuantAssessment", "AssessedModel", "Cancelled", "METHODS", "FORMATS",
           "MODES", "Method", "Format", "Mode", "tune", "TuningResult", "Candidate",
           "preflight", "Preflight"]

_publish(globals(), __name__, [n for n in __all__ if n not in _FROM_STUDY])


def __getattr__(name: str) -> _Any:
    if name in _FROM_STUDY:
        from onnxkit import study  # the one sanctioned forward (tests/test_layering.py)

        return getattr(study, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_FROM_STUDY})
