"""Attention in an ONNX graph, as the exporters write it: whether there is any, and its
geometry (hidden size, number of heads) for onnxruntime.transformers' fusions.

Attention is ``softmax(q @ k^T * scale [+ mask]) @ v``. TorchScript exports and eager
attention feed the Softmax straight into the MatMul with ``v``; torch.export (dynamo) of
scaled-dot-product attention puts a NaN guard between them (``Where(IsNaN(p), 0, p)``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

import numpy as np
import onnx
from onnx import numpy_helper

from onnxkit.models import ModelLike, load

# ops that may stand between attention's Softmax and its MatMul with v
_PASS_THROUGH = {"IsNaN", "Where", "Cast", "Dropout", "Identity"}
# ops that may stand between the scores MatMul and the Softmax (mask, scale)
_SCORE_OPS = {"Add", "Mul", "Div", "Where"}


def has_attention(model: ModelLike) -> bool:
    """Whether :func:`fuse_transformer` has something to fuse: attention's signature, a
    Softmax whose output feeds a MatMul (directly, or through a NaN guard as dynamo writes
    it: Softmax → IsNaN/Where → MatMul).

    Examples:
        >>> import onnxkit
        >>> from onnxkit.transforms import has_attention
        >>> has_attention(onnxkit.samples.tiny_model())
        False
    """
    graph = load(model).proto.graph
    return any(True for _ in _attention_softmaxes(graph))


def attention_geometry(model: ModelLike) -> tuple[int | None, int | None]:
    """``(num_heads, hidden_size)`` read from the graph, each None when it cannot be told.

    The hidden size is the length of the first LayerNormalization's scale; the head size
    comes from the scores' scale factor (``1/sqrt(head_size)``, written as a Mul or Div on
    the scores, or split as ``head_size**-0.25`` on both q and k).

    Examples:
        >>> import onnxkit
        >>> from onnxkit.transforms import attention_geometry
        >>> attention_geometry(onnxkit.samples.tiny_model())
        (None, None)
    """
    graph = load(model).proto.graph
    hidden = _hidden_size(graph)
    scales = {s for sm in _attention_softmaxes(graph) if (s := _score_scale(graph, sm))}
    if hidden is None or len(scales) != 1:
        return None, hidden
    head_size = round(1 / scales.pop() ** 2)
    if head_size < 1 or hidden % head_size:
        return None, hidden
    return hidden // head_size, hidden


def _attention_softmaxes(graph: onnx.GraphProto) -> Iterator[onnx.NodeProto]:
    consumers = _consumers(graph)
    for node in graph.node:
        if node.op_type != "Softmax":
            continue
        frontier, seen = list(node.output), set[int]()
        for _ in range(3):  # Softmax, up to two guard ops, MatMul
            nexts = [c for out in frontier for c in consumers[out] if id(c) not in seen]
            if any(c.op_type == "MatMul" for c in nexts):
                yield node
                break
            seen.update(id(c) for c in nexts)
            frontier = [o for c in nexts if c.op_type in _PASS_THROUGH for o in c.output]


def _consumers(graph: onnx.GraphProto) -> dict[str, list[onnx.NodeProto]]:
    out: dict[str, list[onnx.NodeProto]] = defaultdict(list)
    for node in graph.node:
        for name in node.input:
            out[name].append(node)
    return out


def _hidden_size(graph: onnx.GraphProto) -> int | None:
    initializers = {t.name: t for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "LayerNormalization" and len(node.input) > 1:
            scale = initializers.get(node.input[1])
            if scale is not None and len(scale.dims) == 1:
                return int(scale.dims[0])
    return None


def _score_scale(graph: onnx.GraphProto, softmax: onnx.NodeProto) -> float | None:
    """The product of scalar factors applied to q @ k^T on its way to the Softmax."""
    producers = {o: n for n in graph.node for o in n.output}
    scale, node = 1.0, producers.get(softmax.input[0])
    while node is not None and node.op_type in _SCORE_OPS:
        factor = _scalar_factor(graph, node, producers)
        scale *= factor if factor is not None else 1.0
        node = producers.get(_data_input(node, producers))
    if node is None or node.op_type != "MatMul":
        return None
    for side in node.input:  # dynamo splits the scale over q and k
        pre = producers.get(side)
        if pre is not None and pre.op_type in ("Mul", "Div"):
            factor = _scalar_factor(graph, pre, producers)
            scale *= factor if factor is not None else 1.0
    return scale if scale != 1.0 else None


def _data_input(node: onnx.NodeProto, producers: dict[str, onnx.NodeProto]) -> str:
    """The input that carries the scores (Where: the 'else' branch holds them, or the first
    input whose producer is not a constant)."""
    if node.op_type == "Where":
        return node.input[2]
    computed = [i for i in node.input
                if i in producers and producers[i].op_type not in ("Constant",)]
    return computed[0] if computed else node.input[0]


def _scalar_factor(graph: onnx.GraphProto, node: onnx.NodeProto,
                   producers: dict[str, onnx.NodeProto]) -> float | None:
    if node.op_type not in ("Mul", "Div"):
        return None
    for name in node.input[1:] if node.op_type == "Div" else node.input:
        value = _constant(graph, name, producers)
        if value is not None and value.size == 1:
            v = float(value.reshape(()))
            return 1 / v if node.op_type == "Div" and v else v
    return None


def _constant(graph: onnx.GraphProto, name: str, producers: dict[str, onnx.NodeProto]
              ) -> np.ndarray | None:
    for t in graph.initializer:
        if t.name == name:
            return numpy_helper.to_array(t)
    node = producers.get(name)
    if node is not None and node.op_type == "Constant":
        for attr in node.attribute:
            if attr.name == "value":
                return numpy_helper.to_array(attr.t)
            if attr.name == "value_float":
                return np.asarray(attr.f)
    return None
