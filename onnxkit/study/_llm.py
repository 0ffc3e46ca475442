"""``LLMStudy``: variants of one decoder language model (precisions, int4 block sizes,
accuracy levels, k-quant) side by side on decode tokens/s and perplexity.

Every variant is exported from the same source and verified (``onnxkit.llm.export``); all are
timed in interleaved rounds (every model once a round, in an order that rotates), and each
variant's speedup is its tokens/s over the fp32 reference's, paired by round, with its 95%
interval. ``best(max_perplexity_increase=...)`` keeps the variants within the limit and picks
by the Study's one rule (:func:`onnxkit.study._pick.pick`): faster beyond the noise, the
smallest among those tied, confirmed head to head.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from onnxkit import llm
from onnxkit.base import Params
from onnxkit.bench import Speedup, speedup_interval
from onnxkit.errors import NotFoundError, OnnxkitError, ParameterError
from onnxkit.results import Result
from onnxkit.study._pick import pick

REFERENCE = "fp32"
# name -> export options: the questions worth asking of a decoder on the CPU
DEFAULT_VARIANTS: dict[str, dict[str, Any]] = {
    "fp16": {"precision": "fp16"},
    "int8": {"precision": "int8"},
    "int4": {"precision": "int4"},  # round to nearest, blocks of 128, int8 activations
    "int4-b32": {"precision": "int4", "block_size": 32},
    "int4-k_quant": {"precision": "int4", "algorithm": "k_quant"},
    "int4-fp32-compute": {"precision": "int4", "accuracy_level": 1},
}


@dataclass(frozen=True)
class LLMVariant(Result):
    """One row of an :class:`LLMStudy`: an exported variant and what was measured on it.

    ``speedup``: its decode tokens/s over the reference's, paired by round (None: not timed,
    ``error`` says why); ``perplexity_increase``: relative to the reference (0.01 is 1%)."""

    name: str
    options: dict[str, Any]
    path: str | None
    size_bytes: int
    tokens_per_s: float
    ttft_ms: float
    perplexity: float
    perplexity_increase: float
    speedup: Speedup | None
    error: str = ""

    def __repr__(self) -> str:
        if self.error:
            return f"LLMVariant '{self.name}': failed: {self.error}"
        return (f"LLMVariant '{self.name}': {self.tokens_per_s:.1f} tokens/s ({self.speedup}), "
                f"TTFT {self.ttft_ms:.1f} ms, perplexity {self.perplexity:.3f} "
                f"({self.perplexity_increase:+.2%}), {self.size_bytes / 2**20:.1f} MB")


@dataclass(frozen=True)
class LLMChoice(Result):
    """What :meth:`LLMStudy.best` answers: the variant to ship (possibly the reference) and
    ``why``, in a sentence."""

    variant: LLMVariant
    why: str

    @property
    def name(self) -> str:
        return self.variant.name

    @property
    def keeps_reference(self) -> bool:
        return self.variant.name == REFERENCE

    def __repr__(self) -> str:
        return f"LLMChoice '{self.variant.name}': {self.why}"


def choose(rows: Sequence[LLMVariant], *, max_perplexity_increase: float | None,
           min_speedup: float = 1.0,
           confirm: Callable[[LLMVariant], Speedup] | None = None) -> LLMChoice:
    """The variant to ship among ``rows`` (the reference first): within the perplexity limit,
    then :func:`~onnxkit.study._pick.pick`'s rule on the tokens/s speedup."""
    arg = Params("LLMStudy.best")
    if max_perplexity_increase is not None:
        arg.number(max_perplexity_increase, "max_perplexity_increase", low=0.0)
    arg.number(min_speedup, "min_speedup", low=1.0)
    reference = next(r for r in rows if r.name == REFERENCE)
    candidates = [r for r in rows if r.name != REFERENCE and not r.error]
    ok = [r for r in candidates if max_perplexity_increase is None
          or r.perplexity_increase <= max_perplexity_increase]
    if not ok:
        limit = f"perplexity increase <= {max_perplexity_increase:.2%}"
        closest = min(candidates, key=lambda r: r.perplexity_increase, default=None)
        why = f"no variant is within {limit}" + (
            f" (the closest, '{closest.name}', is {closest.perplexity_increase:+.2%})"
            if closest else "")
        return LLMChoice(reference, f"keep the reference: {why}")
    found = pick(ok, min_speedup=min_speedup, confirm=confirm, reference="fp32")
    if found.winner is None:
        return LLMChoice(reference, f"keep the reference: {found.why}")
    return LLMChoice(found.winner, found.why)


@dataclass
class _Timing:
    """Per-round figures of every model, ``{name: [(ttft_ms, tokens/s), ...]}``."""

    rounds: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    def speedup(self, name: str) -> Speedup:
        ref, mine = self.rounds[REFERENCE], self.rounds[name]
        return speedup_interval([m[1] / r[1] for m, r in zip(mine, ref)])

    def median(self, name: str, which: int) -> float:
        return float(np.median([r[which] for r in self.rounds[name]]))


def timed_rounds(models: Mapping[str, llm.LanguageModel], prompt: list[int], new_tokens: int,
                 rounds: int) -> _Timing:
    """Every model timed once a round on the same prompt, in an order that rotates."""
    names = list(models)
    for name in names:  # warm-up: the first run of each shape allocates
        llm.timed_generation(models[name].decoder, [prompt], min(new_tokens, 4),
                             models[name].pad_token_id)
    timing = _Timing({n: [] for n in names})
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            lm = models[name]
            timing.rounds[name].append(llm.timed_generation(lm.decoder, [prompt], new_tokens,
                                                            lm.pad_token_id))
    return timing


class LLMStudy(Result):
    """Variants of one decoder on decode tokens/s vs perplexity, each against fp32.

    Args:
        source: what :func:`onnxkit.llm.export` takes (a Hugging Face folder...).
        variants: ``{name: export options}`` (default :data:`DEFAULT_VARIANTS`: fp16, int8,
            int4 at blocks of 128 and 32, k-quant, float32 compute); the reference ``"fp32"``
            is always exported. A variant whose export fails is kept as a row with its error.
        text: the perplexity text (default: :func:`onnxkit.llm.check_text`).
        prompt_tokens, new_tokens, rounds: what each timed generation does, how many rounds.
        out: the folder the variants are exported into (default: the workspace's).

    Examples:
        >>> study = onnxkit.LLMStudy("./my-llama")  # doctest: +SKIP
        >>> study.best(max_perplexity_increase=0.02)  # doctest: +SKIP
    """

    def __init__(self, source: Any, *, variants: Mapping[str, Mapping[str, Any]] | None = None,
                 text: str | None = None, prompt_tokens: int = 32, new_tokens: int = 32,
                 rounds: int = 8, route: str | None = None,
                 out: str | os.PathLike[str] | None = None) -> None:
        arg = Params("LLMStudy")
        wanted = dict(DEFAULT_VARIANTS if variants is None else variants)
        if REFERENCE in wanted or not all(isinstance(o, Mapping) for o in wanted.values()):
            raise arg.invalid("variants", f"a mapping of names (not {REFERENCE!r}, the "
                              "reference) to export options", variants)
        self.prompt_tokens = arg.integer(prompt_tokens, "prompt_tokens")
        self.new_tokens = arg.integer(new_tokens, "new_tokens", low=2)
        self.rounds = arg.integer(rounds, "rounds", high=1000)
        self.text = text
        folder = Path(out) if out is not None else None
        models, errors = {}, {}
        for name, options in {REFERENCE: {"precision": "fp32"}, **wanted}.items():
            try:
                target = None if folder is None else folder / name
                with warnings.catch_warnings():  # a failed check shows as perplexity here
                    warnings.simplefilter("ignore")
                    models[name] = llm.export(source, route=route, out=target, **options)
            except OnnxkitError as e:
                if name == REFERENCE:
                    raise
                errors[name] = str(e).splitlines()[0]
        self._options = {REFERENCE: {"precision": "fp32"}, **wanted}
        self._models = models
        self._errors = errors
        self._measure()

    def _measure(self) -> None:
        ref = self._models[REFERENCE]
        vocab = int(ref.config.get("vocab_size", 1000))
        prompt = np.random.default_rng(0).integers(1, vocab, self.prompt_tokens).tolist()
        self._timing = timed_rounds(self._models, prompt, self.new_tokens, self.rounds)
        self._perplexity = {n: llm.perplexity(m, self.text) for n, m in self._models.items()}

    def rows(self) -> list[LLMVariant]:
        ref_ppl = self._perplexity[REFERENCE]
        out = []
        for name, options in self._options.items():
            if name in self._errors:
                nan = math.nan
                out.append(LLMVariant(name, dict(options), None, 0, nan, nan, nan, nan, None,
                                      self._errors[name]))
                continue
            lm, ppl = self._models[name], self._perplexity[name]
            out.append(LLMVariant(
                name, dict(options), str(lm.path), _size(lm.path),
                self._timing.median(name, 1), self._timing.median(name, 0), ppl,
                ppl / ref_ppl - 1, self._timing.speedup(name)))
        return out

    def __getitem__(self, name: str) -> LLMVariant:
        found = {r.name: r for r in self.rows()}
        if name not in found:
            raise NotFoundError(f"LLMStudy[{name!r}]: no such variant; it has {sorted(found)}.")
        return found[name]

    def model(self, name: str) -> llm.LanguageModel:
        """The exported :class:`~onnxkit.llm.LanguageModel` of a variant."""
        if name not in self._models:
            raise NotFoundError(f"LLMStudy.model({name!r}): no exported variant of that name; "
                                f"it has {sorted(self._models)}.")
        return self._models[name]

    def confirm(self, name: str) -> Speedup:
        """``name`` timed against the reference once more, head to head."""
        if name not in self._models or name == REFERENCE:
            raise ParameterError(f"LLMStudy.confirm(name=...): {name!r} is not a timed variant.")
        vocab = int(self._models[REFERENCE].config.get("vocab_size", 1000))
        prompt = np.random.default_rng(1).integers(1, vocab, self.prompt_tokens).tolist()
        pair = {REFERENCE: self._models[REFERENCE], name: self._models[name]}
        return timed_rounds(pair, prompt, self.new_tokens, self.rounds).speedup(name)

    def best(self, *, max_perplexity_increase: float | None = None,
             min_speedup: float = 1.0) -> LLMChoice:
        """The variant to ship: within ``max_perplexity_increase`` (relative, 0.02 is 2%),
        faster than fp32 beyond the noise (and by ``min_speedup``), the smallest among those
        tied, and still faster timed head to head again; else the reference."""
        return choose(self.rows(), max_perplexity_increase=max_perplexity_increase,
                      min_speedup=min_speedup, confirm=lambda r: self.confirm(r.name))

    def to_dict(self) -> dict[str, Any]:
        return {"rows": [r.to_dict() for r in self.rows()], "prompt_tokens": self.prompt_tokens,
                "new_tokens": self.new_tokens, "rounds": self.rounds}

    def _rows(self) -> list[dict[str, Any]]:
        return [{"variant": r.name, "tokens_per_s": r.tokens_per_s,
                 "speedup": None if r.speedup is None else r.speedup.median,
                 "speedup_low": None if r.speedup is None else r.speedup.low,
                 "speedup_high": None if r.speedup is None else r.speedup.high,
                 "ttft_ms": r.ttft_ms, "perplexity": r.perplexity,
                 "perplexity_increase": r.perplexity_increase, "size_mb": r.size_bytes / 2**20,
                 "error": r.error} for r in self.rows()]

    def __repr__(self) -> str:
        lines = [f"LLMStudy: {len(self._options)} variants, prompt {self.prompt_tokens}, "
                 f"{self.new_tokens} new tokens, {self.rounds} interleaved rounds"]
        return "\n".join(lines + [f"  {r!r}" for r in self.rows()])


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).iterdir()
               if p.name.startswith("model") or p.suffix in (".onnx", ".data"))
