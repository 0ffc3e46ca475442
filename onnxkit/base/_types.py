"""ONNX type information in plain terms: numpy dtype names and shapes with symbolic dims."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx

from onnxkit.results import Result

Dim = int | str  # a fixed size, a symbolic name, or "?" when unknown
Shape = tuple[Dim, ...]

UNKNOWN_DIM = "?"


@dataclass(frozen=True)
class TensorInfo(Result):
    """A graph input or output: ``dtype`` is a numpy-style name; ``shape`` is None if the rank
    is unknown."""

    name: str
    dtype: str
    shape: Shape | None

    @property
    def is_tensor(self) -> bool:
        return not self.dtype.startswith(("seq(", "map(", "optional(", "sparse"))

    def __str__(self) -> str:
        shape = "[" + ", ".join(map(str, self.shape)) + "]" if self.shape is not None else "[...]"
        return f"{self.name}: {self.dtype}{shape}"


def elem_type_name(elem_type: int) -> str:
    """ONNX element type -> numpy-style name (``1`` -> ``'float32'``)."""
    if elem_type == onnx.TensorProto.STRING:
        return "string"
    if elem_type == onnx.TensorProto.BFLOAT16:
        return "bfloat16"
    try:
        return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem_type)).name
    except (KeyError, TypeError, ValueError):
        return onnx.TensorProto.DataType.Name(elem_type).lower()


def numpy_dtype(dtype_name: str) -> np.dtype:
    """Numpy dtype for a name from :func:`elem_type_name` (strings become ``object``)."""
    if dtype_name == "string":
        return np.dtype(object)
    try:
        return np.dtype(dtype_name)
    except TypeError:  # bfloat16 and float8 types live in ml_dtypes (an onnx dependency)
        import ml_dtypes

        return np.dtype(getattr(ml_dtypes, dtype_name))


def _shape_of(tensor_type: onnx.TypeProto.Tensor) -> Shape | None:
    if not tensor_type.HasField("shape"):
        return None
    dims: list[Dim] = []
    for d in tensor_type.shape.dim:
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        elif d.HasField("dim_param") and d.dim_param:
            dims.append(d.dim_param)
        else:
            dims.append(UNKNOWN_DIM)
    return tuple(dims)


def type_name(tp: onnx.TypeProto) -> str:
    """A readable name for any ONNX type, e.g. ``float32`` or ``seq(float32)``."""
    kind = tp.WhichOneof("value")
    if kind == "tensor_type":
        return elem_type_name(tp.tensor_type.elem_type)
    if kind == "sparse_tensor_type":
        return f"sparse({elem_type_name(tp.sparse_tensor_type.elem_type)})"
    if kind == "sequence_type":
        return f"seq({type_name(tp.sequence_type.elem_type)})"
    if kind == "map_type":
        return f"map({elem_type_name(tp.map_type.key_type)}, {type_name(tp.map_type.value_type)})"
    if kind == "optional_type":
        return f"optional({type_name(tp.optional_type.elem_type)})"
    return "unknown"


def tensor_info(value: onnx.ValueInfoProto) -> TensorInfo:
    tp = value.type
    shape = _shape_of(tp.tensor_type) if tp.WhichOneof("value") == "tensor_type" else None
    return TensorInfo(name=value.name, dtype=type_name(tp), shape=shape)


def graph_inputs(graph: onnx.GraphProto) -> tuple[TensorInfo, ...]:
    """Real inputs: older models also list their initializers as inputs, which are not fed."""
    initializers = {t.name for t in graph.initializer}
    return tuple(tensor_info(v) for v in graph.input if v.name not in initializers)


def graph_outputs(graph: onnx.GraphProto) -> tuple[TensorInfo, ...]:
    return tuple(tensor_info(v) for v in graph.output)
