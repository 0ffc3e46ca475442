"""``to_fp16``: halve the weights, keep the model's interface, verify the decisions."""

from __future__ import annotations

from collections.abc import Sequence

import onnx

from onnxkit.errors import ParameterError, UnsupportedModelError
from onnxkit.models import Model, ModelLike, iter_tensors, load, workspace
from onnxkit.runtime import crashes_onnxruntime
from onnxkit.transforms._derive import derive, loadable, op_changes, verified

# Recurrent ops stay float32: ORT's CPU provider has no float16 kernels for them, and ORT 1.32
# crashes (SIGSEGV) creating a session for a float16 LSTM.
_NO_FP16 = {"LSTM", "GRU", "RNN"}


def to_fp16(model: ModelLike, *, keep_io_types: bool = True,
            op_block_list: Sequence[str] | None = None) -> Model:
    """Convert float32 weights and activations to float16 (onnxruntime.transformers.float16).

    Ops without float16 kernels in ONNX Runtime stay float32 (its default block list, the
    recurrent LSTM/GRU/RNN, plus ``op_block_list``), with casts around them. The result is
    first loaded in a child process: ONNX Runtime 1.32 crashes (SIGSEGV) on some float16
    graphs, e.g. float16 Transposes around a float32 LSTM. Then the op types next to the
    float32 ones are kept in float32 too (recorded in the lineage); a result that still
    crashes is refused with an error, never a dead kernel. It is verified against the float32
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
    blocked = sorted(set(DEFAULT_OP_BLOCK_LIST) | _NO_FP16 | set(op_block_list or ()))
    original = parent.to_proto()
    params = {"keep_io_types": keep_io_types, "op_block_list": list(op_block_list or [])}

    def half(also: list[str]) -> Model:
        proto = convert_float_to_float16(
            original, keep_io_types=keep_io_types, op_block_list=blocked + also,
            disable_shape_infer=parent.size_bytes > 1_800_000_000)
        details = {"op_changes": op_changes(original, proto), "float32_ops": also}
        return derive(parent, proto, op="to_fp16", tag="fp16", params=params, details=details)

    child = half([])
    if crashes_onnxruntime(child):
        workspace().discard(child)
        child = half(_neighbours(original.graph, set(blocked)))
    child = loadable(child, "to_fp16", "Keep the op that fails in float32 with "
                     "to_fp16(model, op_block_list=[...]).")
    return verified(parent, child, rtol=1e-2, atol=1e-2, top1_suffices=True)


def _neighbours(graph: onnx.GraphProto, blocked: set[str]) -> list[str]:
    """The op types of the nodes that feed a node of a blocked op type or read its outputs
    (every node of those types then stays float32: they appear in pairs around it)."""
    kept = [n for n in graph.node if n.op_type in blocked]
    reads = {name for n in kept for name in n.input}
    written = {name for n in kept for name in n.output}
    return sorted({n.op_type for n in graph.node if n.op_type not in blocked and (
        reads & set(n.output) or written & set(n.input))})


def _refuse_without_float32(parent: Model) -> None:
    weights = {t.data_type for t in iter_tensors(parent.proto)}
    if onnx.TensorProto.FLOAT not in weights:
        already = onnx.TensorProto.FLOAT16 in weights
        raise UnsupportedModelError(
            f"to_fp16: '{parent.name}' has no float32 weights to convert"
            + (": it is already float16." if already else ".")
            + " Pass the float32 model instead.")
