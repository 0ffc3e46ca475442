"""``benchmark``: time to first token and decode tokens/s of a language model, each with its
interval, over prompt lengths and batch sizes timed in interleaved rounds (every setting once
a round, in an order that rotates, so a change in the machine's load hits them all alike; the
interval is :func:`onnxkit.bench.speedup_interval`'s distribution-free one, of the median of
the per-round figures); ``perplexity`` on a text."""

from __future__ import annotations

import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from onnxkit.base import Params
from onnxkit.bench import speedup_interval
from onnxkit.llm._engine import Decoder
from onnxkit.llm._model import LanguageModel
from onnxkit.llm._perplexity import check_text, perplexity_of
from onnxkit.results import Result


@dataclass(frozen=True)
class Interval(Result):
    """A median with its ``confidence`` interval ``[low, high]`` over ``rounds`` rounds."""

    median: float
    low: float
    high: float
    confidence: float
    rounds: int

    def __str__(self) -> str:
        return f"{self.median:.4g} [{self.low:.4g}, {self.high:.4g}]"


def interval(values: Sequence[float]) -> Interval:
    """The median of ``values`` (one a round) with its distribution-free 95% interval."""
    s = speedup_interval(list(values))
    return Interval(s.median, s.low, s.high, s.confidence, s.rounds)


@dataclass(frozen=True)
class LLMSetting(Result):
    """One prompt length and batch size: time to first token (the prompt's pass and the first
    token, ms), decode tokens/s (every row's new tokens after the first, per second), and the
    KV cache's bytes at the end."""

    prompt_tokens: int
    batch: int
    new_tokens: int
    ttft_ms: Interval
    tokens_per_s: Interval
    kv_cache_bytes: int


@dataclass(frozen=True)
class LLMBenchmark(Result):
    """What :func:`benchmark` measured: one :class:`LLMSetting` per prompt length and batch;
    ``peak_rss_mb``: the process's peak resident memory when it ended."""

    name: str
    precision: str
    route: str
    settings: tuple[LLMSetting, ...]
    peak_rss_mb: float
    rounds: int

    def setting(self, prompt_tokens: int, batch: int = 1) -> LLMSetting:
        return next(s for s in self.settings if (s.prompt_tokens, s.batch) ==
                    (prompt_tokens, batch))

    def _rows(self) -> list[dict[str, Any]]:
        return [{"prompt_tokens": s.prompt_tokens, "batch": s.batch, "new_tokens": s.new_tokens,
                 "ttft_ms": s.ttft_ms.median, "ttft_ms_low": s.ttft_ms.low,
                 "ttft_ms_high": s.ttft_ms.high, "tokens_per_s": s.tokens_per_s.median,
                 "tokens_per_s_low": s.tokens_per_s.low,
                 "tokens_per_s_high": s.tokens_per_s.high,
                 "kv_cache_mb": s.kv_cache_bytes / 2**20} for s in self.settings]

    def __repr__(self) -> str:
        lines = [f"LLMBenchmark '{self.name}' ({self.precision}, route {self.route!r}), "
                 f"{self.rounds} interleaved rounds, peak RSS {self.peak_rss_mb:.0f} MB"]
        lines += [f"  prompt {s.prompt_tokens:>4} x batch {s.batch}: TTFT {s.ttft_ms} ms, "
                  f"decode {s.tokens_per_s} tokens/s, KV cache "
                  f"{s.kv_cache_bytes / 2**20:.1f} MB" for s in self.settings]
        return "\n".join(lines)


def timed_generation(decoder: Decoder, prompts: list[list[int]], new_tokens: int,
                     pad_id: int) -> tuple[float, float]:
    """``(ttft_ms, decode tokens/s)`` of one greedy generation of ``new_tokens`` a row."""
    start = time.perf_counter()
    batch, logits = decoder.prefill(prompts, pad_id,
                                    capacity=max(map(len, prompts)) + new_tokens)
    tokens = logits.argmax(axis=-1)
    first = time.perf_counter()
    for _ in range(new_tokens - 1):
        tokens = decoder.step(batch, tokens).argmax(axis=-1)
    end = time.perf_counter()
    speed = len(prompts) * (new_tokens - 1) / (end - first) if new_tokens > 1 else float("nan")
    return (first - start) * 1e3, speed


def benchmark(lm: LanguageModel, *, prompt_tokens: Sequence[int] = (32, 128, 512),
              new_tokens: int = 128, batch: Sequence[int] = (1, 4), rounds: int = 5,
              seed: int = 0) -> LLMBenchmark:
    """Time to first token and decode tokens/s at each prompt length and batch size.

    Prompts are random token ids of exactly ``prompt_tokens`` tokens; each setting generates
    ``new_tokens`` greedy tokens a row, once a round, for ``rounds`` interleaved rounds
    (after one untimed warm-up each). Settings that do not fit the model's context are left
    out (an error when none fits).
    """
    arg = Params("llm.benchmark")
    new_tokens = arg.integer(new_tokens, "new_tokens")
    rounds = arg.integer(rounds, "rounds", high=1000)
    lengths = [arg.integer(p, "prompt_tokens") for p in _listed(prompt_tokens)]
    sizes = [arg.integer(b, "batch", high=256) for b in _listed(batch)]
    fitting = [p for p in lengths if p + new_tokens <= lm.context_length]
    if not fitting:
        raise arg.invalid("prompt_tokens", f"lengths that leave room for {new_tokens} new "
                          f"tokens in the context of {lm.context_length}", list(lengths),
                          "pass shorter prompts or fewer new_tokens")
    rng = np.random.default_rng(seed)
    vocab = int(lm.config.get("vocab_size", 1000))
    settings = [(p, b) for p in fitting for b in sizes]
    prompts = {s: rng.integers(1, vocab, size=(s[1], s[0])).tolist() for s in settings}
    decoder, pad = lm.decoder, lm.pad_token_id
    for s in settings:  # warm-up: ORT's first run of each shape allocates
        timed_generation(decoder, prompts[s], min(new_tokens, 4), pad)
    seen: dict[tuple[int, int], list[tuple[float, float]]] = {s: [] for s in settings}
    for r in range(rounds):
        shift = r % len(settings)
        for s in settings[shift:] + settings[:shift]:
            seen[s].append(timed_generation(decoder, prompts[s], new_tokens, pad))
    rows = tuple(LLMSetting(p, b, new_tokens, interval([t for t, _ in seen[(p, b)]]),
                            interval([v for _, v in seen[(p, b)]]),
                            decoder.cache_bytes(b, p + new_tokens)) for p, b in settings)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return LLMBenchmark(lm.name, lm.precision, lm.route, rows, peak, rounds)


def perplexity(lm: LanguageModel, text: str | None = None, *, window: int | None = None
               ) -> float:
    """The model's perplexity on ``text`` (default: :func:`check_text`, from Python's own
    docs), over consecutive windows of ``window`` tokens (default: the context, at most 512).
    """
    arg = Params("llm.perplexity")
    if text is not None and not isinstance(text, str):
        raise arg.invalid("text", "a string", type(text).__name__)
    size = min(lm.context_length, 512) if window is None else arg.integer(
        window, "window", low=2, high=lm.context_length)
    ids = lm.tokenizer(text if text is not None else check_text(), verbose=False)["input_ids"]
    return perplexity_of(ids, lm.decoder.sequence_logits, window=size, where="llm.perplexity")


def _listed(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]
