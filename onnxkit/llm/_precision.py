"""The own route's precisions, from its float32 export: fp16 (weights and activations, the
cache's inputs and outputs kept float32), and int8/int4 weights as ``MatMulNBits`` with
accuracy level 4 (int8 activations on the CPU: where int4's speed comes from), the LM head at
int8 when the body is int4 (its error reaches every logit)."""

from __future__ import annotations

import warnings

import onnx

from onnxkit.llm._quiet import quiet
from onnxkit.models import Model
from onnxkit.quantize import gemms_as_matmuls
from onnxkit.transforms import VerificationWarning, to_fp16

BLOCK_SIZE = 32
ACCURACY_LEVEL = 4  # MatMulNBits computes with int8 activations (AVX-512 VNNI, AVX2...)


def lowered(model: Model, precision: str) -> onnx.ModelProto:
    """``model`` (float32, prepared: transposed weights folded) at ``precision``."""
    if precision == "fp32":
        return model.to_proto()
    if precision == "fp16":
        with warnings.catch_warnings():  # its random-input check cannot drive a decoder;
            warnings.simplefilter("ignore", VerificationWarning)  # export verifies it
            return to_fp16(model, keep_io_types=True).to_proto()
    proto = model.to_proto()
    gemms_as_matmuls(proto)
    head = lm_head(proto)
    body_bits = 4 if precision == "int4" else 8
    proto = _matmul_nbits(proto, body_bits, exclude=[head] if head and body_bits == 4 else [])
    if head and body_bits == 4:
        proto = _matmul_nbits(proto, 8, include=[head])
    return proto


def lm_head(proto: onnx.ModelProto) -> str | None:
    """The name of the MatMul that writes ``logits`` (with a constant weight), if any."""
    constants = {t.name for t in proto.graph.initializer}
    for node in proto.graph.node:
        if "logits" in node.output and node.op_type == "MatMul" and node.input[1] in constants:
            return node.name
    return None


def _matmul_nbits(proto: onnx.ModelProto, bits: int, *, exclude: list[str] | None = None,
                  include: list[str] | None = None) -> onnx.ModelProto:
    with quiet():
        from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

        quantizer = MatMulNBitsQuantizer(
            proto, bits=bits, block_size=BLOCK_SIZE, is_symmetric=True,
            accuracy_level=ACCURACY_LEVEL, nodes_to_exclude=exclude, nodes_to_include=include)
        quantizer.process()
    return quantizer.model.model
