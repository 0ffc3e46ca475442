"""``preflight``: can int8 be fast for this model on this CPU, and where should tuning start?

The answer ONNX Runtime's issue tracker asks for most ("my quantized model is slower than
fp32"): int8 pays off with VNNI (AVX512-VNNI, AVX-VNNI) or AMX; with AVX2 alone the int8
kernels gain little; dynamic quantization of convolutions runs ConvInteger, which has no
fast CPU kernel; and small models are dominated by the Quantize/Dequantize overhead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from onnxkit.models import ModelLike, load
from onnxkit.results import Result, html_table
from onnxkit.runtime import providers
from onnxkit.transforms import has_attention

FAST_INT8 = ("avx512_vnni", "avx_vnni", "amx_int8")
LARGE_MATMUL = 1_000_000  # weights in MatMul/Gemm from which int4 weight-only is worth a try


@dataclass(frozen=True)
class Preflight(Result):
    """What :func:`preflight` found: the CPU, the model's kind, and the recipes to try first."""

    model: str
    instruction_sets: str
    int8_fast: bool  # VNNI or AMX: int8 matrix kernels outrun float32
    kind: str  # "convnet", "transformer", "large-matmul" or "other"
    start: str  # the first recipe tune tries
    order: tuple[str, ...]  # every recipe, in the order tune tries them
    warnings: tuple[str, ...]

    def __repr__(self) -> str:
        lines = [f"Preflight of '{self.model}': a {self.kind}; int8 is "
                 f"{'fast' if self.int8_fast else 'NOT fast'} here ({self.instruction_sets}); "
                 f"start from {self.start}"]
        lines += [f"  ! {w}" for w in self.warnings]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = [("model kind", self.kind), ("instruction sets", self.instruction_sets),
                ("int8 fast here", "yes" if self.int8_fast else "no"),
                ("start from", self.start), ("then", ", ".join(self.order[1:]) or "-"),
                *(("warning", w) for w in self.warnings)]
        return html_table(("", ""), rows, caption=f"quantization preflight of '{self.model}'",
                          bad=[r[0] == "warning" for r in rows])


def preflight(model: ModelLike) -> Preflight:
    """Whether int8 can be fast for ``model`` on this CPU, what would fall back to slow paths,
    and the recipe :func:`tune` starts from.

    Examples:
        >>> import onnxkit
        >>> onnxkit.quantize.preflight(onnxkit.samples.digits_cnn().model).kind
        'convnet'
    """
    handle = load(model)
    sets = str(providers().machine.get("instruction sets", "-"))
    fast = any(flag in sets.split() for flag in FAST_INT8)
    kind = _kind(handle)
    order = {"convnet": ("static-qdq", "static-qoperator", "dynamic"),
             "transformer": ("dynamic", "static-qdq", "int4"),
             "large-matmul": ("int4", "dynamic", "static-qdq"),
             "other": ("dynamic", "static-qdq")}[kind]
    warnings = []
    if not fast:
        warnings.append("no VNNI or AMX on this CPU: int8 kernels gain little over float32 "
                        "here (AVX2 only); expect size savings more than speed")
    if kind == "convnet":
        warnings.append("dynamic quantization turns Conv into ConvInteger, which has no fast "
                        "CPU kernel in ONNX Runtime: static (QDQ) quantization is the one to "
                        "try for convolutions")
    if handle.size_bytes < 1_000_000:
        warnings.append(f"a small model ({handle.size_bytes / 1e6:.2f} MB): the added "
                        "Quantize/Dequantize work can outweigh the int8 savings")
    return Preflight(handle.name, sets, fast, kind, order[0], order, tuple(warnings))


def _kind(model: Any) -> str:
    nodes = model.proto.graph.node
    if any(n.op_type == "Conv" for n in nodes):
        return "convnet"
    if has_attention(model):
        return "transformer"
    weights = {t.name: int(np.prod(t.dims)) for t in model.proto.graph.initializer}
    matmul = sum(weights.get(n.input[1], 0) for n in nodes
                 if n.op_type in ("MatMul", "Gemm") and len(n.input) > 1)
    return "large-matmul" if matmul >= LARGE_MATMUL else "other"
