"""The own route's precisions, from its float32 export (its attention fused into one
``GroupQueryAttention`` a layer where the pattern matches, at every precision but fp16): fp16
(weights and activations, the cache's inputs and outputs kept float32), and int8/int4 weights
as ``MatMulNBits`` with accuracy level 4 (int8 activations on the CPU: where int4's speed
comes from), the LM head at int8 when the body is int4 (its error reaches every logit)."""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import onnx

from onnxkit.base import Params
from onnxkit.llm._attention import drop_matmul_reshapes, fuse_attention
from onnxkit.llm._quiet import quiet
from onnxkit.models import Model
from onnxkit.quantize import gemms_as_matmuls
from onnxkit.transforms import VerificationWarning, to_fp16

# Block 128, not 32 (the model builder's default): profiled on an AVX-512 VNNI CPU, the int4
# kernel at accuracy level 4 spends ~2x less per decode step (fewer scales to apply per
# column) and ~25% less on a 32-128 token prompt, where block 32 made int4 slower than fp32.
BLOCK_SIZE = 128
BLOCK_SIZES = (16, 32, 64, 128, 256)
ACCURACY_LEVEL = 4  # MatMulNBits computes with int8 activations (AVX-512 VNNI, AVX2...)
ALGORITHMS = ("rtn", "k_quant")  # round to nearest; k-quant (llama.cpp's search of scales)


@dataclass(frozen=True)
class WeightQuantization:
    """How int8/int4 weights are made: ``MatMulNBits`` blocks of ``block_size`` along K,
    ``accuracy_level`` of its compute (4: int8 activations; 1: float32), ``algorithm``."""

    block_size: int = BLOCK_SIZE
    accuracy_level: int = ACCURACY_LEVEL
    algorithm: str = "rtn"

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def weight_quantization(block_size: int, accuracy_level: int, algorithm: str,
                        where: str = "export") -> WeightQuantization:
    """The checked settings (a ParameterError naming ``where`` for a bad one)."""
    arg = Params(where)
    arg.one_of(block_size, BLOCK_SIZES, "block_size")
    arg.one_of(accuracy_level, (0, 1, 2, 3, 4), "accuracy_level")
    arg.one_of(algorithm, ALGORITHMS, "algorithm")
    return WeightQuantization(block_size, accuracy_level, algorithm)


def lowered(model: Model, precision: str, how: WeightQuantization | None = None
            ) -> onnx.ModelProto:
    """``model`` (float32, prepared: transposed weights folded) at ``precision``."""
    how = how or WeightQuantization()
    if precision == "fp16":  # unfused: its float32 cache inputs pass through casts
        with warnings.catch_warnings():  # its random-input check cannot drive a decoder;
            warnings.simplefilter("ignore", VerificationWarning)  # export verifies it
            return to_fp16(model, keep_io_types=True).to_proto()
    proto = model.to_proto()
    fuse_attention(proto)  # GPT-2's attention as GroupQueryAttention, when it matches
    if precision == "fp32":
        return proto
    gemms_as_matmuls(proto)
    head = lm_head(proto)
    body_bits = 4 if precision == "int4" else 8
    proto = _matmul_nbits(proto, body_bits, how,
                          exclude=[head] if head and body_bits == 4 else [])
    if head and body_bits == 4:
        proto = _matmul_nbits(proto, 8, how, include=[head])
    drop_matmul_reshapes(proto)  # ~4 nodes a layer fewer: each costs per decode step
    return proto


def lm_head(proto: onnx.ModelProto) -> str | None:
    """The name of the MatMul that writes ``logits`` (with a constant weight), if any."""
    constants = {t.name for t in proto.graph.initializer}
    for node in proto.graph.node:
        if "logits" in node.output and node.op_type == "MatMul" and node.input[1] in constants:
            return node.name
    return None


def _matmul_nbits(proto: onnx.ModelProto, bits: int, how: WeightQuantization, *,
                  exclude: list[str] | None = None, include: list[str] | None = None
                  ) -> onnx.ModelProto:
    with quiet():
        from onnxruntime.quantization import matmul_nbits_quantizer as q

        # k-quant searches 4-bit scales; 8 bits (the head) stays round-to-nearest
        config = q.KQuantWeightOnlyQuantConfig() if how.algorithm == "k_quant" and bits == 4 \
            else None
        quantizer = q.MatMulNBitsQuantizer(
            proto, bits=bits, block_size=how.block_size, is_symmetric=True,
            accuracy_level=how.accuracy_level, nodes_to_exclude=exclude,
            nodes_to_include=include, algo_config=config)
        quantizer.process()
    model = quantizer.model
    return model.model if hasattr(model, "model") else model
