"""``export``: a Hugging Face decoder to an ONNX :class:`LanguageModel` folder, by the model
builder or onnxkit's own export, verified against ``transformers`` before it is returned."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any, Literal

import onnx

from onnxkit._version import __version__
from onnxkit.base import Params, require
from onnxkit.errors import ParameterError, UnsupportedModelError, WorkspaceError
from onnxkit.llm._builder import build
from onnxkit.llm._engine import Decoder
from onnxkit.llm._model import MANIFEST, PRECISIONS, LanguageModel
from onnxkit.llm._perplexity import check_text
from onnxkit.llm._precision import (
    ACCURACY_LEVEL,
    BLOCK_SIZE,
    WeightQuantization,
    lowered,
    weight_quantization,
)
from onnxkit.llm._quiet import quiet
from onnxkit.llm._source import BUILDER_ARCHITECTURES, ROUTES, Source, resolve_source
from onnxkit.llm._verify import verify
from onnxkit.models import load, safe_name, workspace
from onnxkit.quantize import prepare
from onnxkit.transforms import VerificationWarning

Precision = Literal["fp32", "fp16", "int8", "int4"]
_KEPT = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
         "special_tokens_map.json", "vocab.json", "merges.txt", "tokenizer.model",
         "added_tokens.json", "chat_template.jinja")


def export(source: Any, *, precision: Precision = "fp32", out: str | os.PathLike[str] | None = None,
           tokenizer: Any = None, route: str | None = None, threads: int | None = None,
           block_size: int = BLOCK_SIZE, accuracy_level: int = ACCURACY_LEVEL,
           algorithm: str = "rtn") -> LanguageModel:
    """A decoder language model as ONNX with its KV cache, verified, ready to generate.

    Args:
        source: a local Hugging Face folder (``config.json``, weights, tokenizer files) or a
            ``transformers`` model object (then ``tokenizer=`` too).
        precision: ``"fp32"``, ``"fp16"``, ``"int8"`` or ``"int4"`` (MatMulNBits weights,
            int8 activations on the CPU; the LM head int8).
        out: the folder to write (must not exist, or be empty); default: a new folder
            ``<workspace>/llm/<name>.<precision>``.
        route: ``"builder"`` (onnxruntime-genai's model builder: Llama, Mistral, Qwen2/3,
            Phi-3, Gemma...) or ``"onnxkit"`` (onnxkit's own export: GPT-2, OPT, GPT-NeoX
            and other decoders); default: the builder where it knows the architecture.
        block_size, accuracy_level, algorithm: how int8/int4 weights are made (both routes):
            ``MatMulNBits`` blocks of ``block_size`` (16...256; 128 by default: faster than
            32 on the CPU, at a perplexity the verification reports), ``accuracy_level`` 4
            (int8 activations: the fast one on the CPU; 1: float32 compute), ``algorithm``
            ``"rtn"`` (round to nearest) or ``"k_quant"`` (searched 4-bit scales).

    The result's ``verification`` holds the check against ``transformers`` (greedy tokens,
    logits cosine per step, perplexity on a text); a failed check warns
    (:class:`~onnxkit.VerificationWarning`) and is kept in the folder's manifest.

    Examples:
        >>> lm = onnxkit.llm.export("./my-llama", precision="int4")  # doctest: +SKIP
        >>> lm.verification  # doctest: +SKIP
    """
    arg = Params("export")
    precision = arg.one_of(precision, PRECISIONS, "precision", ignore_case=True)
    if route is not None:
        arg.one_of(route, ROUTES, "route")
    how = weight_quantization(block_size, accuracy_level, algorithm)
    src = resolve_source(source, tokenizer)
    try:
        chosen = _route(src, route, precision)
        target = _target(out, src.name, precision)
        partial = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            manifest = _write(src, chosen, precision, partial, threads, how)
            os.replace(partial, target)  # appears whole, or not at all
        finally:
            shutil.rmtree(partial, ignore_errors=True)
    finally:
        src.close()
    return LanguageModel(target, manifest, threads=threads)


def _write(src: Source, route: str, precision: str, folder: Path, threads: int | None,
           how: WeightQuantization) -> dict[str, Any]:
    from onnxkit.llm import _own  # torch and transformers: only for an export

    model = _own.load_torch(src.folder)
    if route == "builder":
        geometry = build(src, precision, folder, how)
    else:
        geometry = _own_route(src, model, precision, folder, how)
    for name in _KEPT:
        if (src.folder / name).exists() and not (folder / name).exists():
            shutil.copy2(src.folder / name, folder / name)
    manifest = {"format": 1, "name": src.name, "route": route, "precision": precision,
                "architecture": src.architecture, **geometry,
                "context_length": _context_length(src.config), "onnxkit": __version__}
    if precision in ("int8", "int4"):
        manifest["quantization"] = how.to_dict()
    tokenizer = require("transformers", purpose="Exporting a language model"
                        ).AutoTokenizer.from_pretrained(folder)
    manifest.update(_special_tokens(src, tokenizer))
    decoder = Decoder(folder / geometry["model"], kv_heads=geometry["kv_heads"],
                      head_size=geometry["head_size"], threads=threads)
    check = verify(decoder, tokenizer, model, precision=precision, text=check_text(),
                   window=min(manifest["context_length"], 256),
                   pad_id=manifest["pad_token_id"])
    manifest["verification"] = check.to_dict()
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2))
    if not check:
        warnings.warn(f"export of '{src.name}' at {precision}: {check!r}", VerificationWarning,
                      stacklevel=3)
    return manifest


def _own_route(src: Source, model: Any, precision: str, folder: Path,
               how: WeightQuantization) -> dict[str, Any]:
    from onnxkit.llm import _own

    raw = folder / f"{safe_name(src.name)}.onnx"
    geometry = _own.export(src, model, raw)
    with quiet():  # onnxslim, onnx_ir and the quantizer log every pass
        proto = lowered(prepare(load(raw)), precision, how)
    onnx.save(proto, folder / "model.onnx", save_as_external_data=True,  # as the builder
              all_tensors_to_one_file=True, location="model.onnx.data")
    raw.unlink()
    return {**geometry, "model": "model.onnx"}


def _route(src: Source, route: str | None, precision: str) -> str:
    """The builder where it knows the architecture, except fp16: its fp16 graphs are for GPUs
    (on the CPU one fails at run time in ORT 1.32), so fp16 takes onnxkit's own export."""
    if route == "builder" and src.architecture not in BUILDER_ARCHITECTURES:
        raise ParameterError(
            f"export(route='builder'): onnxruntime-genai's model builder does not support "
            f"{src.architecture}. Fix: leave route=None (onnxkit's own export).")
    if route == "builder" and precision == "fp16":
        raise UnsupportedModelError(
            "export(route='builder', precision='fp16'): the model builder's fp16 decoders are "
            "for GPUs and fail on ONNX Runtime's CPU provider. Fix: leave route=None (fp16 "
            "then takes onnxkit's own export), or use int8/int4 for a smaller model.")
    if route is None and precision == "fp16":
        return "onnxkit"
    return route or src.route


def _target(out: str | os.PathLike[str] | None, name: str, precision: str) -> Path:
    if out is not None:
        target = Path(out).absolute()
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise WorkspaceError(f"export(out=...): '{target}' exists and is not an empty "
                                 "folder; onnxkit does not overwrite files. Choose a new folder.")
        if target.exists():
            target.rmdir()  # replaced by the finished folder
        target.parent.mkdir(parents=True, exist_ok=True)
        return target
    root = workspace().root / "llm"
    root.mkdir(parents=True, exist_ok=True)
    stem = f"{safe_name(name)}.{precision}"
    for n in range(1, 10_000):
        target = root / (stem if n == 1 else f"{stem}-{n}")
        if not target.exists():
            return target
    raise WorkspaceError(f"No free folder name for '{stem}' in {root}: clean the folder.")


def _context_length(config: dict[str, Any]) -> int:
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        if isinstance(config.get(key), int):
            return int(config[key])
    return 2048


def _special_tokens(src: Source, tokenizer: Any) -> dict[str, Any]:
    generation = src.folder / "generation_config.json"
    found = json.loads(generation.read_text()) if generation.exists() else {}
    eos = found.get("eos_token_id", src.config.get("eos_token_id"))
    if eos is None:
        eos = tokenizer.eos_token_id
    eos_ids = [eos] if isinstance(eos, int) else list(eos or [])
    # the pad id fills a batch's left padding: masked, but still looked up in the embedding, so
    # it must lie inside the vocabulary (GPT-2's eos 50256 does not in a smaller one)
    vocab = int(src.config.get("vocab_size") or 0)
    candidates = (tokenizer.pad_token_id, src.config.get("pad_token_id"), *eos_ids)
    pad = next((int(c) for c in candidates if c is not None and (not vocab or 0 <= c < vocab)), 0)
    return {"eos_token_ids": eos_ids, "pad_token_id": pad}
