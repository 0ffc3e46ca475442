"""``magnitude``: the smallest weights of MatMul, Gemm and Conv set to zero."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Literal

import numpy as np
import onnx

from onnxkit.base import Params
from onnxkit.errors import UnsupportedModelError
from onnxkit.models import Model, ModelLike, load, workspace
from onnxkit.prune import _measures as measures
from onnxkit.transforms import derive, loadable

WEIGHT_OPS = ("MatMul", "Gemm", "Conv")  # their input 1 is the weight
MIN_WEIGHTS = 16  # smaller tensors (a bias-like vector) are left alone


def magnitude(model: ModelLike, sparsity: float = 0.5, *,
              scope: Literal["tensor", "global"] = "tensor",
              exclude: Sequence[str] | None = None) -> Model:
    """Zero the ``sparsity`` share of smallest-magnitude weights of every MatMul, Gemm and
    Conv (per weight tensor, or one threshold over all of them with ``scope="global"``).

    What it buys is size *once compressed* (the zeros compress away: ``zipped_bytes`` in the
    lineage), not speed: ONNX Runtime's CPU kernels are dense and multiply every zero. The
    lineage records the sparsity reached, the compressed sizes before and after, and how far
    the outputs moved on random inputs.

    Args:
        exclude: node or weight names to leave dense (e.g. the first and last layers).

    Examples:
        >>> import onnxkit
        >>> pruned = onnxkit.prune.magnitude(onnxkit.samples.digits_cnn().model, 0.5)
        >>> round(pruned.lineage[-1].details["sparsity"], 2)
        0.5
    """
    arg = Params("prune.magnitude")
    arg.number(sparsity, "sparsity", low=0, high=1, low_open=True)
    arg.one_of(scope, ("tensor", "global"), "scope")
    parent = load(model)
    proto = parent.to_proto()
    names = _weights(proto, set(exclude or ()))
    if not names:
        raise UnsupportedModelError(f"prune.magnitude: '{parent.name}' has no MatMul, Gemm or "
                                    f"Conv weight of {MIN_WEIGHTS}+ values to prune.")
    weights = {n: measures.weight_array(proto, n) for n in names}
    cut = (np.quantile(np.concatenate([np.abs(w).ravel() for w in weights.values()]), sparsity)
           if scope == "global" else None)
    zeros = total = 0
    for name, w in weights.items():
        threshold = cut if cut is not None else np.quantile(np.abs(w), sparsity)
        pruned = np.where(np.abs(w) <= threshold, 0, w).astype(w.dtype)
        measures.set_weight(proto, name, pruned)
        zeros, total = zeros + int(np.sum(pruned == 0)), total + pruned.size
    details = {"sparsity": zeros / total, "tensors": len(names), "scope": scope,
               "zipped_bytes": [measures.zipped_size(parent.to_proto()),
                                measures.zipped_size(proto)],
               "note": "ONNX Runtime's CPU kernels are dense: the zeros save size once "
                       "compressed, not time"}
    child = derive(parent, proto, op="prune.magnitude", tag=f"sparse{round(sparsity * 100)}",
                   params={"sparsity": sparsity, "scope": scope, "exclude": list(exclude or [])},
                   details=details)
    child = loadable(child, "prune.magnitude", "Exclude the layer that fails.")
    return workspace().annotate(child, **measures.drift(parent, child))


def _weights(proto: onnx.ModelProto, exclude: set[str]) -> list[str]:
    """Float initializers that are the weight of a MatMul/Gemm/Conv and of nothing else."""
    floats = {t.name for t in proto.graph.initializer
              if t.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16,
                                 onnx.TensorProto.DOUBLE)
              and int(np.prod(t.dims)) >= MIN_WEIGHTS}
    uses = Counter(i for n in proto.graph.node for i in n.input)
    return sorted({n.input[1] for n in proto.graph.node
                   if n.op_type in WEIGHT_OPS and len(n.input) > 1 and n.input[1] in floats
                   and uses[n.input[1]] == 1 and n.name not in exclude
                   and n.input[1] not in exclude})
