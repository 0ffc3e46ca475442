"""A language-model bundle's decoding: onnxruntime-genai runs the decoder (its KV cache, the
search, greedy or sampled), the Hugging Face ``tokenizers`` library turns text into tokens and
back exactly as the model's own fast tokenizer does (``transformers`` wraps the same
``tokenizer.json``); and the text rules every onnxkit generation follows (:func:`take_token`:
stop strings, end-of-sequence tokens, streamed pieces that never show half a character or
half a stop string), which ``onnxkit.llm`` uses too.

Prompts are decoded one after the other: onnxruntime-genai pads a batch of prompts with the
pad token, which gives other tokens than one prompt alone (measured), so the bundle keeps
each prompt's tokens those of ``LanguageModel.generate`` on it. The imports of
onnxruntime-genai and tokenizers are inside the functions that need them: this module is
also part of onnxkit, which has them only with its ``llm`` extra.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GENAI_CONFIG = "genai_config.json"
TOKENIZER = "tokenizer.json"
# LanguageModel.generate's keywords -> the generate extension's parameters (one validation)
_PARAMETERS = {"max_new_tokens": "max_tokens", "do_sample": "do_sample",
               "temperature": "temperature", "top_k": "top_k", "top_p": "top_p",
               "repetition_penalty": "repetition_penalty", "stop": "stop", "seed": "seed"}


class TextError(ValueError):
    """A prompt or a setting the caller must fix (a 422 from the server)."""


@dataclass
class TextRow:
    """One prompt's generation so far (what :func:`take_token` reads and updates)."""

    prompt: str
    ids: list[int]
    tokens: list[int] = field(default_factory=list)
    text: str = ""  # decoded so far, up to any stop string
    sent: int = 0  # characters already streamed
    reason: str | None = None  # "eos_token", "stop_sequence" or "length" once it ended


def take_token(row: Any, token: int, decode: Callable[[list[int]], str], stop: Sequence[str],
               eos: Any, *, last: bool) -> str:
    """Add ``token`` to ``row`` (a :class:`TextRow` or alike); the text it adds that is safe
    to show now. ``decode``: tokens -> text, special tokens skipped.

    Examples:
        >>> row = TextRow("", [])
        >>> take_token(row, 1, lambda t: "ab"[:len(t)], ["b"], set(), last=False)
        'a'
        >>> take_token(row, 2, lambda t: "ab"[:len(t)], ["b"], set(), last=False), row.reason
        ('', 'stop_sequence')
    """
    row.tokens.append(token)
    if token in eos:
        row.reason = "eos_token"
    decoded = decode(row.tokens)
    cut = min((decoded.find(s) for s in stop if s in decoded), default=-1)
    if cut >= 0:
        decoded, row.reason = decoded[:cut], "stop_sequence"
    elif last and row.reason is None:
        row.reason = "length"
    row.text = decoded
    if row.reason is None:  # hold back what may be half a character or half a stop
        hold = max((len(s) - 1 for s in stop), default=0)
        decoded = decoded.rstrip("\ufffd")
        decoded = decoded[:max(len(decoded) - hold, row.sent)]
    piece, row.sent = decoded[row.sent:], max(row.sent, len(decoded))
    return piece


class Decoding:
    """One call's decoding: iterate it for ``(prompt index, text piece)``; ``results`` holds a
    :class:`TextRow` per prompt (``text``, ``tokens``, ``reason``) once it has ended."""

    def __init__(self, model: TextModel, rows: list[TextRow], settings: dict[str, Any]):
        self.model, self.rows, self.settings = model, rows, settings
        self.results: list[TextRow] = []

    def __iter__(self) -> Iterator[tuple[int, str]]:
        for index, row in enumerate(self.rows):
            for piece in self.model.decode_row(row, self.settings):
                yield index, piece
        self.results = self.rows


def checked_settings(options: dict[str, Any]) -> dict[str, Any]:
    """``LanguageModel.generate``'s keywords, checked as the server checks a request's
    parameters (:func:`.generate.settings`); :class:`TextError` says what is wrong."""
    from .generate import RequestError, settings  # Starlette: only when a bundle generates

    unknown = sorted(set(options) - set(_PARAMETERS))
    if unknown:
        raise TextError(f"unknown setting(s) {unknown}; known: {sorted(_PARAMETERS)}")
    params = {_PARAMETERS[k]: v for k, v in options.items() if v is not None}
    if isinstance(params.get("stop"), str):
        params["stop"] = [params["stop"]]
    try:
        return settings(params)
    except RequestError as e:
        raise TextError(str(e).replace("parameters.", "")) from None


class TextModel:
    """The bundle's decoder (onnxruntime-genai) and tokenizer (``tokenizers``).

    ``llm``: the manifest's ``llm`` section (``context_length``, ``eos_token_ids``);
    ``threads``: ORT intra-op threads (0: ORT's choice).
    """

    def __init__(self, folder: Path, llm: dict[str, Any], *, threads: int = 0) -> None:
        import onnxruntime_genai as og
        from tokenizers import Tokenizer

        config = og.Config(str(folder))
        if threads:
            config.overlay(json.dumps({"model": {"decoder": {"session_options": {
                "intra_op_num_threads": threads}}}}))
        self.model = og.Model(config)
        self._og = og
        self.tokenizer = Tokenizer.from_file(str(folder / TOKENIZER))
        self.context_length = int(llm["context_length"])
        self.eos = set(llm.get("eos_token_ids", []))
        self.vocab_size = int(json.loads((folder / GENAI_CONFIG).read_text())["model"]
                              ["vocab_size"])

    def decode(self, tokens: list[int]) -> str:
        return self.tokenizer.decode(tokens, skip_special_tokens=True)

    def generate(self, prompts: list[str], settings: dict[str, Any]) -> Decoding:
        """``settings``: ``LanguageModel.generate``'s keywords (as
        :func:`.generate.settings` makes them from a request's parameters)."""
        rows = []
        for prompt in prompts:
            ids = self.tokenizer.encode(prompt).ids
            if not ids or len(ids) >= self.context_length:
                raise TextError(f"the prompt must be between 1 and {self.context_length - 1} "
                                 f"tokens (the model's context); got {len(ids)} tokens")
            rows.append(TextRow(prompt, ids))
        return Decoding(self, rows, settings)

    def decode_row(self, row: TextRow, settings: dict[str, Any]) -> Iterator[str]:
        og = self._og
        wanted = min(int(settings.get("max_new_tokens", 64)), self.context_length - len(row.ids))
        stop = list(settings.get("stop") or [])
        params = og.GeneratorParams(self.model)
        params.set_search_options(**self._search(settings, len(row.ids) + wanted))
        generator = og.Generator(self.model, params)
        generator.append_tokens(row.ids)
        for step in range(wanted):
            generator.generate_next_token()
            token = int(generator.get_next_tokens()[0])
            piece = take_token(row, token, self.decode, stop, self.eos,
                               last=step + 1 == wanted)
            if piece:
                yield piece
            if row.reason is not None or generator.is_done():
                break
        row.reason = row.reason or "length"

    def _search(self, settings: dict[str, Any], max_length: int) -> dict[str, Any]:
        """onnxruntime-genai's search options for ``settings``: greedy, or sampling with
        every option set (its own defaults, e.g. the model's top_k, never slip in)."""
        search: dict[str, Any] = {"max_length": max_length, "num_beams": 1,
                                  "repetition_penalty": float(
                                      settings.get("repetition_penalty") or 1.0)}
        if not settings.get("do_sample"):
            return {**search, "do_sample": False}
        search.update(do_sample=True, temperature=float(settings.get("temperature") or 1.0),
                      top_k=int(settings.get("top_k") or self.vocab_size),
                      top_p=float(settings.get("top_p") or 1.0))
        if settings.get("seed") is not None:
            search["random_seed"] = int(settings["seed"])
        return search


def genai_config(llm: dict[str, Any], model_file: str, config: dict[str, Any]) -> dict[str, Any]:
    """onnxruntime-genai's ``genai_config.json`` for onnxkit's own export (the builder writes
    its own): a decoder with ``past_key_values.{i}.key/value`` in, ``present.{i}.key/value``
    out, ``attention_mask`` and ``position_ids``, its cache ``[batch, heads, seq, head]``
    grown each step (no shared buffer: the graph concatenates, it has no
    GroupQueryAttention). ``llm``: the export's manifest; ``config``: the HF config."""
    eos = list(llm.get("eos_token_ids") or [llm.get("pad_token_id", 0)])
    heads = config.get("num_attention_heads") or config.get("n_head") or llm["kv_heads"]
    hidden = config.get("hidden_size") or config.get("n_embd") or heads * llm["head_size"]
    decoder = {
        "session_options": {"log_id": "onnxruntime-genai", "provider_options": []},
        "filename": model_file, "head_size": llm["head_size"], "hidden_size": hidden,
        "inputs": {"input_ids": "input_ids", "attention_mask": "attention_mask",
                   "position_ids": "position_ids",
                   "past_key_names": "past_key_values.%d.key",
                   "past_value_names": "past_key_values.%d.value"},
        "outputs": {"logits": "logits", "present_key_names": "present.%d.key",
                    "present_value_names": "present.%d.value"},
        "num_attention_heads": heads, "num_hidden_layers": llm["layers"],
        "num_key_value_heads": llm["kv_heads"]}
    return {"model": {"bos_token_id": config.get("bos_token_id", eos[0]),
                      "context_length": llm["context_length"], "decoder": decoder,
                      "eos_token_id": eos[0] if len(eos) == 1 else eos,
                      "pad_token_id": llm.get("pad_token_id", 0), "type": "llama",
                      "vocab_size": config["vocab_size"]},
            "search": {"do_sample": False, "max_length": llm["context_length"],
                       "num_beams": 1, "past_present_share_buffer": False,
                       "repetition_penalty": 1.0, "temperature": 1.0, "top_k": 1,
                       "top_p": 1.0}}


def cli(folder: Path, llm: dict[str, Any], argv: Sequence[str] | None = None) -> int:
    """``python predict.py "prompt" --max-tokens N`` of a language-model bundle: the text
    streamed to stdout as it is made (``--json``: one JSON object at the end instead)."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog="predict.py", description="Continue a prompt with the bundled language model "
        "(greedy unless --do-sample); the text streams to stdout.")
    parser.add_argument("prompt")
    parser.add_argument("--max-tokens", type=int, default=64, help="new tokens at most")
    parser.add_argument("--do-sample", action="store_true", help="sample instead of greedy")
    parser.add_argument("--temperature", type=float)
    parser.add_argument("--top-k", type=int)
    parser.add_argument("--top-p", type=float)
    parser.add_argument("--repetition-penalty", type=float)
    parser.add_argument("--seed", type=int, help="makes sampling repeatable")
    parser.add_argument("--stop", action="append", help="a string that ends the text "
                                                        "(repeatable)")
    parser.add_argument("--threads", type=int, default=0, help="ORT intra-op threads")
    parser.add_argument("--json", action="store_true",
                        help="print {text, tokens, finish_reason, prompt_tokens} at the end")
    args = parser.parse_args(argv)
    settings = checked_settings({
        "max_new_tokens": args.max_tokens, "do_sample": args.do_sample,
        "temperature": args.temperature, "top_k": args.top_k, "top_p": args.top_p,
        "repetition_penalty": args.repetition_penalty, "seed": args.seed, "stop": args.stop})
    decoding = TextModel(folder, llm, threads=args.threads).generate([args.prompt], settings)
    out = sys.stdout
    for _, piece in decoding:
        if not args.json:
            out.write(piece)
            out.flush()
    row = decoding.results[0]
    if args.json:
        out.write(json.dumps({"text": row.text, "tokens": row.tokens,
                              "finish_reason": row.reason, "prompt_tokens": len(row.ids)}))
    out.write("\n")
    return 0
