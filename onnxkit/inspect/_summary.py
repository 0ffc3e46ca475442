"""``summarize``: what a model is, read from its proto alone (weights never loaded)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import onnx

from onnxkit.base import UNKNOWN_DIM, TensorInfo, elem_type_name, graph_inputs, graph_outputs
from onnxkit.inspect import _summary_render
from onnxkit.models import ExternalFile, ModelLike, load
from onnxkit.results import Result, fmt_bytes, fmt_count

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

LARGEST = 10  # initializers listed in a summary, biggest first
UNUSED, OUTPUT_ONLY = "(unused)", "(graph output)"  # parameter owners that are not operators
PlotKind = Literal["operators", "parameters"]
TableKind = Literal["operators", "initializers", "io"]


@dataclass(frozen=True)
class InitializerInfo(Result):
    """One stored weight: its size, and the operator that reads it first (``used_by``)."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    elements: int
    size_bytes: int
    used_by: str
    external: str | None  # the external data file holding it, or None when inside the model


@dataclass(frozen=True)
class ModelSummary(Result):
    """What :func:`summarize` found.

    ``op_counts`` and ``node_count`` include nodes inside subgraphs (If/Loop/Scan bodies).
    ``parameter_count`` is the number of elements of the initializers, plus the float
    coefficients that ai.onnx.ml operators keep in attributes. ``parameters_by_op`` splits it
    by the op type that reads each initializer first (``"(unused)"``/``"(graph output)"`` when
    no operator does); ``largest_initializers`` lists the biggest weights.
    """

    name: str
    path: str
    ir_version: int
    opsets: dict[str, int]
    producer: str
    doc_string: str
    metadata: dict[str, str]
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    op_counts: dict[str, int]
    node_count: int
    parameter_count: int
    initializer_count: int
    size_bytes: int
    external_data: tuple[ExternalFile, ...]
    functions: tuple[str, ...]
    parameters_by_op: dict[str, int]
    parameter_bytes: int
    largest_initializers: tuple[InitializerInfo, ...]

    @property
    def symbolic_dims(self) -> tuple[str, ...]:
        """Named dims of the inputs and outputs (``('batch', 'sequence')``), in order."""
        dims = (d for t in (*self.inputs, *self.outputs) for d in (t.shape or ()))
        return tuple(dict.fromkeys(d for d in dims if isinstance(d, str) and d != UNKNOWN_DIM))

    def __repr__(self) -> str:
        lines = [
            f"ModelSummary '{self.name}' ({fmt_bytes(self.size_bytes)}, "
            f"{self.node_count} nodes, {fmt_count(self.parameter_count)} parameters)",
            f"  ir {self.ir_version}, opsets {_fmt_opsets(self.opsets)}, "
            f"producer {self.producer or '-'}",
            *(f"  input  {t}" for t in self.inputs),
            *(f"  output {t}" for t in self.outputs),
            "  ops    " + ", ".join(f"{op} x{n}" for op, n in self.op_counts.items()),
        ]
        if self.external_data:
            lines.append("  external data: " + ", ".join(
                f"{f.location} ({fmt_bytes(f.size_bytes)})" for f in self.external_data))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return _summary_render.html(self)

    def plot(self, kind: PlotKind | None = None) -> go.Figure:
        """Operator histogram beside each op type's share of the parameters (plotly).

        Args:
            kind: ``"operators"`` or ``"parameters"`` for one chart alone (default: both).
        """
        return _summary_render.figure(self, kind)

    def table(self, kind: TableKind | None = None) -> pd.DataFrame:
        """A table as a pandas DataFrame.

        Args:
            kind: ``"operators"`` (default: nodes and parameters per op type),
                ``"initializers"`` (the largest weights) or ``"io"`` (inputs and outputs).
        """
        return _summary_render.dataframe(self, kind)

    def to_dataframe(self, table: TableKind | None = None) -> pd.DataFrame:
        """Deprecated: ``table(kind)`` (this name goes in the next release)."""
        import warnings

        warnings.warn("ModelSummary.to_dataframe(table=...) is deprecated; call "
                      ".table(kind) instead.", DeprecationWarning, stacklevel=2)
        return self.table(table)


def _fmt_opsets(opsets: dict[str, int]) -> str:
    return ", ".join(f"{d} {v}" for d, v in opsets.items())


def summarize(model: ModelLike) -> ModelSummary:
    """Summarize a model without loading its weights: safe and fast on models over 2 GB.

    Examples:
        >>> import onnxkit
        >>> s = onnxkit.summarize(onnxkit.samples.tiny_model())
        >>> s.op_counts, s.parameter_count
        ({'Gemm': 2, 'Relu': 1}, 67)
        >>> s.parameters_by_op, s.symbolic_dims
        ({'Gemm': 67}, ('batch',))
        >>> [(t.name, t.shape, t.used_by) for t in s.largest_initializers[:2]]
        [('w1', (4, 8), 'Gemm'), ('w2', (8, 3), 'Gemm')]
    """
    handle = load(model)
    proto = handle.proto
    graph = proto.graph
    ops: Counter[str] = Counter()
    count_ops(graph.node, ops)  # a call to a model-local function counts under its name
    weights = _initializers(graph)
    by_op = _parameters_by_op(graph, weights)
    return ModelSummary(
        name=handle.name,
        path=str(handle.path),
        ir_version=proto.ir_version,
        opsets={(o.domain or "ai.onnx"): o.version for o in proto.opset_import},
        producer=" ".join(p for p in (proto.producer_name, proto.producer_version) if p),
        doc_string=proto.doc_string,
        metadata={p.key: p.value for p in proto.metadata_props},
        inputs=graph_inputs(graph),
        outputs=graph_outputs(graph),
        op_counts=dict(sorted(ops.items(), key=lambda kv: (-kv[1], kv[0]))),
        node_count=sum(ops.values()),
        parameter_count=sum(by_op.values()),
        initializer_count=len(weights),
        size_bytes=handle.size_bytes,
        external_data=handle.external_data,
        functions=tuple(f.name for f in proto.functions),
        parameters_by_op=dict(sorted(((k, v) for k, v in by_op.items() if v),
                                     key=lambda kv: (-kv[1], kv[0]))),
        parameter_bytes=sum(w.size_bytes for w in weights) + 4 * _ml_coefficients(graph),
        largest_initializers=tuple(
            sorted(weights, key=lambda w: (-w.size_bytes, w.name))[:LARGEST]),
    )


def _ml_coefficients(graph: onnx.GraphProto) -> int:
    """Traditional-ML operators (ai.onnx.ml) keep their coefficients in float attributes."""
    return sum(len(a.floats) for n in graph.node if n.domain == "ai.onnx.ml" for a in n.attribute)


def _parameters_by_op(graph: onnx.GraphProto, weights: list[InitializerInfo]) -> Counter[str]:
    by_op: Counter[str] = Counter()
    for w in weights:
        by_op[w.used_by] += w.elements
    for node in graph.node:
        if node.domain == "ai.onnx.ml":  # coefficients in attributes (float32)
            by_op[op_key(node)] += sum(len(a.floats) for a in node.attribute)
    return by_op


def op_key(node: onnx.NodeProto) -> str:
    """``Conv``, or ``domain.OpType`` outside the default domain."""
    return node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"


def count_ops(nodes: Iterable[onnx.NodeProto], ops: Counter[str]) -> None:
    """Add the op types of ``nodes`` and of their subgraphs to ``ops``."""
    for node in nodes:
        ops[op_key(node)] += 1
        for g in subgraphs(node):
            count_ops(g.node, ops)


def subgraphs(node: onnx.NodeProto) -> list[onnx.GraphProto]:
    """The bodies a node carries (If branches, Loop/Scan bodies)."""
    return [g for a in node.attribute for g in ([a.g] if a.HasField("g") else []) + list(a.graphs)]


def _first_readers(nodes: Iterable[onnx.NodeProto], readers: dict[str, str]) -> dict[str, str]:
    """Value name -> op type of the first node reading it (subgraphs read outer values too)."""
    for node in nodes:
        for name in node.input:
            readers.setdefault(name, op_key(node))
        for g in subgraphs(node):
            _first_readers(g.node, readers)
    return readers


def _initializers(graph: onnx.GraphProto) -> list[InitializerInfo]:
    readers = _first_readers(graph.node, {})
    outputs = {o.name for o in graph.output}
    tensors = [*graph.initializer, *(s.values for s in graph.sparse_initializer)]
    dims = [*(tuple(t.dims) for t in graph.initializer),
            *(tuple(s.dims) for s in graph.sparse_initializer)]
    infos = []
    for tensor, shape in zip(tensors, dims):
        location = {e.key: e.value for e in tensor.external_data}.get("location")
        owner = readers.get(tensor.name, OUTPUT_ONLY if tensor.name in outputs else UNUSED)
        infos.append(InitializerInfo(
            name=tensor.name, dtype=elem_type_name(tensor.data_type), shape=shape,
            elements=math.prod(shape), size_bytes=tensor_bytes(tensor), used_by=owner,
            external=location if tensor.data_location == onnx.TensorProto.EXTERNAL else None))
    return infos


_SUB_BYTE_BITS = {getattr(onnx.TensorProto, name, -1): bits for name, bits in (
    ("INT4", 4), ("UINT4", 4), ("FLOAT4E2M1", 4), ("INT2", 2), ("UINT2", 2))}


def tensor_bytes(tensor: onnx.TensorProto) -> int:
    """Storage size of a tensor's data, from its dims and type (weights need not be loaded)."""
    count = math.prod(tensor.dims)
    if tensor.data_type == onnx.TensorProto.STRING:
        return sum(len(s) for s in tensor.string_data)
    if tensor.data_type in _SUB_BYTE_BITS:
        return (count * _SUB_BYTE_BITS[tensor.data_type] + 7) // 8
    try:
        itemsize = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type)).itemsize
    except (KeyError, TypeError, ValueError):
        itemsize = 1  # an element type numpy cannot name: assume one byte
    return count * itemsize
