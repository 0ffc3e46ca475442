"""``to_fp16``: halve the weights, keep the model's interface, verify the decisions."""

from __future__ import annotations

from collections.abc import Sequence

import onnx

from onnxkit.errors import ParameterError, UnsupportedModelError
from onnxkit.models import Model, ModelLike, iter_tensors, load
from onnxkit.transforms._derive import derive, op_changes, verified


def to_fp16(model: ModelLike, *, keep_io_types: bool = True,
            op_block_list: Sequence[str] | None = None) -> Model:
    """Convert float32 weights and activations to float16 (onnxruntime.transformers.float16).

    Ops without float16 kernels in ONNX Runtime stay float32 (its default block list, plus
    ``op_block_list``), with casts around them. The result is verified against the float32
    model: within rtol/atol 1e-2, or the same top-1 class for class scores.

    Args:
        keep_io_types: keep float32 inputs and outputs, so callers need not change.
        op_block_list: extra op types to keep in float32.

    Examples:
        >>> import onnxkit
        >>> half = onnxkit.to_fp16(onnxkit.samples.tiny_model())
        >>> half.name, half.proto.graph.initializer[0].data_type == onnx.TensorProto.FLOAT16
        ('tiny.fp16', True)
    """
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    if op_block_list is not None and (isinstance(op_block_list, str) or not all(
            isinstance(op, str) for op in op_block_list)):
        raise ParameterError(f"to_fp16(op_block_list=...) must be a list of op type names, "
                             f"e.g. ['Resize']; got {op_block_list!r}.")
    parent = load(model)
    _refuse_without_float32(parent)
    blocked = sorted(set(DEFAULT_OP_BLOCK_LIST) | set(op_block_list or ()))
    original = parent.to_proto()
    half = convert_float_to_float16(original, keep_io_types=keep_io_types, op_block_list=blocked,
                                    disable_shape_infer=parent.size_bytes > 1_800_000_000)
    params = {"keep_io_types": keep_io_types, "op_block_list": list(op_block_list or [])}
    child = derive(parent, half, op="to_fp16", tag="fp16", params=params,
                   details={"op_changes": op_changes(original, half)})
    return verified(parent, child, rtol=1e-2, atol=1e-2, top1_suffices=True)


def _refuse_without_float32(parent: Model) -> None:
    weights = {t.data_type for t in iter_tensors(parent.proto)}
    if onnx.TensorProto.FLOAT not in weights:
        already = onnx.TensorProto.FLOAT16 in weights
        raise UnsupportedModelError(
            f"to_fp16: '{parent.name}' has no float32 weights to convert"
            + (": it is already float16." if already else ".")
            + " Pass the float32 model instead.")
