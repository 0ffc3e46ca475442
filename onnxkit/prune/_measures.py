"""What pruning changes, measured: parameters, FLOPs, compressed size, and the outputs."""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from onnxkit.bench import compare
from onnxkit.models import Model
from onnxkit.runtime import random_inputs, run


def parameters(proto: onnx.ModelProto) -> int:
    """Values in the initializers."""
    return int(sum(np.prod(t.dims, dtype=np.int64) for t in proto.graph.initializer))


def flops(proto: onnx.ModelProto) -> int | None:
    """Multiply-adds x 2 of every Conv, Gemm and MatMul for one sample (a dynamic dim counts
    as 1), from the shapes ONNX shape inference finds; None when it cannot find them all
    (e.g. after contrib-op fusions it does not know)."""
    inferred = onnx.shape_inference.infer_shapes(proto)
    shapes = {v.name: [d.dim_value if d.HasField("dim_value") else 1
                       for d in v.type.tensor_type.shape.dim]
              for v in [*inferred.graph.value_info, *inferred.graph.input,
                        *inferred.graph.output] if v.type.HasField("tensor_type")}
    shapes.update({t.name: list(t.dims) for t in proto.graph.initializer})
    total = 0
    for node in proto.graph.node:
        out = shapes.get(node.output[0])
        if node.op_type in ("Conv", "Gemm", "MatMul") and not out:
            return None
        if node.op_type == "Conv" and out and node.input[1] in shapes:
            w = shapes[node.input[1]]  # [out, in/groups, k...]
            total += 2 * int(np.prod(out)) * int(np.prod(w[1:]))
        elif node.op_type in ("Gemm", "MatMul") and out and node.input[0] in shapes:
            a = shapes[node.input[0]]
            trans_a = any(at.name == "transA" and at.i for at in node.attribute)
            k = a[-2] if trans_a and len(a) >= 2 else a[-1]
            total += 2 * int(np.prod(out)) * int(k)
    return total


def zipped_size(proto: onnx.ModelProto) -> int:
    """Bytes of the model compressed with zlib (what a sparse model saves on disk or in
    transit: ONNX Runtime's CPU kernels still compute with every zero)."""
    return len(zlib.compress(proto.SerializeToString(), 6))


def drift(parent: Model, child: Model) -> dict[str, Any]:
    """How far the child's outputs moved from the parent's on random inputs (pruning changes
    them on purpose: this is a measure, not a pass/fail)."""
    feeds = random_inputs(parent, batch=8, seed=0)
    result = compare(run(parent, feeds), run(child, feeds), rtol=0, atol=0)
    worst = max(result.outputs, key=lambda o: o.max_abs or 0.0)
    return {"max_abs_vs_parent": worst.max_abs, "argmax_agreement_vs_parent":
            worst.argmax_agreement, "runs": True}


def weight_array(proto: onnx.ModelProto, name: str) -> np.ndarray:
    tensor = next(t for t in proto.graph.initializer if t.name == name)
    return numpy_helper.to_array(tensor)


def set_weight(proto: onnx.ModelProto, name: str, array: np.ndarray) -> None:
    for i, tensor in enumerate(proto.graph.initializer):
        if tensor.name == name:
            proto.graph.initializer[i].CopyFrom(numpy_helper.from_array(array, name))
            return
