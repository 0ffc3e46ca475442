"""The own route's attention fused into one ``GroupQueryAttention`` node a layer, as the model
builder writes it: the exported graph's attention (split of the packed QKV projection, heads
reshaped and transposed, the cache concatenated, the mask built from ``attention_mask``,
scaled scores, softmax, the product with V) becomes ORT's fused kernel reading the packed
projection and the cache, which can then share its buffers between steps (the engine's
``capacity``): no cache concatenated per step, and ~200 fewer nodes per step on GPT-2.

ORT's own transformer optimizer does not apply to these graphs (its GPT-2 fusions expect the
older TorchScript export's ``past_{i}`` tensors, and crash on the dynamo export); so this
matches the one pattern of a multi-head attention with a packed QKV projection (GPT-2's
``c_attn``) and leaves every other graph as it was.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper, numpy_helper

PAST, PRESENT = "past_key_values.", "present."


@dataclass
class _Layer:
    packed: str  # the packed QKV projection, [batch, sequence, 3 * hidden]
    past_key: str
    past_value: str
    out: str  # the name the attention's output had ([batch, sequence, heads, head])
    scale: float
    drop: list[onnx.NodeProto]  # the cache concatenations and the output's transpose


def fuse_attention(proto: onnx.ModelProto) -> int:
    """Fuse every layer's attention of ``proto`` (in place) when all of them match the
    pattern; the count of layers fused (0: the graph is unchanged)."""
    graph = proto.graph
    pasts = [i for i in graph.input if i.name.startswith(PAST)]
    if not pasts:
        return 0
    dims = pasts[0].type.tensor_type.shape.dim
    heads = dims[1].dim_value if len(dims) == 4 else 0
    if not heads:
        return 0
    producer = {o: n for n in graph.node for o in n.output}
    consumers: dict[str, list[onnx.NodeProto]] = defaultdict(list)
    for n in graph.node:
        for i in n.input:
            consumers[i].append(n)
    constants = _constants(graph)
    layers = []
    for key in (i.name for i in pasts if i.name.endswith(".key")):
        stem = key[len(PAST):-len(".key")]
        found = _match(stem, producer, consumers, constants)
        if found is None:
            return 0
        layers.append(found)
    _rewrite(proto, layers, heads)
    return len(layers)


def _match(stem: str, producer: dict[str, onnx.NodeProto],
           consumers: dict[str, list[onnx.NodeProto]], constants: dict[str, np.ndarray]
           ) -> _Layer | None:
    past_key, past_value = f"{PAST}{stem}.key", f"{PAST}{stem}.value"
    cat_k, cat_v = producer.get(f"{PRESENT}{stem}.key"), producer.get(f"{PRESENT}{stem}.value")
    if not (_is(cat_k, "Concat") and _is(cat_v, "Concat")) or \
            list(cat_k.input)[:1] != [past_key] or list(cat_v.input)[:1] != [past_value]:
        return None
    split_k, split_v = _head_source(cat_k.input[1], producer), \
        _head_source(cat_v.input[1], producer)
    if split_k is None or split_v is None or split_k[0] is not split_v[0]:
        return None
    split = split_k[0]
    if (split_k[1], split_v[1]) != (1, 2) or len(split.output) != 3 or \
            _attr(split, "axis", 0) not in (-1, 2):
        return None
    if len(split.input) > 1 and split.input[1]:
        sizes = constants.get(split.input[1])
        if sizes is None or len(set(sizes.tolist())) != 1:
            return None
    # scores = (q @ k^T) * scale: the key cache's transpose feeds the MatMul, then the Mul
    scale = _scale(f"{PRESENT}{stem}.key", consumers, constants)
    # out = softmax(...) @ v, transposed back to [batch, sequence, heads, head]
    product = [n for n in consumers[f"{PRESENT}{stem}.value"] if _is(n, "MatMul")]
    after = consumers[product[0].output[0]] if len(product) == 1 else []
    if scale is None or len(after) != 1 or not _is(after[0], "Transpose") or \
            _attr(after[0], "perm", []) != [0, 2, 1, 3]:
        return None
    return _Layer(split.input[0], past_key, past_value, after[0].output[0], scale,
                  [cat_k, cat_v, after[0]])


def _head_source(name: str, producer: dict[str, onnx.NodeProto]
                 ) -> tuple[onnx.NodeProto, int] | None:
    """The Split (and its output's index) whose slice was reshaped to heads and transposed."""
    transpose = producer.get(name)
    if not _is(transpose, "Transpose") or _attr(transpose, "perm", []) != [0, 2, 1, 3]:
        return None
    reshape = producer.get(transpose.input[0])
    split = producer.get(reshape.input[0]) if _is(reshape, "Reshape") else None
    if not _is(split, "Split"):
        return None
    return split, list(split.output).index(reshape.input[0])


def _scale(key: str, consumers: dict[str, list[onnx.NodeProto]],
           constants: dict[str, np.ndarray]) -> float | None:
    transposed = [n for n in consumers[key] if _is(n, "Transpose")]
    if len(transposed) != 1:
        return None
    scores = consumers[transposed[0].output[0]]
    if len(scores) != 1 or not _is(scores[0], "MatMul"):
        return None
    scaled = consumers[scores[0].output[0]]
    if len(scaled) != 1 or scaled[0].op_type not in ("Mul", "Div"):
        return None
    factor = next((constants[i] for i in scaled[0].input if i in constants), None)
    if factor is None or factor.size != 1:
        return None
    value = float(factor.reshape(()))
    return value if scaled[0].op_type == "Mul" else 1.0 / value


def _rewrite(proto: onnx.ModelProto, layers: list[_Layer], heads: int) -> None:
    graph = proto.graph
    drop = {id(n) for layer in layers for n in layer.drop}
    at = {id(layer.drop[-1]): layer for layer in layers}
    lengths = [
        helper.make_node("ReduceSum", ["attention_mask", "gqa_axis_1"], ["gqa_real"],
                         keepdims=0),
        helper.make_node("Sub", ["gqa_real", "gqa_one"], ["gqa_last"]),
        helper.make_node("Cast", ["gqa_last"], ["gqa_seqlens_k"], to=onnx.TensorProto.INT32),
        helper.make_node("Shape", ["attention_mask"], ["gqa_shape"]),
        helper.make_node("Gather", ["gqa_shape", "gqa_index_1"], ["gqa_total64"], axis=0),
        helper.make_node("Cast", ["gqa_total64"], ["gqa_total"], to=onnx.TensorProto.INT32)]
    graph.initializer.extend([
        numpy_helper.from_array(np.array([1], np.int64), "gqa_axis_1"),
        numpy_helper.from_array(np.array(1, np.int64), "gqa_one"),
        numpy_helper.from_array(np.array(1, np.int64), "gqa_index_1")])
    nodes = list(lengths)
    for node in graph.node:
        if id(node) in at:
            layer = at[id(node)]
            stem = layer.past_key[len(PAST):-len(".key")]
            nodes.append(helper.make_node(
                "GroupQueryAttention",
                [layer.packed, "", "", layer.past_key, layer.past_value, "gqa_seqlens_k",
                 "gqa_total"],
                [layer.out, f"{PRESENT}{stem}.key", f"{PRESENT}{stem}.value"],
                name=f"gqa_{stem}", domain="com.microsoft", num_heads=heads,
                kv_num_heads=heads, scale=layer.scale))
        elif id(node) not in drop:
            nodes.append(node)
    renamed = {layer.out for layer in layers}
    shapes = {v.name: v for v in graph.value_info}
    kept = [v for v in graph.value_info if v.name not in renamed]
    for layer in layers:  # the output is [batch, sequence, hidden], the packed one's third
        dims = _dims(shapes.get(layer.packed))
        if len(dims) == 3 and isinstance(dims[2], int):
            kept.append(helper.make_tensor_value_info(
                layer.out, shapes[layer.packed].type.tensor_type.elem_type,
                [dims[0], dims[1], dims[2] // 3]))
    del graph.value_info[:]
    graph.value_info.extend(kept)
    del graph.node[:]
    graph.node.extend(_live(nodes, [o.name for o in graph.output]))
    used = {i for n in graph.node for i in n.input}
    kept_init = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept_init)
    if not any(o.domain == "com.microsoft" for o in proto.opset_import):
        proto.opset_import.append(helper.make_opsetid("com.microsoft", 1))


def _live(nodes: list[onnx.NodeProto], outputs: list[str]) -> list[onnx.NodeProto]:
    """The nodes that some graph output depends on, in their order."""
    needed, live = set(outputs), []
    for node in reversed(nodes):
        if any(o in needed for o in node.output):
            live.append(node)
            needed.update(i for i in node.input if i)
    return live[::-1]


def _constants(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    found = {t.name: numpy_helper.to_array(t) for t in graph.initializer
             if np.prod(t.dims) <= 16}
    for n in graph.node:
        if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value":
            found[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    return found


def _is(node: onnx.NodeProto | None, op: str) -> bool:
    return node is not None and node.op_type == op and node.domain in ("", "ai.onnx")


def _attr(node: onnx.NodeProto, name: str, default: object) -> object:
    found = next((a for a in node.attribute if a.name == name), None)
    return default if found is None else helper.get_attribute_value(found)


def drop_matmul_reshapes(proto: onnx.ModelProto) -> int:
    """Remove, in place, the Reshapes that flatten a ``[batch, sequence, K]`` activation to 2-D
    around a MatMul or MatMulNBits (and its bias Add) and restore the leading dims after it:
    both ops take the 3-D activation as it is. Read from the graph's shape annotations (the
    export's symbolic dims), the pair must restore exactly the dims it flattened. The count of
    products rewritten."""
    graph = proto.graph
    shapes = {v.name: _dims(v) for v in graph.value_info}
    producer = {o: n for n in graph.node for o in n.output}
    consumers: dict[str, list[onnx.NodeProto]] = defaultdict(list)
    for n in graph.node:
        for i in n.input:
            consumers[i].append(n)
    outputs, constants = {o.name for o in graph.output}, _constants(graph)
    dropped, renamed, count = set(), set(), 0
    for node in graph.node:
        if node.op_type not in ("MatMul", "MatMulNBits") or node.input[0] in outputs:
            continue
        flatten = producer.get(node.input[0])
        if not _is(flatten, "Reshape"):
            continue
        source = shapes.get(flatten.input[0], [])
        last = node  # the product, or the bias Add after it
        after = consumers[node.output[0]]
        if len(after) == 1 and _is(after[0], "Add") and any(
                i in constants and constants[i].ndim == 1 for i in after[0].input):
            last, after = after[0], consumers[after[0].output[0]]
        if len(after) != 1 or not _is(after[0], "Reshape") or node.output[0] in outputs or \
                last.output[0] in outputs:
            continue
        restored = shapes.get(after[0].output[0], [])
        if len(source) != 3 or len(restored) != 3 or source[:2] != restored[:2] or \
                not all(isinstance(d, str) and d or isinstance(d, int) and d > 0
                        for d in source[:2]):
            continue
        renamed.update({node.output[0], last.output[0]})
        node.input[0] = flatten.input[0]
        if last is not node:  # the product's own name is kept, now 3-D
            last.output[0] = after[0].output[0]
        else:
            node.output[0] = after[0].output[0]
        dropped.add(id(after[0]))
        count += 1
    if count:
        kept = [v for v in graph.value_info if v.name not in renamed]
        del graph.value_info[:]
        graph.value_info.extend(kept)
        nodes = [n for n in graph.node if id(n) not in dropped]
        del graph.node[:]
        graph.node.extend(_live(nodes, [o.name for o in graph.output]))
    return count


def _dims(value: onnx.ValueInfoProto | None) -> list[int | str]:
    if value is None or not value.type.tensor_type.HasField("shape"):
        return []
    return [d.dim_param if d.HasField("dim_param") else d.dim_value
            for d in value.type.tensor_type.shape.dim]
