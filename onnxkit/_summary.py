"""``summarize``: what a model is, read from its proto alone (weights never loaded)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import onnx

from onnxkit import _render
from onnxkit._external import ExternalFile
from onnxkit._model import ModelLike, load
from onnxkit._types import TensorInfo, graph_inputs, graph_outputs

if TYPE_CHECKING:
    import plotly.graph_objects as go


@dataclass(frozen=True)
class ModelSummary:
    """What :func:`summarize` found.

    ``op_counts`` and ``node_count`` include nodes inside subgraphs (If/Loop/Scan bodies).
    ``parameter_count`` is the number of elements of the initializers, plus the float
    coefficients that ai.onnx.ml operators keep in attributes.
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

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["inputs"] = [t.to_dict() for t in self.inputs]
        d["outputs"] = [t.to_dict() for t in self.outputs]
        d["external_data"] = [asdict(f) for f in self.external_data]
        d["functions"] = list(self.functions)
        return d

    def __repr__(self) -> str:
        lines = [
            f"ModelSummary '{self.name}' ({_render.fmt_bytes(self.size_bytes)}, "
            f"{self.node_count} nodes, {_render.fmt_count(self.parameter_count)} parameters)",
            f"  ir {self.ir_version}, opsets {_fmt_opsets(self.opsets)}, "
            f"producer {self.producer or '-'}",
            *(f"  input  {t}" for t in self.inputs),
            *(f"  output {t}" for t in self.outputs),
            "  ops    " + ", ".join(f"{op} x{n}" for op, n in self.op_counts.items()),
        ]
        if self.external_data:
            lines.append("  external data: " + ", ".join(
                f"{f.location} ({_render.fmt_bytes(f.size_bytes)})" for f in self.external_data))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        overview = _render.table(("", ""), [
            ("size", _render.fmt_bytes(self.size_bytes)),
            ("nodes", self.node_count),
            ("parameters", f"{self.parameter_count:,} in {self.initializer_count} initializers"),
            ("IR version", self.ir_version),
            ("opsets", _fmt_opsets(self.opsets)),
            ("producer", self.producer or "-"),
            *((k, v) for k, v in self.metadata.items()),
        ], caption=f"{self.name}")
        io = _render.table(("", "name", "dtype", "shape"), [
            (kind, t.name, t.dtype, "?" if t.shape is None else list(t.shape))
            for kind, ts in (("input", self.inputs), ("output", self.outputs)) for t in ts
        ], caption="inputs and outputs")
        ops = _render.table(("op", "count"), self.op_counts.items(), caption="operators")
        parts = [overview, io, ops]
        if self.external_data:
            parts.append(_render.table(
                ("file", "size"),
                ((f.location, _render.fmt_bytes(f.size_bytes)) for f in self.external_data),
                caption="external data"))
        return "<div style='display:flex;gap:24px;flex-wrap:wrap'>" + "".join(parts) + "</div>"

    def plot(self) -> go.Figure:
        """Operator histogram (plotly bar chart)."""
        import plotly.graph_objects as go

        ops = list(self.op_counts)
        fig = go.Figure(go.Bar(x=[self.op_counts[o] for o in ops], y=ops, orientation="h"))
        fig.update_layout(
            title=f"Operators in {self.name} ({self.node_count} nodes)",
            xaxis_title="count", yaxis={"autorange": "reversed"},
            height=max(250, 22 * len(ops) + 100), margin={"l": 10, "r": 10, "t": 40, "b": 10},
        )
        return fig


def _fmt_opsets(opsets: dict[str, int]) -> str:
    return ", ".join(f"{d} {v}" for d, v in opsets.items())


def summarize(model: ModelLike) -> ModelSummary:
    """Summarize a model without loading its weights: safe and fast on models over 2 GB.

    Examples:
        >>> import onnxkit
        >>> s = onnxkit.summarize(onnxkit.samples.tiny_model())
        >>> s.op_counts, s.parameter_count
        ({'Gemm': 2, 'Relu': 1}, 67)
    """
    handle = load(model)
    proto = handle.proto
    graph = proto.graph
    ops: Counter[str] = Counter()
    count_ops(graph.node, ops)  # a call to a model-local function counts under its name
    initializers = list(graph.initializer)
    params = sum(math.prod(t.dims) for t in initializers)
    params += sum(math.prod(s.dims) for s in graph.sparse_initializer)
    params += _ml_coefficients(graph)
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
        parameter_count=int(params),
        initializer_count=len(initializers) + len(graph.sparse_initializer),
        size_bytes=handle.size_bytes,
        external_data=handle.external_data,
        functions=tuple(f.name for f in proto.functions),
    )


def _ml_coefficients(graph: onnx.GraphProto) -> int:
    """Traditional-ML operators (ai.onnx.ml) keep their coefficients in float attributes."""
    return sum(len(a.floats) for n in graph.node if n.domain == "ai.onnx.ml" for a in n.attribute)


def count_ops(nodes: Iterable[onnx.NodeProto], ops: Counter[str]) -> None:
    """Add the op types of ``nodes`` and of their subgraphs to ``ops``."""
    for node in nodes:
        key = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
        ops[key] += 1
        for attr in node.attribute:
            if attr.HasField("g"):
                count_ops(attr.g.node, ops)
            for g in attr.graphs:
                count_ops(g.node, ops)
