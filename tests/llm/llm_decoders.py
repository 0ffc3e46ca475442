"""Tiny decoders of real architectures, offline: transformers' own classes from small configs
with random weights, saved as Hugging Face folders with a byte-level BPE tokenizer trained on
text that ships with Python; and their exports, cached in the user cache (an export runs
torch.export or the model builder, seconds each: it is made once per machine and code)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import onnxkit
from onnxkit.base import cache_key, user_cache
from onnxkit.llm import LanguageModel

VOCAB, HIDDEN, LAYERS, HEADS, KV_HEADS, CONTEXT = 512, 64, 2, 4, 2, 256
LLM_SOURCES = sorted((Path(onnxkit.__file__).parent / "llm").glob("*.py"))
LIBRARIES = ("torch", "transformers", "onnx", "onnxruntime", "onnxruntime-genai", "tokenizers")


def tokenizer() -> Any:
    """A byte-level BPE of ``VOCAB`` tokens trained on ``pydoc_data.topics`` (deterministic)."""
    from pydoc_data.topics import topics

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    bpe.train_from_iterator(list(topics.values()), trainer)
    return PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<|endoftext|>",
                                   eos_token="<|endoftext|>", unk_token="<|endoftext|>")


def config(arch: str) -> Any:
    import transformers as T

    # Weights wider than the default 0.02: logits far apart, so greedy decoding has no
    # near-ties that float rounding could break either way.
    common = {"vocab_size": VOCAB, "bos_token_id": 0, "eos_token_id": 0,
              "initializer_range": 0.2}
    decoder = {"hidden_size": HIDDEN, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
               "max_position_embeddings": CONTEXT, **common}
    return {
        "llama": lambda: T.LlamaConfig(intermediate_size=128, num_key_value_heads=KV_HEADS,
                                       **decoder),
        "qwen2": lambda: T.Qwen2Config(intermediate_size=128, num_key_value_heads=KV_HEADS,
                                       **decoder),
        "phi3": lambda: T.Phi3Config(intermediate_size=128, num_key_value_heads=KV_HEADS,
                                     original_max_position_embeddings=CONTEXT, pad_token_id=0,
                                     **decoder),
        "gpt2": lambda: T.GPT2Config(n_embd=HIDDEN, n_layer=LAYERS, n_head=HEADS,
                                     n_positions=CONTEXT, **common),
        "opt": lambda: T.OPTConfig(ffn_dim=128, word_embed_proj_dim=HIDDEN, pad_token_id=0,
                                   **decoder),
        "neox": lambda: T.GPTNeoXConfig(intermediate_size=128, **decoder),
    }[arch]()


def model(arch: str) -> Any:
    import torch
    import transformers as T

    torch.manual_seed(0)
    return T.AutoModelForCausalLM.from_config(config(arch)).eval()


def hf_folder(arch: str, root: Path) -> Path:
    """``root/arch``: the tiny model and its tokenizer, saved as Hugging Face does."""
    folder = root / arch
    if not (folder / "config.json").exists():
        model(arch).save_pretrained(folder)
        tokenizer().save_pretrained(folder)
    return folder


def exported(arch: str, precision: str, root: Path, route: str | None = None
             ) -> LanguageModel:
    """The tiny ``arch`` exported at ``precision``: from the user cache when this code and
    these libraries made it before, else exported now (and cached)."""
    key = cache_key(sources=[*LLM_SOURCES, Path(__file__)], libraries=LIBRARIES,
                    extra=f"{arch}/{precision}/{route}")
    cached = user_cache("llm-tests") / f"{arch}.{precision}-{key}"
    if not cached.exists():
        lm = onnxkit.llm.export(hf_folder(arch, root / "hf"), precision=precision,
                                route=route, out=root / "partial" / cached.name)
        shutil.copytree(lm.path, cached.with_name(cached.name + ".partial"))
        cached.with_name(cached.name + ".partial").rename(cached)
    target = root / "lm" / cached.name
    if not target.exists():
        shutil.copytree(cached, target)
    return onnxkit.llm.load(target)
