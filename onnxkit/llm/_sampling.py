"""Choosing the next token from the logits: greedy, or sampled after a repetition penalty,
temperature, top-k and top-p (nucleus), with ``transformers``' meaning of each setting."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from onnxkit.base import Params


@dataclass(frozen=True)
class Sampling:
    """How :meth:`LanguageModel.generate` picks tokens (``do_sample=False``: the argmax)."""

    do_sample: bool = False
    temperature: float = 1.0
    top_k: int = 0  # 0: no top-k cut
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    seed: int | None = None


def sampling(*, do_sample: bool, temperature: float | None, top_k: int | None,
             top_p: float | None, repetition_penalty: float | None, seed: int | None,
             where: str = "generate") -> Sampling:
    """The settings checked (None: the default, which changes nothing)."""
    arg = Params(where)
    return Sampling(
        do_sample=arg.boolean(do_sample, "do_sample"),
        temperature=1.0 if temperature is None else arg.number(
            temperature, "temperature", low=0, low_open=True, high=100),
        top_k=0 if top_k is None else arg.integer(top_k, "top_k", low=0),
        top_p=1.0 if top_p is None else arg.number(top_p, "top_p", low=0, low_open=True,
                                                   high=1),
        repetition_penalty=1.0 if repetition_penalty is None else arg.number(
            repetition_penalty, "repetition_penalty", low=0, low_open=True, high=100),
        seed=None if seed is None else arg.integer(seed, "seed", low=0))


def next_tokens(logits: np.ndarray, history: Sequence[Sequence[int]], how: Sampling,
                rng: np.random.Generator) -> np.ndarray:
    """One token for each row of ``logits`` (``[batch, vocab]``); ``history``: each row's
    tokens so far (prompt and generated), which the repetition penalty discourages.

    Examples:
        >>> import numpy as np
        >>> from onnxkit.llm import Sampling, next_tokens
        >>> logits = np.array([[0.1, 2.0, 0.5]], np.float32)
        >>> next_tokens(logits, [[]], Sampling(), np.random.default_rng(0)).tolist()
        [1]
        >>> next_tokens(logits, [[1]], Sampling(repetition_penalty=10.0),
        ...             np.random.default_rng(0)).tolist()
        [2]
    """
    scores = logits.astype(np.float32, copy=True)
    if how.repetition_penalty != 1.0:
        for row, seen in enumerate(history):
            ids = np.unique(np.asarray(seen, dtype=np.int64))
            picked = scores[row, ids]
            scores[row, ids] = np.where(picked > 0, picked / how.repetition_penalty,
                                        picked * how.repetition_penalty)
    if not how.do_sample:
        return scores.argmax(axis=-1)
    scores /= how.temperature
    if how.top_k and how.top_k < scores.shape[-1]:
        kth = np.partition(scores, -how.top_k, axis=-1)[:, -how.top_k, None]
        scores = np.where(scores < kth, -np.inf, scores)
    probs = _softmax(scores)
    if how.top_p < 1.0:
        probs = _nucleus(probs, how.top_p)
    return np.array([rng.choice(len(p), p=p) for p in probs])


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _nucleus(probs: np.ndarray, top_p: float) -> np.ndarray:
    """Keep the most likely tokens whose mass reaches ``top_p`` (at least one), renormalized."""
    order = np.argsort(-probs, axis=-1)
    sorted_probs = np.take_along_axis(probs, order, axis=-1)
    before = np.cumsum(sorted_probs, axis=-1) - sorted_probs  # mass ahead of each token
    keep_sorted = before < top_p
    keep = np.zeros_like(keep_sorted)
    np.put_along_axis(keep, order, keep_sorted, axis=-1)
    kept = np.where(keep, probs, 0.0)
    return kept / kept.sum(axis=-1, keepdims=True)
