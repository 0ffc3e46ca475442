"""Route one: onnxruntime-genai's model builder, for the architectures it knows. It writes
the decoder with its cache, GroupQueryAttention and rotary embeddings fused, and MatMulNBits
for int4/int8 (accuracy level 4 on the CPU: int8 activations; blocks of 128, as the own
route); the LM head stays int8 when the body is int4."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from onnxkit.base import require
from onnxkit.errors import ConversionError
from onnxkit.llm._precision import WeightQuantization
from onnxkit.llm._quiet import quiet
from onnxkit.llm._source import Source


def _options(source: Source, precision: str, how: WeightQuantization) -> list[str]:
    """The builder's extra options on the CPU; an LM head tied to the embedding stays at the
    body's bits (onnxruntime-genai 0.18 writes an int8 head that reads a missing tensor when
    tied)."""
    if precision not in ("int4", "int8"):
        return []
    method = {"rtn": "default", "k_quant": "k_quant"}[how.algorithm]  # default: RTN, as own
    options = [f"accuracy_level={how.accuracy_level}", f"block_size={how.block_size}",
               f"algo_config={method}"]
    if precision == "int4" and not source.config.get("tie_word_embeddings"):
        options.append("matmul_mixed_precision=last_matmul:int8")
    return options


def build(source: Source, precision: str, out: Path, how: WeightQuantization
          ) -> dict[str, Any]:
    """Write the builder's decoder into ``out``; the cache geometry for the manifest."""
    builder = require("onnxruntime_genai.models.builder",
                      purpose="Exporting a Llama/Mistral/Qwen/Phi/Gemma decoder")
    try:
        with tempfile.TemporaryDirectory(prefix="onnxkit-genai-cache-") as cache, \
                quiet() as chatter:
            options = builder.parse_extra_options(
                None, str(source.folder), str(out), precision, "cpu", cache,
                _options(source, precision, how))
            builder.create_model(None, str(source.folder), str(out), precision, "cpu", cache,
                                 **options)
    except Exception as e:  # the builder raises bare Exceptions and asserts
        tail = "\n".join(chatter.getvalue().splitlines()[-5:])
        raise ConversionError(
            f"onnxruntime-genai's model builder failed on '{source.name}' "
            f"({source.architecture}, {precision}): {type(e).__name__}: {e}\n{tail}\n"
            "Fix: try route='onnxkit' (onnxkit's own export), or another precision.") from e
    decoder = json.loads((out / "genai_config.json").read_text())["model"]["decoder"]
    return {"model": decoder["filename"], "layers": decoder["num_hidden_layers"],
            "kv_heads": decoder["num_key_value_heads"], "head_size": decoder["head_size"]}
