"""What :class:`~onnxkit.Study` measures: signatures, quality vs the reference, latency, memory."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from onnxkit.base import TensorInfo, graph_inputs, graph_outputs, integer, number
from onnxkit.errors import ParameterError
from onnxkit.models import Model
from onnxkit.runtime import Measurement, accuracy, compare, measure_models
from onnxkit.study._memory import peak_memory

Metric = Callable[[dict[str, np.ndarray], Any], float]
Progress = Callable[[int, int], None]


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
class Plan:
    """How long to time: at least ``rounds`` interleaved rounds, at most ``max_rounds`` or
    ``budget_s`` seconds, ``runs`` runs of each model a round (None: about 50 ms of them)."""

    rounds: int
    max_rounds: int
    runs: int | None
    budget_s: float | None


def plan(rounds: int, max_rounds: int, runs: int | None, budget_s: float | None) -> Plan:
    """A :class:`Plan` from ``Study``'s arguments, checked."""
    integer(rounds, "Study", "rounds", high=10_000)
    integer(max_rounds, "Study", "max_rounds", high=10_000)
    if runs is not None:
        integer(runs, "Study", "runs", high=100_000)
    if budget_s is not None:
        number(budget_s, "Study", "budget_s", low=0, low_open=True)
    return Plan(rounds, max(rounds, max_rounds), runs, budget_s)


def timed(models: Mapping[str, Model], feeds: dict[str, np.ndarray], *, providers: Any,
          threads: int | None, plan: Plan, progress: Progress | None = None
          ) -> tuple[Measurement, dict[str, float]]:
    """Every model timed in the same interleaved rounds, the first as the reference
    (:func:`onnxkit.runtime.measure_models`), with the time each took to load."""
    return measure_models(models, feeds, providers=providers, threads=threads, where="Study",
                          min_rounds=plan.rounds, max_rounds=plan.max_rounds,
                          budget_s=plan.budget_s, runs=plan.runs, progress=progress)


def size_note(variant: Model, reference: Model) -> str:
    """Why a variant is larger than the reference, when it is (more than 5%)."""
    ratio = variant.size_bytes / max(reference.size_bytes, 1)
    if ratio <= 1.05:
        return ""
    extra = _duplicated_bytes(variant) - _duplicated_bytes(reference)
    why = (f": tied weights stored twice ({extra / 1e6:.2f} MB of repeated tensors, e.g. an "
           "embedding shared with the output layer, copied by a graph optimization)"
           if extra > 0.05 * reference.size_bytes else "")
    return f"{ratio:.2f}x the reference's size{why}"


def _duplicated_bytes(model: Model) -> int:
    """Bytes of initializers whose content another initializer already holds."""
    seen: set[bytes] = set()
    duplicated = 0
    for tensor in model.to_proto().graph.initializer:
        data = tensor.raw_data
        if len(data) < 4096:
            continue
        digest = hashlib.sha1(data).digest()
        duplicated += len(data) if digest in seen else 0
        seen.add(digest)
    return duplicated


# --- memory ---------------------------------------------------------------------------------

def peak_memories(models: Sequence[Model], feeds: dict[str, np.ndarray], *, providers: Any,
                  threads: int | None) -> list[int | None]:
    """Each model's session peak memory, each in its own child process, two at a time (the
    figure does not depend on CPU contention, and children mostly wait on imports)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(
            lambda m: peak_memory(m, feeds, providers=providers, threads=threads), models))
