"""What :class:`~onnxkit.Study` measures: signatures, quality vs the reference, latency, memory."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from onnxkit.base import Params, TensorInfo, graph_inputs, graph_outputs
from onnxkit.bench import Measurement, evaluate, measure_models, measure_serialized
from onnxkit.errors import InputError, ParameterError
from onnxkit.models import Model, ModelLike, load
from onnxkit.runtime import prepare_feeds, random_inputs, resolve, validate_feeds
from onnxkit.study._memory import peak_memory

Metric = Callable[[dict[str, np.ndarray], Any], float]
Progress = Callable[[int, int], None]


# --- data -----------------------------------------------------------------------------------

def evaluation_data(reference: Model, data: Any, labels: Any, rows: int
                    ) -> dict[str, np.ndarray]:
    """The evaluation inputs, checked (default: ``rows`` rows of random inputs)."""
    if data is None:
        if labels is not None:
            raise ParameterError("Study(labels=...) needs the data they label: pass "
                                 "data=... (rows are samples) as well.")
        return random_inputs(reference, batch=rows, seed=0)
    try:
        arrays = validate_feeds(graph_inputs(reference.proto.graph), data)
    except InputError as e:
        raise InputError(f"Study(data=...): {e}") from e
    counts = sorted({len(v) for v in arrays.values()})
    if labels is not None and counts != [len(labels)]:
        raise InputError(f"Study: {len(labels)} labels for {counts} rows of data; there must "
                         "be one label per row.")
    return arrays


def latency_feeds(reference: Model, data: dict[str, np.ndarray], feeds: Any, have_data: bool,
                  batch: int) -> dict[str, np.ndarray]:
    """What each timed run takes: the given feeds, else the first ``batch`` rows of data."""
    if feeds is None and have_data:
        return {k: v[:batch] for k, v in data.items()}
    try:
        return prepare_feeds(reference, feeds)
    except InputError as e:
        raise InputError(f"Study(feeds=...): {e}") from e


@dataclass(frozen=True)
class Where:
    """Where a Study computes: its ``cluster`` (None: here) and the node it times ``on``."""

    cluster: Any = None
    on: str | None = None

    def __post_init__(self) -> None:
        if self.on is not None and self.cluster is None:
            raise ParameterError("Study(on=...) names a node of a cluster; pass cluster="
                                 "onnxkit.cluster.connect(...) as well.")

    def describe(self) -> str:
        if self.cluster is None:
            return "this machine"
        node = f", timed on node {self.on}" if self.on else ""
        return f"{self.cluster.address}{node}"


# --- signature ------------------------------------------------------------------------------

def interface_difference(reference: ModelLike, variant: ModelLike) -> str | None:
    """The first input or output in which ``variant`` differs from ``reference`` (names,
    dtypes, shapes; a dynamic dim matches any size), in words; None when a :class:`Study` of
    ``reference`` can take ``variant`` (``Study.interface_difference``).

    Examples:
        >>> from onnxkit import Study, samples
        >>> Study.interface_difference(samples.tiny_model(), samples.tiny_model()) is None
        True
    """
    reference, variant = load(reference), load(variant)
    for kind, get in (("input", graph_inputs), ("output", graph_outputs)):
        problem = _first_difference(kind, get(reference.proto.graph), get(variant.proto.graph))
        if problem:
            return problem
    return None


def check_signature(reference: Model, variant: Model, name: str) -> None:
    """Raise :class:`ParameterError` naming the first input/output that differs."""
    problem = interface_difference(reference, variant)
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

EVAL_BATCH = 256  # rows per batch of the quality figures, here and on a cluster alike


@dataclass(frozen=True)
class Quality:
    """Error of a variant's outputs vs the reference's, on the evaluation data."""

    max_abs_err: float | None  # over every float output
    cosine: float | None  # the lowest over the float outputs
    agreement: float | None  # top-1 (class scores) or equal labels (integer outputs), lowest
    score: float | None  # accuracy (argmax of the first output) or the user's metric


def quality(model: Model, reference: Model, data: Any, *, labels: Any = None,
            metric: Metric | None = None, cluster: Any = None, providers: Any = None
            ) -> Quality:
    """Every output of ``model`` against ``reference``'s on ``data``, and the score: the one
    path Study, assess and tune take (:func:`onnxkit.evaluate`'s reductions, in batches of
    :data:`EVAL_BATCH` rows), so the figures are the same here and on a cluster."""
    e = evaluate(model, data, labels=labels, metric=metric, reference=reference,
                 batch=EVAL_BATCH, cluster=cluster,
                 providers=providers if cluster is None else None)
    return Quality(e.max_abs_err, e.cosine, e.agreement, e.score)


# --- latency --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Plan:
    """How long to time: at least ``rounds`` interleaved rounds, at most ``max_rounds`` or
    ``budget_s`` seconds, ``runs`` runs of each model a round (None: about 100 ms of them,
    3 at least)."""

    rounds: int
    max_rounds: int
    runs: int | None
    budget_s: float | None


def plan(rounds: int, max_rounds: int, runs: int | None, budget_s: float | None) -> Plan:
    """A :class:`Plan` from ``Study``'s arguments, checked."""
    arg = Params("Study")
    arg.integer(rounds, "rounds", high=10_000)
    arg.integer(max_rounds, "max_rounds", high=10_000)
    if runs is not None:
        arg.integer(runs, "runs", high=100_000)
    if budget_s is not None:
        arg.number(budget_s, "budget_s", low=0, low_open=True)
    return Plan(rounds, max(rounds, max_rounds), runs, budget_s)


def timed(models: Mapping[str, Model], feeds: dict[str, np.ndarray], *, providers: Any,
          threads: int | None, plan: Plan, progress: Progress | None = None,
          where: Where = Where()) -> tuple[Measurement, dict[str, float]]:
    """Every model timed in the same interleaved rounds, the first as the reference
    (:func:`onnxkit.bench.measure_models`), with the time each took to load; on the node
    ``where.on`` when one is named (the models travel as bytes)."""
    how = {"min_rounds": plan.rounds, "max_rounds": plan.max_rounds,
           "budget_s": plan.budget_s, "runs": plan.runs}
    if where.on is None:
        return measure_models(models, feeds, providers=providers, threads=threads,
                              where="Study", progress=progress, **how)
    node = where.cluster.node(where.on)
    for provider in resolve(providers)[0]:
        where.cluster.node_with(provider[0], node.node_id)
    serialized = {n: m.to_proto().SerializeToString() for n, m in models.items()}
    return where.cluster.run_on(node.node_id, measure_serialized, serialized, feeds,
                                providers, threads, how)


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
