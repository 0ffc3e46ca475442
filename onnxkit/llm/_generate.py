"""The generation loop: prompts in, text out token by token (all rows of a batch decoded
together), with stop strings, end-of-sequence tokens, text pieces for streaming and the time
to the first token and decode speed of each row."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from onnxkit.bundled.serving.textgen import TextRow, take_token
from onnxkit.llm._engine import Decoder
from onnxkit.llm._sampling import Sampling, next_tokens
from onnxkit.results import Result

# The reasons a row ends, as text-generation servers name them.
FinishReason = Literal["eos_token", "stop_sequence", "length"]


@dataclass(frozen=True)
class Generation(Result):
    """What :meth:`LanguageModel.generate` made of one prompt.

    ``tokens`` are the new tokens (an end-of-sequence token included when it ended the text);
    ``ttft_ms`` is the time from the call to the first new token (tokenizing and the prompt's
    pass); ``tokens_per_s`` is the decode speed after it (NaN with a single new token).
    """

    prompt: str
    text: str
    tokens: tuple[int, ...]
    finish_reason: FinishReason
    prompt_tokens: int
    ttft_ms: float
    tokens_per_s: float

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return (f"Generation({len(self.tokens)} tokens, finish_reason={self.finish_reason!r}, "
                f"ttft {self.ttft_ms:.1f} ms, {self.tokens_per_s:.1f} tokens/s)\n{self.text}")


@dataclass
class _Row(TextRow):
    """A row as a bundle's runtime keeps it, and when its first and last tokens came."""

    first_at: float = 0.0
    last_at: float = 0.0


class Decoding:
    """One call's decoding: iterate it for ``(row, text piece)`` as the pieces are made;
    ``results`` holds one :class:`Generation` per prompt once the iteration has ended."""

    def __init__(self, decoder: Decoder, tokenizer: Any, prompts: Sequence[str],
                 prompt_ids: Sequence[list[int]], *, max_new_tokens: int, how: Sampling,
                 stop: Sequence[str], eos_ids: Sequence[int], pad_id: int,
                 started: float) -> None:
        self.decoder, self.tokenizer, self.how = decoder, tokenizer, how
        self.rows = [_Row(p, list(ids)) for p, ids in zip(prompts, prompt_ids)]
        self.max_new_tokens, self.stop, self.eos = max_new_tokens, list(stop), set(eos_ids)
        self.pad_id, self.started = pad_id, started
        self.results: list[Generation] = []

    def __iter__(self) -> Iterator[tuple[int, str]]:
        rng = np.random.default_rng(self.how.seed)
        width = max(len(r.ids) for r in self.rows)
        batch, logits = self.decoder.prefill([r.ids for r in self.rows], self.pad_id,
                                             capacity=width + self.max_new_tokens)
        for step in range(self.max_new_tokens):
            history = [r.ids + r.tokens for r in self.rows]
            chosen = next_tokens(logits, history, self.how, rng)
            now = time.perf_counter()
            for i, row in enumerate(self.rows):
                if row.reason is None:
                    piece = self._take(row, int(chosen[i]), now, last=step + 1 ==
                                       self.max_new_tokens)
                    if piece:
                        yield i, piece
            if all(r.reason for r in self.rows):
                break
            fed = [int(t) if r.reason is None else self.pad_id for t, r in zip(chosen,
                                                                                self.rows)]
            logits = self.decoder.step(batch, np.asarray(fed))
        self.results = [self._generation(r) for r in self.rows]

    def _take(self, row: _Row, token: int, now: float, *, last: bool) -> str:
        """Add a token to a row; the text it adds that is safe to show now (the rules a
        bundle's runtime follows too: :func:`~onnxkit.bundled.serving.textgen.take_token`)."""
        row.first_at = row.first_at or now
        row.last_at = now
        return take_token(row, token, self._decode, self.stop, self.eos, last=last)

    def _decode(self, tokens: list[int]) -> str:
        return self.tokenizer.decode(tokens, skip_special_tokens=True)

    def _generation(self, row: _Row) -> Generation:
        ttft_ms = (row.first_at - self.started) * 1e3
        n = len(row.tokens)
        speed = (n - 1) / (row.last_at - row.first_at) if n > 1 and row.last_at > \
            row.first_at else float("nan")
        return Generation(row.prompt, row.text, tuple(row.tokens), row.reason or "length",
                          len(row.ids), ttft_ms, speed)
