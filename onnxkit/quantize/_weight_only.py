"""``weight_only``: MatMul weights in 4 or 8 bits per block (``MatMulNBits``), for LLM-style
models. Exporters write many linear layers as ``Gemm`` (GPT-2's Conv1D, classifier heads);
those with a constant weight are rewritten as MatMul (+ Add for the bias) first, so they are
quantized too, and every MatMul/Gemm left in float is listed with the reason."""

from __future__ import annotations

from typing import Literal

import numpy as np
import onnx
from onnx import helper, numpy_helper

from onnxkit.errors import ParameterError, UnsupportedModelError
from onnxkit.models import Model, ModelLike, load, workspace
from onnxkit.quantize._quantize import _tag, quiet, refuse_quantized
from onnxkit.transforms import derive


def weight_only(model: ModelLike, *, bits: Literal[4, 8] = 4, block_size: int = 32,
                symmetric: bool = True, accuracy_level: Literal[0, 1, 2, 3, 4] = 4) -> Model:
    """MatMul weights in 4 (or 8) bits, per block, as ``MatMulNBits``: for LLM-style models.

    Linear layers with a constant weight are quantized, whether written as MatMul or as Gemm
    (rewritten as MatMul + Add first); activations stay float. The lineage records how many
    were quantized, how many Gemms were rewritten, and each layer left in float and why
    (``details["skipped"]``: e.g. attention's q @ k, whose both sides are activations).

    ``accuracy_level`` is MatMulNBits' compute type: 4 (the default) multiplies in int8 on
    CPU, which is where weight-only int4 gets its speed; 0 keeps float activations (slower,
    a little closer to the float model).
    """
    with quiet():  # importing it reconfigures the root logger
        from onnxruntime.quantization.matmul_nbits_quantizer import (
            DefaultWeightOnlyQuantConfig,
            MatMulNBitsQuantizer,
        )

    if bits not in (4, 8):
        raise ParameterError(f"weight_only(bits=...) must be 4 or 8; got {bits!r}.")
    if not isinstance(block_size, int) or block_size < 16 or block_size & (block_size - 1):
        raise ParameterError(f"weight_only(block_size=...) must be a power of two >= 16 "
                             f"(32, 64, 128...); got {block_size!r}.")
    if accuracy_level not in (0, 1, 2, 3, 4):
        raise ParameterError(f"weight_only(accuracy_level=...) must be 0, 1, 2, 3 or 4; got "
                             f"{accuracy_level!r}. Fix: 4 (int8 compute) unless accuracy needs 0.")
    parent = load(model)
    refuse_quantized(parent)
    proto = parent.to_proto()
    rewritten = gemms_as_matmuls(proto)
    constants = {t.name for t in proto.graph.initializer}
    matmuls = [n for n in proto.graph.node if n.op_type == "MatMul" and n.input[1] in constants]
    skipped = _left_in_float(proto, constants)
    if not matmuls:
        ops = sorted({n.op_type for n in proto.graph.node})
        raise UnsupportedModelError(
            f"weight_only quantizes MatMul/Gemm layers with constant weights, and "
            f"'{parent.name}' has none (its ops: {', '.join(ops)}; left in float: "
            f"{_first(skipped)}). Use onnxkit.quantize.dynamic or .static.")
    config = DefaultWeightOnlyQuantConfig(block_size=block_size, is_symmetric=symmetric,
                                          bits=bits, accuracy_level=accuracy_level)
    with quiet():
        quantizer = MatMulNBitsQuantizer(proto, bits=bits, block_size=block_size,
                                         is_symmetric=symmetric, accuracy_level=accuracy_level,
                                         algo_config=config)
        quantizer.process()
    result = quantizer.model.model
    packed = sum(n.op_type == "MatMulNBits" for n in result.graph.node)
    params = {"bits": bits, "block_size": block_size, "symmetric": symmetric,
              "accuracy_level": accuracy_level}
    tag = _tag(f"int{bits}-b{block_size}", params, {"bits", "block_size"},
               {"symmetric": True, "accuracy_level": 4})
    child = derive(parent, result, op="quantize.weight_only", tag=tag, params=params,
                   details={"matmuls": len(matmuls), "quantized": packed,
                            "gemms_rewritten": rewritten, "skipped": skipped})
    return workspace().annotate(child, size_ratio=child.size_bytes / parent.size_bytes)


def gemms_as_matmuls(proto: onnx.ModelProto) -> int:
    """Rewrite, in place, each Gemm with a constant weight (``alpha == 1``, no ``transA``,
    ``beta == 1`` when it has a bias) as MatMul with the weight laid out ``[in, out]`` (+ Add
    of the bias). Returns how many were rewritten."""
    graph = proto.graph
    initializers = {t.name: t for t in graph.initializer}
    nodes, count = [], 0
    for node in graph.node:
        if node.op_type != "Gemm" or _gemm_blocker(node, initializers) is not None:
            nodes.append(node)
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        weight = numpy_helper.to_array(initializers[node.input[1]])
        if attrs.get("transB", 0):
            weight = np.ascontiguousarray(weight.T)
        weight_name = f"{node.input[1]}__as_matmul"
        if weight_name not in initializers:
            initializers[weight_name] = numpy_helper.from_array(weight, weight_name)
            graph.initializer.append(initializers[weight_name])
        name = node.name or f"gemm_{count}"
        has_bias = len(node.input) > 2 and node.input[2]
        product = f"{node.output[0]}__matmul" if has_bias else node.output[0]
        nodes.append(helper.make_node("MatMul", [node.input[0], weight_name], [product],
                                      name=f"{name}_MatMul"))
        if has_bias:
            nodes.append(helper.make_node("Add", [product, node.input[2]], [node.output[0]],
                                          name=f"{name}_Add"))
        count += 1
    del graph.node[:]
    graph.node.extend(nodes)
    return count


def _gemm_blocker(node: onnx.NodeProto, initializers: dict[str, onnx.TensorProto]
                  ) -> str | None:
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if node.input[1] not in initializers:
        return "its weight is computed, not a constant"
    if attrs.get("transA", 0) or attrs.get("alpha", 1.0) != 1.0:
        return "transA or alpha != 1"
    if len(node.input) > 2 and node.input[2] and attrs.get("beta", 1.0) != 1.0:
        return "beta != 1"
    return None


def _left_in_float(proto: onnx.ModelProto, constants: set[str]) -> dict[str, str]:
    """``{node: why}`` for the MatMul and Gemm nodes that will stay float."""
    initializers = {t.name: t for t in proto.graph.initializer}
    out = {}
    for i, node in enumerate(proto.graph.node):
        name = node.name or f"{node.op_type}_{i}"
        if node.op_type == "MatMul" and node.input[1] not in constants:
            out[name] = "both inputs are activations (e.g. attention's q @ k or p @ v)"
        elif node.op_type == "Gemm":
            out[name] = f"Gemm kept: {_gemm_blocker(node, initializers)}"
    return out


def _first(skipped: dict[str, str], n: int = 3) -> str:
    items = [f"{k} ({v})" for k, v in list(skipped.items())[:n]]
    more = f" and {len(skipped) - n} more" if len(skipped) > n else ""
    return (", ".join(items) + more) if items else "nothing"
