"""Perplexity: how surprised a model is by a text, ``exp`` of its mean negative log-likelihood
per predicted token, over windows of at most the model's context."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from onnxkit.errors import InputError

Logits = Callable[[list[int]], np.ndarray]  # token ids -> float32 [len, vocab]


def negative_log_likelihood(logits: np.ndarray, ids: Sequence[int]) -> np.ndarray:
    """Per predicted token (``ids[1:]``), from the logits after each position before it."""
    scores = logits[:-1].astype(np.float64)
    shifted = scores - scores.max(axis=-1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=-1))
    targets = np.asarray(ids[1:])
    return log_norm - shifted[np.arange(len(targets)), targets]


def perplexity_of(ids: Sequence[int], logits_of: Logits, *, window: int,
                  where: str = "perplexity") -> float:
    """The perplexity of ``ids`` with ``logits_of`` run on consecutive windows of ``window``
    tokens (no overlap: each token is predicted once, from the tokens of its window)."""
    if len(ids) < 2:
        raise InputError(f"{where}(text=...) must hold at least 2 tokens; it has {len(ids)}. "
                         "Pass a longer text.")
    losses = []
    for start in range(0, len(ids) - 1, window):
        chunk = list(ids[start:start + window])
        if len(chunk) >= 2:
            losses.append(negative_log_likelihood(logits_of(chunk), chunk))
    return float(np.exp(np.concatenate(losses).mean()))


def check_text(tokens: int = 256) -> str:
    """A text that ships with Python (``pydoc_data.topics``: the language reference's topics),
    long enough for ``tokens`` tokens in any tokenizer: the default text of perplexity and of
    an export's check."""
    from pydoc_data.topics import topics

    text = " ".join(topics[name] for name in ("assignment", "if", "while", "for"))
    return " ".join(text.split())[: tokens * 12]
