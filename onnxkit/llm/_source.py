"""What ``export`` starts from: a local Hugging Face folder (config, weights, tokenizer), or a
``transformers`` model object with its tokenizer (saved to a temporary folder first), and the
route its architecture takes."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from onnxkit.errors import InvalidModelError, ModelNotFoundError, ParameterError
from onnxkit.llm._quiet import quiet

Route = Literal["builder", "onnxkit"]
ROUTES: tuple[Route, ...] = ("builder", "onnxkit")
# The dense text decoders onnxruntime-genai's model builder writes (its create_model); other
# causal LMs take onnxkit's own export.
BUILDER_ARCHITECTURES = frozenset({
    "LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM",
    "Phi3ForCausalLM", "PhiForCausalLM", "GemmaForCausalLM", "Gemma2ForCausalLM",
    "Gemma3ForCausalLM", "GraniteForCausalLM", "NemotronForCausalLM", "OlmoForCausalLM",
    "SmolLM3ForCausalLM", "InternLM2ForCausalLM", "Ernie4_5ForCausalLM",
})
_WEIGHTS = ("*.safetensors", "pytorch_model*.bin")
_TOKENIZER = ("tokenizer.json", "tokenizer.model", "vocab.json", "tokenizer_config.json")


@dataclass
class Source:
    """A Hugging Face folder ready to export, with the architecture its config names."""

    folder: Path
    config: dict[str, Any]
    name: str
    temporary: tempfile.TemporaryDirectory[str] | None = None

    @property
    def architecture(self) -> str:
        return (self.config.get("architectures") or ["?"])[0]

    @property
    def route(self) -> Route:
        return "builder" if self.architecture in BUILDER_ARCHITECTURES else "onnxkit"

    def close(self) -> None:
        if self.temporary is not None:
            self.temporary.cleanup()


def resolve_source(source: Any, tokenizer: Any = None) -> Source:
    """``source`` as a checked folder (a model object is saved to a temporary one)."""
    if isinstance(source, (str, os.PathLike)):
        if tokenizer is not None:
            raise ParameterError("export(tokenizer=...) is for a transformers model object; a "
                                 "folder brings its own tokenizer files. Drop tokenizer=.")
        folder = Path(source)
        checked_folder(folder)
        return Source(folder, _config(folder), folder.name)
    if not hasattr(source, "save_pretrained") or not hasattr(source, "config"):
        raise ParameterError(
            f"export(source=...) must be a local Hugging Face folder or a transformers model "
            f"object; got {type(source).__name__}. Fix: pass a folder path, or a model such "
            "as AutoModelForCausalLM.from_pretrained(...) with tokenizer=.")
    if tokenizer is None or not hasattr(tokenizer, "save_pretrained"):
        raise ParameterError(
            f"export(tokenizer=...) must be the model's transformers tokenizer when source is "
            f"a model object; got {type(tokenizer).__name__}. Fix: pass tokenizer="
            "AutoTokenizer.from_pretrained(...) (generation needs the model's own).")
    temporary = tempfile.TemporaryDirectory(prefix="onnxkit-llm-source-")
    folder = Path(temporary.name)
    with quiet():  # its progress bar
        source.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
    name = getattr(source.config, "name_or_path", "") or source.config.model_type
    return Source(folder, _config(folder), Path(str(name)).name or "model", temporary)


def checked_folder(folder: Path) -> None:
    """Refuse a folder that lacks a config, weights or tokenizer files, saying which."""
    if not folder.is_dir():
        raise ModelNotFoundError(
            f"export(source=...): no folder '{folder}'. Pass a local Hugging Face folder (its "
            "config.json, weights and tokenizer files), e.g. from save_pretrained().")
    missing = [what for what, patterns in (("config.json", ("config.json",)),
                                           ("weights (*.safetensors or pytorch_model.bin)",
                                            _WEIGHTS),
                                           ("tokenizer files (tokenizer.json...)", _TOKENIZER))
               if not any(any(folder.glob(p)) for p in patterns)]
    if missing:
        raise InvalidModelError(
            f"export(source=...): '{folder}' is not a complete Hugging Face model folder: it "
            f"has no {', no '.join(missing)}. Save the model and its tokenizer there with "
            "model.save_pretrained(folder) and tokenizer.save_pretrained(folder).")


def _config(folder: Path) -> dict[str, Any]:
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError) as e:
        raise InvalidModelError(f"export(source=...): cannot read '{folder / 'config.json'}' "
                                f"as JSON: {e}") from e
    if not isinstance(config, dict) or not config.get("architectures"):
        raise InvalidModelError(
            f"export(source=...): '{folder / 'config.json'}' names no architecture "
            "(\"architectures\": [...]). Save it with transformers' save_pretrained().")
    return config
