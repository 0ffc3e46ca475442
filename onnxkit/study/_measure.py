"""What :class:`~onnxkit.Study` measures: signatures, quality vs the reference, latency, memory."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from onnxkit.base import TensorInfo, graph_inputs, graph_outputs
from onnxkit.errors import ParameterError
from onnxkit.models import Model
from onnxkit.runtime import accuracy, compare
from onnxkit.runtime import interleaved as timed
from onnxkit.study._memory import peak_memory

Metric = Callable[[dict[str, np.ndarray], Any], float]


# --- signature ------------------------------------------------------------------------------

def check_signature(reference: Model, variant: Model, name: str) -> None:
    """Raise :class:`ParameterError` naming the first input/output that differs."""
    for kind, get in (("input", graph_inputs), ("output", graph_outputs)):
        want, got = get(reference.proto.graph), get(variant.proto.graph)
        problem = _first_difference(kind, want, got)
        if problem:
            raise ParameterError(
                f"Study.add('{name}', model=...): '{variant.name}' does not have the reference "
                f"'{reference.name}''s interface: {problem}. A variant must take the same inputs "
                "and give the same outputs (names, dtypes, shapes), so that both run on the "
                "same data; keep_io_types=True (to_fp16) and dynamic dims keep it.")


def _first_difference(kind: str, want: Sequence[TensorInfo], got: Sequence[TensorInfo]
                      ) -> str | None:
    by_name = {t.name: t for t in got}
    missing = [t.name for t in want if t.name not in by_name]
    extra = [t.name for t in got if t.name not in {w.name for w in want}]
    if missing or extra:
        return (f"{kind} names {[t.name for t in got]} != reference {[t.name for t in want]}"
                f" (missing {missing}, unexpected {extra})")
    for ref in want:
        cand = by_name[ref.name]
        if cand.dtype != ref.dtype:
            return f"{kind} '{ref.name}' has dtype {cand.dtype}, the reference {ref.dtype}"
        if not _shapes_match(ref.shape, cand.shape):
            return (f"{kind} '{ref.name}' has shape {_fmt_shape(cand.shape)}, the reference "
                    f"{_fmt_shape(ref.shape)}")
    return None


def _shapes_match(a: tuple[Any, ...] | None, b: tuple[Any, ...] | None) -> bool:
    """Same rank, and each dim the same size or dynamic in both (dim names may differ)."""
    if a is None or b is None:
        return True  # unknown rank: nothing to hold against it
    if len(a) != len(b):
        return False
    return all(x == y or "?" in (x, y) or (isinstance(x, str) and isinstance(y, str))
               for x, y in zip(a, b))


def _fmt_shape(shape: tuple[Any, ...] | None) -> str:
    return "[...]" if shape is None else "[" + ", ".join(map(str, shape)) + "]"


# --- quality --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Quality:
    """Error of a variant's outputs vs the reference's, on the evaluation data."""

    max_abs_err: float | None  # over every float output
    cosine: float | None  # the lowest over the float outputs
    agreement: float | None  # top-1 (class scores) or equal labels (integer outputs), lowest
    score: float | None  # accuracy or the user's metric


def quality(expected: Mapping[str, np.ndarray], outputs: dict[str, np.ndarray],
            labels: Any, metric: Metric | None) -> Quality:
    diffs = compare(expected, outputs, rtol=0, atol=0).outputs
    errors = [d.max_abs for d in diffs if d.max_abs is not None]
    cosines = [d.cosine for d in diffs if d.cosine is not None]
    agreements = [a for a in map(_agreement, diffs) if a is not None]
    return Quality(max(errors) if errors else None, min(cosines) if cosines else None,
                   min(agreements) if agreements else None, score(outputs, labels, metric))


def _agreement(diff: Any) -> float | None:
    if diff.argmax_agreement is not None:
        return diff.argmax_agreement
    if diff.max_abs is None and diff.shape is not None and len(diff.shape) == 1:
        return 1.0 - diff.mismatches / max(diff.shape[0], 1)  # class labels: share equal
    return None


def score(outputs: dict[str, np.ndarray], labels: Any, metric: Metric | None) -> float | None:
    """The user's metric, else accuracy (argmax of the first output) when there are labels."""

    if metric is not None:
        return float(metric(outputs, labels))
    if labels is None:
        return None
    return accuracy(next(iter(outputs.values())), labels)


# --- latency --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Latency:
    p50_ms: float
    p90_ms: float
    load_ms: float  # median session creation


def interleaved(models: Sequence[Model], feeds: dict[str, np.ndarray], *, providers: Any,
                threads: int | None, rounds: int, runs: int) -> list[Latency]:
    """Latency of each model, timed in rotating round-robin rounds (``_bench.interleaved``):
    on a shared machine the speed drifts over seconds, and timing models one after another
    would credit that drift to whichever ran in the quiet moment. The percentiles pool every
    timed run of every round; the load time is the median session creation."""

    extra = {"providers": providers, "threads": threads}
    per_model = timed([(m, extra) for m in models], feeds, rounds=rounds, runs=runs)
    out = []
    for results in per_model:
        samples = [s for r in results for s in r.samples]
        out.append(Latency(float(np.percentile(samples, 50)), float(np.percentile(samples, 90)),
                           statistics.median(r.session_ms for r in results)))
    return out


# --- memory ---------------------------------------------------------------------------------

def peak_memories(models: Sequence[Model], feeds: dict[str, np.ndarray], *, providers: Any,
                  threads: int | None) -> list[int | None]:
    """Each model's session peak memory, each in its own child process, two at a time (the
    figure does not depend on CPU contention, and children mostly wait on imports)."""
    from concurrent.futures import ThreadPoolExecutor


    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(
            lambda m: peak_memory(m, feeds, providers=providers, threads=threads), models))
