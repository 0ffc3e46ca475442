"""The foundation every stage builds on: ONNX type names, parameter checks, optional
dependencies and ONNX Runtime's error messages made readable.

Imports nothing from onnxkit but :mod:`onnxkit.errors` and :mod:`onnxkit.results`.
"""

from onnxkit._publish import front_door_names, publish
from onnxkit.base._cache import cache_key, cached_bytes, user_cache
from onnxkit.base._checks import (
    Params,
    boolean,
    integer,
    invalid,
    message,
    names,
    number,
    one_of,
)
from onnxkit.base._deps import require
from onnxkit.base._ort_errors import clean_ort_message, ort_hint
from onnxkit.base._ray import init_ray, loopback_ray, release_ray
from onnxkit.base._stats import percentile
from onnxkit.base._types import (
    UNKNOWN_DIM,
    Dim,
    Shape,
    TensorInfo,
    elem_type_name,
    graph_inputs,
    graph_outputs,
    numpy_dtype,
    tensor_info,
    type_name,
)

__all__ = [
    "Params", "boolean", "integer", "invalid", "message", "names", "number", "one_of", "require",
    "init_ray", "loopback_ray", "release_ray", "user_cache", "cache_key", "cached_bytes",
    "clean_ort_message", "ort_hint", "front_door_names", "publish", "UNKNOWN_DIM", "Dim",
    "Shape", "TensorInfo", "elem_type_name", "graph_inputs", "graph_outputs", "numpy_dtype",
    "tensor_info", "type_name", "percentile",
]

publish(globals(), "onnxkit", front_door_names(__name__))
