"""Route two: onnxkit's own export, for the decoders the model builder does not know (GPT-2,
OPT, GPT-NeoX/Pythia, Falcon, BLOOM...). torch.onnx's dynamo exporter traces the model with
its cache as plain tensors: ``past_key_values.{i}.key/value`` in, ``present.{i}.key/value``
out, with ``attention_mask`` and ``position_ids`` (the names the anchors use), every length
dynamic. Imported only to export: it needs torch and transformers."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, DynamicCache

from onnxkit.errors import ConversionError
from onnxkit.llm._quiet import quiet
from onnxkit.llm._source import Source

OPSET = 18


def load_torch(folder: Path) -> Any:
    """The Hugging Face model in float32, eager attention (the pattern ORT's fusions know)."""
    with quiet():
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32,
                                                     attn_implementation="eager")
    return model.eval()


class _WithCache(torch.nn.Module):
    """The model as a function of tensors: the cache goes in and comes out flat."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model
        self.layers = model.config.num_hidden_layers

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                position_ids: torch.Tensor, past: tuple[torch.Tensor, ...]
                ) -> tuple[torch.Tensor, ...]:
        cache = DynamicCache(config=self.model.config)
        for i in range(self.layers):
            cache.update(past[2 * i], past[2 * i + 1], i)
        out = self.model(input_ids=input_ids, attention_mask=attention_mask,
                         position_ids=position_ids, cache=cache, use_cache=True)
        present = [t for layer in out.cache.layers for t in (layer.keys, layer.values)]
        return (out.logits, *present)


def cache_geometry(model: Any) -> tuple[int, int]:
    """``(kv_heads, head_size)`` of the cache, read from a real forward pass (configs name
    them in many ways)."""
    with torch.no_grad():
        out = model(input_ids=torch.zeros(1, 2, dtype=torch.int64), use_cache=True)
    cache = getattr(out, "cache", None) or out.past_key_values
    keys = cache.layers[0].keys
    return int(keys.shape[1]), int(keys.shape[3])


def export(source: Source, model: Any, path: Path) -> dict[str, Any]:
    """Write the decoder with explicit cache tensors to ``path``; the manifest's geometry."""
    kv_heads, head_size = cache_geometry(model)
    layers = model.config.num_hidden_layers
    batch, seq, past_len = 2, 3, 4
    ids = torch.randint(0, model.config.vocab_size, (batch, seq))
    mask = torch.ones(batch, past_len + seq, dtype=torch.int64)
    positions = torch.arange(past_len, past_len + seq).expand(batch, seq)
    past = tuple(torch.randn(batch, kv_heads, past_len, head_size) for _ in range(2 * layers))
    names_in = ["input_ids", "attention_mask", "position_ids"] + [
        f"past_key_values.{i}.{kind}" for i in range(layers) for kind in ("key", "value")]
    names_out = ["logits"] + [f"present.{i}.{kind}" for i in range(layers)
                              for kind in ("key", "value")]
    dim = torch.export.Dim
    rows, new, old, total = dim("batch"), dim("sequence"), dim("past_sequence"), \
        dim("total_sequence")
    shapes = ({0: rows, 1: new}, {0: rows, 1: total}, {0: rows, 1: new},
              tuple({0: rows, 2: old} for _ in range(2 * layers)))
    try:
        with torch.no_grad(), warnings.catch_warnings(), quiet():
            warnings.simplefilter("ignore")  # the exporter's deprecation and tracing notes
            program = torch.onnx.export(
                _WithCache(model), (ids, mask, positions, past), input_names=names_in,
                output_names=names_out, dynamic_shapes=shapes, opset_version=OPSET,
                dynamo=True, verbose=False, report=False)
            big = sum(p.numel() for p in model.parameters()) * 4 > 1_800_000_000
            program.save(str(path), external_data=big)  # protobuf's 2 GB limit
    except Exception as e:  # torch.export raises many types
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConversionError(
            f"onnxkit's decoder export failed on '{source.name}' ({source.architecture}): "
            f"{type(e).__name__}: {first}. Fix: if the model builder supports this "
            "architecture, pass route='builder'; else please report the architecture.") from e
    return {"model": path.name, "layers": layers, "kv_heads": kv_heads,
            "head_size": head_size}
