"""``structured``: whole output channels removed, with the matching inputs of the next layer,
so the graph computes on smaller tensors and runs faster for real.

A *group* is a producer (Conv with group 1, Gemm, or MatMul, with a constant weight) whose
output flows through channel-preserving ops (BatchNormalization, activations, pooling,
Dropout, and a Flatten after a Conv) into exactly one consumer of the same kinds. Anything
else on the way — a residual Add, a Concat, a second consumer, a model output — would need
channels kept aligned across branches: that group is left whole and the lineage says why.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import onnx
from onnx import helper

from onnxkit.base import Params
from onnxkit.errors import UnsupportedModelError
from onnxkit.models import Model, ModelLike, load, workspace
from onnxkit.prune import _measures as measures
from onnxkit.transforms import derive, loadable

# ops that keep the channel axis as it is (BatchNormalization's parameters are sliced too)
_PRESERVING = {"Relu", "LeakyRelu", "PRelu", "Clip", "Sigmoid", "Tanh", "Gelu", "Elu", "Selu",
               "HardSigmoid", "HardSwish", "Softplus", "Mish", "MaxPool", "AveragePool",
               "Dropout", "Identity", "BatchNormalization"}


_ELEMENTWISE = {"Add", "Sub", "Mul", "Div", "BiasGelu"}
# element by element: a fan-out of them that merges back (GELU written with Erf) keeps channels
_POINTWISE = {"Add", "Sub", "Mul", "Div", "Pow", "Erf", "Relu", "Sigmoid", "Tanh", "Sqrt",
              "Neg", "Abs", "Exp", "Log", "Softplus", "Gelu", "Identity", "BiasGelu"}


@dataclass
class _Group:
    producer: onnx.NodeProto
    consumer: onnx.NodeProto
    chain: list[onnx.NodeProto] = field(default_factory=list)
    spread: int = 1  # features per channel after a Flatten (the spatial size)


def structured(model: ModelLike, ratio: float = 0.25, *,
               criterion: Literal["l1", "l2"] = "l1",
               exclude: Sequence[str] | None = None, multiple_of: int = 16) -> Model:
    """Remove the ``ratio`` share of output channels with the smallest weight norm from every
    prunable Conv/Gemm/MatMul, and the matching input channels of the layer they feed.

    No fine-tuning is done: accuracy drops with the ratio (measure it, e.g. in a
    :class:`~onnxkit.Study`). The lineage records each group pruned (channels before and
    after), each group left whole and why, parameters and FLOPs before and after, and how far
    the outputs moved on random inputs.

    Args:
        criterion: the channel norm, ``"l1"`` (sum of absolute weights) or ``"l2"``.
        exclude: names of producer nodes to leave whole.
        multiple_of: the channels kept are rounded to a multiple of this (where a layer has
            more), so ONNX Runtime's blocked CPU kernels (8 channels a block with AVX2, 16 with
            AVX-512) stay aligned: on the digits CNN, 24 channels of 32 ran slower (0.85x)
            than all 32. 1 keeps the exact ratio.

    Raises:
        UnsupportedModelError: no group can be pruned (the message lists why for each).

    Examples:
        >>> import onnxkit
        >>> cnn = onnxkit.samples.digits_cnn().model
        >>> pruned = onnxkit.prune.structured(cnn, 0.25)
        >>> d = pruned.lineage[-1].details
        >>> d["params"][1] < d["params"][0], d["flops"][1] < d["flops"][0]
        (True, True)
    """
    arg = Params("prune.structured")
    arg.number(ratio, "ratio", low=0, high=1, low_open=True)
    arg.one_of(criterion, ("l1", "l2"), "criterion")
    arg.integer(multiple_of, "multiple_of", high=1024)
    parent = load(model)
    proto = parent.to_proto()
    groups, refused = find_groups(proto, set(exclude or ()))
    if not groups:
        raise UnsupportedModelError(
            f"prune.structured: no group of '{parent.name}' can be pruned without breaking "
            f"channel alignment: " + "; ".join(f"{k}: {v}" for k, v in refused.items())[:800])
    pruned = {}
    for group in groups:
        kept = _keep(proto, group.producer, ratio, criterion, multiple_of)
        channels = _out_channels(proto, group.producer)
        if len(kept) == channels:
            refused[group.producer.name or group.producer.output[0]] = (
                f"{channels} channels: none to remove at ratio {ratio:g} in multiples of "
                f"{multiple_of}")
            continue
        _apply(proto, group, kept)
        pruned[group.producer.name or group.producer.output[0]] = [channels, len(kept)]
    if not pruned:
        raise UnsupportedModelError(
            f"prune.structured: at ratio {ratio:g} no layer of '{parent.name}' loses a whole "
            f"block of {multiple_of} channels. Raise the ratio, or pass multiple_of=1.")
    del proto.graph.value_info[:]  # shapes changed: inferred again by whoever needs them
    before = parent.to_proto()
    details = {"pruned": pruned, "left_whole": refused, "criterion": criterion,
               "params": [measures.parameters(before), measures.parameters(proto)],
               "flops": [measures.flops(before), measures.flops(proto)],
               "note": "no fine-tuning: accuracy drops with the ratio"}
    child = derive(parent, proto, op="prune.structured", tag=f"pruned{round(ratio * 100)}",
                   params={"ratio": ratio, "criterion": criterion,
                           "exclude": list(exclude or []), "multiple_of": multiple_of},
                   details=details)
    child = loadable(child, "prune.structured", "Exclude the group that fails.")
    return workspace().annotate(child, **measures.drift(parent, child))


def find_groups(proto: onnx.ModelProto, exclude: set[str] | None = None
                ) -> tuple[list[_Group], dict[str, str]]:
    """The prunable groups, and ``{producer: why not}`` for the others."""
    graph = proto.graph
    consumers: dict[str, list[onnx.NodeProto]] = defaultdict(list)
    for node in graph.node:
        for name in node.input:
            consumers[name].append(node)
    outputs = {o.name for o in graph.output}
    groups, refused, claimed = [], {}, set()
    for node in graph.node:
        if not _is_layer(proto, node, consumers) or node.name in (exclude or set()):
            continue
        group_or_why = _follow(proto, node, consumers, outputs)
        label = node.name or node.output[0]
        if isinstance(group_or_why, str):
            refused[label] = group_or_why
        elif id(group_or_why.consumer) in claimed:
            refused[label] = "its consumer is already pruned as a producer's partner"
        else:
            claimed.add(id(group_or_why.consumer))
            groups.append(group_or_why)
    return groups, refused


def _is_layer(proto: onnx.ModelProto, node: onnx.NodeProto,
              consumers: dict[str, list[onnx.NodeProto]]) -> bool:
    """A Conv (group 1), Gemm (no transA) or 2-D MatMul whose weight is an initializer used by
    this node only."""
    if node.op_type not in ("Conv", "Gemm", "MatMul") or len(node.input) < 2:
        return False
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if attrs.get("group", 1) != 1 or attrs.get("transA", 0):
        return False
    weights = {t.name: t for t in proto.graph.initializer}
    w = weights.get(node.input[1])
    if w is None or len(consumers[node.input[1]]) != 1:
        return False
    return node.op_type != "MatMul" or len(w.dims) == 2


def _follow(proto: onnx.ModelProto, producer: onnx.NodeProto,
            consumers: dict[str, list[onnx.NodeProto]], outputs: set[str]) -> _Group | str:
    group = _Group(producer, producer)
    value = producer.output[0]
    while True:
        if value in outputs:
            return "its channels are a model output"
        users = consumers[value]
        if len(users) > 1:
            region = (_pointwise_region(proto, value, consumers)
                      if producer.op_type != "Conv" else None)
            if region is None:
                kinds = sorted({u.op_type for u in users})
                return f"its output feeds {len(users)} nodes ({', '.join(kinds)}): a branch " \
                       "whose channels must stay aligned"
            group.chain.extend(region[0])
            value = region[1]
            continue
        user = users[0]
        if _bias_op(proto, user, value, consumers, vectors=producer.op_type != "Conv"):
            group.chain.append(user)
            value = user.output[0]
            continue
        if user.input[0] != value:
            return f"it reaches {user.op_type} on a side input"
        if user.op_type in _PRESERVING and _params_private(proto, user, consumers):
            group.chain.append(user)
        elif user.op_type == "Flatten" and producer.op_type == "Conv" and group.spread == 1:
            spread = _spatial_size(proto, value)
            if spread is None:
                return "a Flatten after it whose spatial size is unknown"
            group.spread = spread
            group.chain.append(user)
        elif user.op_type in ("Conv", "Gemm", "MatMul") and _is_layer(proto, user, consumers):
            group.consumer = user
            return group
        else:
            return f"it reaches {user.op_type}, which mixes channels"
        value = user.output[0]


def _bias_op(proto: onnx.ModelProto, node: onnx.NodeProto, value: str,
             consumers: dict[str, list[onnx.NodeProto]], *, vectors: bool) -> bool:
    """An Add/Sub/Mul/Div (or BiasGelu) of ``value`` with a constant scalar or, when the
    channels are the last axis (``vectors``), a per-channel vector; used by this node only."""
    if node.op_type not in _ELEMENTWISE or len(node.input) != 2 or value not in node.input:
        return False
    other = node.input[1] if node.input[0] == value else node.input[0]
    weights = {t.name: t for t in proto.graph.initializer}
    constant = weights.get(other)
    size = int(np.prod(constant.dims)) if constant is not None else 0
    return (constant is not None and len(consumers[other]) == 1 and len(constant.dims) <= 1
            and (size == 1 or vectors))


def _pointwise_region(proto: onnx.ModelProto, value: str,
                      consumers: dict[str, list[onnx.NodeProto]]
                      ) -> tuple[list[onnx.NodeProto], str] | None:
    """The pointwise nodes computed from ``value`` and constants alone (GELU written out with
    Erf fans out and merges back), and the one tensor that leaves them; None otherwise."""
    constants = _initializers(proto) | {o for n in proto.graph.node
                                        if n.op_type == "Constant" for o in n.output}
    inside, made = [], {value}
    for node in proto.graph.node:  # in topological order
        if node.op_type in _POINTWISE and any(i in made for i in node.input) and \
                all(i in made or i in constants for i in node.input):
            inside.append(node)
            made.update(node.output)
    if not inside or any(c not in inside for c in consumers[value]):
        return None
    graph_outputs = {o.name for o in proto.graph.output}
    leaving = [t for n in inside for t in n.output
               if t in graph_outputs or any(c not in inside for c in consumers[t])]
    if len(leaving) != 1 or any(len(consumers[i]) != 1 for n in inside for i in n.input
                                if _vector_constant(proto, i)):
        return None
    return inside, leaving[0]


def _vector_constant(proto: onnx.ModelProto, name: str) -> bool:
    return any(t.name == name and int(np.prod(t.dims)) > 1 for t in proto.graph.initializer)


def _params_private(proto: onnx.ModelProto, node: onnx.NodeProto,
                    consumers: dict[str, list[onnx.NodeProto]]) -> bool:
    if node.op_type != "BatchNormalization":
        return True
    weights = {t.name for t in proto.graph.initializer}
    return all(p in weights and len(consumers[p]) == 1 for p in node.input[1:5])


def _spatial_size(proto: onnx.ModelProto, value: str) -> int | None:
    inferred = onnx.shape_inference.infer_shapes(proto)
    for info in inferred.graph.value_info:
        if info.name == value:
            dims = info.type.tensor_type.shape.dim[2:]
            if all(d.HasField("dim_value") for d in dims):
                return int(np.prod([d.dim_value for d in dims]))
    return None


def _out_axis(node: onnx.NodeProto) -> int:
    """The output-channel axis of a layer's weight."""
    if node.op_type == "Conv":
        return 0
    if node.op_type == "Gemm":
        trans_b = any(a.name == "transB" and a.i for a in node.attribute)
        return 0 if trans_b else 1
    return 1  # MatMul: [in, out]


def _out_channels(proto: onnx.ModelProto, node: onnx.NodeProto) -> int:
    return int(measures.weight_array(proto, node.input[1]).shape[_out_axis(node)])


def _keep(proto: onnx.ModelProto, node: onnx.NodeProto, ratio: float, criterion: str,
          multiple_of: int) -> np.ndarray:
    w = measures.weight_array(proto, node.input[1]).astype(np.float64)
    axis = _out_axis(node)
    rows = np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)
    norms = np.abs(rows).sum(1) if criterion == "l1" else np.sqrt((rows ** 2).sum(1))
    keep = max(1, round(len(norms) * (1 - ratio)))
    if len(norms) > multiple_of:  # whole blocks of channels, at least one
        keep = max(multiple_of, round(keep / multiple_of) * multiple_of)
    return np.sort(np.argsort(-norms, kind="stable")[:keep])


def _initializers(proto: onnx.ModelProto) -> set[str]:
    return {t.name for t in proto.graph.initializer}


def _take(proto: onnx.ModelProto, name: str, index: np.ndarray, axis: int) -> None:
    measures.set_weight(proto, name, np.take(measures.weight_array(proto, name), index,
                                             axis=axis))


def _apply(proto: onnx.ModelProto, group: _Group, kept: np.ndarray) -> None:
    producer, consumer = group.producer, group.consumer
    _take(proto, producer.input[1], kept, _out_axis(producer))
    if len(producer.input) > 2 and producer.input[2]:
        bias = measures.weight_array(proto, producer.input[2])
        if bias.ndim == 1 and bias.shape[0] > 1:
            _take(proto, producer.input[2], kept, 0)
    for node in group.chain:
        if node.op_type == "BatchNormalization":
            for param in node.input[1:5]:
                _take(proto, param, kept, 0)
        elif node.op_type in _POINTWISE:
            for constant in (i for i in node.input if _vector_constant(proto, i)):
                _take(proto, constant, kept, 0)
        elif node.op_type == "PRelu" and len(node.input) > 1:
            slope = measures.weight_array(proto, node.input[1])
            if slope.size > 1:
                _take(proto, node.input[1], kept, 0)
    rows = (kept[:, None] * group.spread + np.arange(group.spread)).ravel()
    in_axis = 1 if consumer.op_type == "Conv" else 1 - _out_axis(consumer)
    _take(proto, consumer.input[1], rows, in_axis)
