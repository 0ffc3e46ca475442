"""Checking an export against ``transformers`` before it is returned: greedy tokens equal to
``transformers.generate``'s, the logits' cosine at each step (teacher-forced on the same
tokens, so one early difference does not spoil the rest), and the perplexity on a text
against the float32 model's."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from onnxkit.llm._engine import Decoder
from onnxkit.llm._perplexity import perplexity_of
from onnxkit.results import Result

CHECK_PROMPT = "The for statement is used to iterate over the elements of a sequence"
CHECK_TOKENS = 64
# What each precision must keep to pass: the smallest cosine of a step's logits (None: not a
# criterion: quantized weights move random-weight logits without changing what the model
# knows), the largest relative perplexity increase, and (fp32 only) every greedy token equal.
LIMITS: dict[str, tuple[float | None, float]] = {
    "fp32": (0.9999, 0.001), "fp16": (0.99, 0.02), "int8": (None, 0.05), "int4": (None, 0.15)}


@dataclass(frozen=True)
class Verification(Result):
    """An export checked against ``transformers`` (float32) on ``prompt``: ``greedy_equal``
    of ``greedy_tokens`` greedy tokens equal (counted up to the first difference), the
    logits' cosine per step (its min and mean), and the perplexity of both on a text.
    Truthy when it passed its precision's limits (:data:`LIMITS`)."""

    precision: str
    prompt: str
    greedy_equal: int
    greedy_tokens: int
    cosine_min: float
    cosine_mean: float
    perplexity: float
    reference_perplexity: float
    passed: bool

    @property
    def perplexity_change(self) -> float:
        """Relative: ``perplexity / reference_perplexity - 1`` (0.02 is 2% more surprised)."""
        return self.perplexity / self.reference_perplexity - 1

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        return (f"Verification {verdict} ({self.precision} vs transformers fp32): greedy "
                f"{self.greedy_equal}/{self.greedy_tokens} tokens equal, logits cosine min "
                f"{self.cosine_min:.6f} (mean {self.cosine_mean:.6f}), perplexity "
                f"{self.perplexity:.3f} vs {self.reference_perplexity:.3f} "
                f"({self.perplexity_change:+.2%})")


def verify(decoder: Decoder, tokenizer: Any, model: Any, *, precision: str, text: str,
           window: int, pad_id: int) -> Verification:
    """Compare ``decoder`` with the torch ``model`` (float32, eval) on the check prompt."""
    import torch

    prompt = tokenizer(CHECK_PROMPT, verbose=False)["input_ids"]
    reference = _reference_greedy(model, prompt, pad_id)
    ours = _greedy(decoder, prompt, pad_id)
    equal = next((i for i, (a, b) in enumerate(zip(ours, reference)) if a != b),
                 len(reference))
    with torch.no_grad():
        full = torch.tensor([prompt + reference[:-1]])
        expected = model(input_ids=full).logits[0, len(prompt) - 1:].float().numpy()
    got = _teacher_forced(decoder, prompt, reference[:-1], pad_id)
    cosines = [_cosine(a, b) for a, b in zip(got, expected)]
    ids = tokenizer(text, verbose=False)["input_ids"]

    def torch_logits(chunk: list[int]) -> np.ndarray:
        with torch.no_grad():
            return model(input_ids=torch.tensor([chunk])).logits[0].float().numpy()

    ppl = perplexity_of(ids, decoder.sequence_logits, window=window)
    ref_ppl = perplexity_of(ids, torch_logits, window=window)
    min_cosine, max_increase = LIMITS[precision]
    passed = ((min_cosine is None or min(cosines) >= min_cosine)
              and ppl / ref_ppl - 1 <= max_increase
              and (precision != "fp32" or equal == len(reference)))
    return Verification(precision, CHECK_PROMPT, equal, len(reference), float(min(cosines)),
                        float(np.mean(cosines)), ppl, ref_ppl, bool(passed))


def _reference_greedy(model: Any, prompt: list[int], pad_id: int) -> list[int]:
    """``transformers.generate``'s greedy tokens, the end-of-sequence token not stopping it."""
    import torch
    from transformers import GenerationConfig

    config = GenerationConfig(max_new_tokens=CHECK_TOKENS, min_new_tokens=CHECK_TOKENS,
                              do_sample=False, pad_token_id=pad_id, eos_token_id=None)
    with torch.no_grad():
        out = model.generate(torch.tensor([prompt]), attention_mask=torch.ones(
            1, len(prompt), dtype=torch.int64), generation_config=config)
    return out[0, len(prompt):].tolist()


def _greedy(decoder: Decoder, prompt: list[int], pad_id: int) -> list[int]:
    batch, logits = decoder.prefill([prompt], pad_id, capacity=len(prompt) + CHECK_TOKENS)
    tokens = [int(logits[0].argmax())]
    for _ in range(CHECK_TOKENS - 1):
        tokens.append(int(decoder.step(batch, np.array([tokens[-1]]))[0].argmax()))
    return tokens


def _teacher_forced(decoder: Decoder, prompt: list[int], tokens: list[int], pad_id: int
                    ) -> list[np.ndarray]:
    batch, logits = decoder.prefill([prompt], pad_id, capacity=len(prompt) + len(tokens) + 1)
    out = [logits[0]]
    for token in tokens:
        out.append(decoder.step(batch, np.array([token]))[0])
    return out


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64), b.astype(np.float64)
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b / norm) if norm else (1.0 if not a.any() and not b.any() else 0.0)


def no_verification(precision: str) -> Verification:
    """Placeholder for a model whose manifest holds no check (loaded from a bare folder)."""
    nan = math.nan
    return Verification(precision, "", 0, 0, nan, nan, nan, nan, False)
