"""``tune``: the fastest quantized (or otherwise compressed) model within an accuracy budget,
found by trying recipes in the order :func:`preflight` suggests and, when a static model
misses the budget, keeping its worst layers (by :func:`debug`'s per-layer error) in float.

Every candidate is evaluated on the user's data against the float model and timed against it
in interleaved rounds; the trail of all of them is the result, with the winner: the fastest
that meets the budget and is faster than the float model beyond the noise, else none (keep
the float model).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from onnxkit.base import Params, graph_inputs
from onnxkit.bench import Speedup, evaluate, measure_models
from onnxkit.errors import Cancelled, OnnxkitError, ParameterError
from onnxkit.models import Model, ModelLike, load
from onnxkit.prune import find_groups, structured
from onnxkit.quantize import Preflight, debug, dynamic, preflight, static, weight_only
from onnxkit.runtime import validate_feeds
from onnxkit.study import _platforms
from onnxkit.study._measure import EVAL_BATCH, quality
from onnxkit.study._trail import Candidate, TuningResult
from onnxkit.transforms import fuse_transformer, to_fp16

CALIBRATION_ROWS = 128  # rows of data used to calibrate when no calibration is given
EXCLUDE_STEPS = (1, 2, 4, 8)  # worst layers kept in float, tried in turn
CONFIRM_BUDGET_S = 10.0  # the winner's second, head-to-head timing
Build = Callable[[], Model]


def _now() -> float:
    """The search's clock (tests inject one: the budget bounds a search, never its rules)."""
    return time.perf_counter()


def head_to_head(reference: Model, candidate: Model, feeds: dict[str, np.ndarray],
                 budget_s: float) -> tuple[float, Speedup]:
    """``candidate``'s p50 (ms) and its speedup over ``reference``, timed in interleaved
    rounds (tests inject figures here, as Study's tests do for its rows)."""
    timing, _ = measure_models({"reference": reference, "candidate": candidate}, feeds,
                               where="tune", min_rounds=5, max_rounds=15, budget_s=budget_s)
    return timing.percentile("candidate", 50), timing.speedup("candidate")


def platform_verdicts(model: Model, platforms: tuple[str, ...], data: dict[str, np.ndarray]
                      ) -> dict[str, str]:
    """platform -> "" or how ``model``'s outputs diverge there (tests inject verdicts here:
    the rule is what they check, not the emulator)."""
    return _platforms.verdicts(model, platforms, data)


@dataclass
class _Search:
    reference: Model
    data: dict[str, np.ndarray]
    labels: Any
    metric: Any
    calibration: Any
    max_drop: float | None
    max_error: float | None
    latency_feeds: dict[str, np.ndarray]
    deadline: float
    on_candidate: Callable[[TuningResult], None] | None
    checks: Preflight
    started: float
    min_speedup: float
    cluster: Any = None
    platforms: tuple[str, ...] = ()
    ref_score: float | None = None
    trail: list[Candidate] = field(default_factory=list)


def tune(model: ModelLike, data: Any, *, labels: Any = None, metric: Any = None,
         max_accuracy_drop: float | None = 0.01, max_error: float | None = None,
         calibration: Any = None, budget_s: float = 180.0, batch: int = 1,
         min_speedup: float = 1.05, progress: Callable[[int, int], None] | None = None,
         on_candidate: Callable[[TuningResult], None] | None = None,
         cluster: Any = None, platforms: Any = None) -> TuningResult:
    """Search for the fastest model that stays within the accuracy budget.

    Args:
        data: evaluation inputs (rows are samples): accuracy and error are measured on all
            of them, latency on the first ``batch`` rows.
        labels, metric: the true classes of ``data`` (accuracy), or ``metric(outputs,
            labels) -> float`` (higher is better). Needed for ``max_accuracy_drop``.
        max_accuracy_drop: the most score a candidate may lose (0.01 = one point).
        max_error: instead, the largest max abs error vs the float model (no labels needed).
        calibration: inputs for static quantization (default: the first 128 rows of data).
        budget_s: seconds for the whole search: no candidate starts after it (the first one
            always does); the answer is the best so far.
        batch: rows per run when timing (the first rows of ``data``).
        min_speedup: the answer must be faster than the float model beyond the noise and by
            this much (as :meth:`onnxkit.Study.best`: a few percent is not worth another model).
        progress: ``progress(done, planned)`` after each candidate; raising
            :class:`~onnxkit.errors.Cancelled` stops the search (the result says so).
        on_candidate: called after each candidate with the result so far (its trail and
            best so far; a panel draws it).
        cluster: an :func:`onnxkit.cluster.connect` cluster: the error and score of every
            candidate are computed on its workers (the same figures as here); latency is
            measured here.
        platforms: e.g. ``["linux/arm64"]``: each candidate within the budget also runs there
            (emulated, :func:`onnxkit.deploy.verify`, the first 64 rows of ``data``); one
            whose outputs diverge beyond its precision's tolerance is marked in the trail and
            never the answer. A platform this machine cannot emulate raises
            :class:`~onnxkit.errors.PlatformError` before the search starts.

    Returns:
        A :class:`TuningResult`: ``best`` (None: keep the float model), the trail, the
        preflight, and why.
    """
    reference = load(model)
    search = _start(reference, data, labels, metric, max_accuracy_drop, max_error,
                    calibration, budget_s, batch, on_candidate, min_speedup, cluster)
    search.platforms = _platforms.platforms_arg(platforms, "quantize.tune")
    _platforms.prepare(search.platforms)  # a platform it cannot emulate: raised now
    planned, stopped = 0, "tried every recipe"
    try:
        for label, params, build in _candidates(search, search.checks):
            if search.trail and _now() > search.deadline:
                stopped = "time budget spent"
                break
            _try(search, label, params, build)
            planned = max(planned, len(search.trail) + 1)
            if progress is not None:
                progress(len(search.trail), planned)
    except Cancelled:
        stopped = "cancelled"
    if stopped == "cancelled":  # the user asked to stop: the best so far, as it is
        result = _result(search, stopped)
        return result if result.winner is None else \
            replace(result, why=f"{result.why} (not timed again: cancelled)")
    return _result(search, stopped, confirm=lambda c: head_to_head(
        search.reference, load(c.model), search.latency_feeds, CONFIRM_BUDGET_S)[1])


def _result(search: _Search, stopped: str,
            confirm: Callable[[Candidate], Speedup] | None = None) -> TuningResult:
    return TuningResult.of(search.reference, search.trail, search.checks, search.ref_score,
                           search.max_drop, search.max_error, _now() - search.started,
                           stopped, search.min_speedup, confirm)


def _start(reference: Model, data: Any, labels: Any, metric: Any, max_drop: float | None,
           max_error: float | None, calibration: Any, budget_s: float, batch: int,
           on_candidate: Any, min_speedup: float, cluster: Any) -> _Search:
    arg = Params("quantize.tune")
    arg.number(min_speedup, "min_speedup", low=1.0)
    arg.number(budget_s, "budget_s", low=0, low_open=True)
    arg.integer(batch, "batch")
    if max_error is not None:
        arg.number(max_error, "max_error", low=0)
        max_drop = None
    elif max_drop is None or (labels is None and metric is None):
        raise ParameterError("quantize.tune: needs a budget it can check: max_accuracy_drop with "
                             "labels= (or metric=), or max_error= (no labels needed).")
    else:
        arg.number(max_drop, "max_accuracy_drop", low=0)
    arrays = validate_feeds(graph_inputs(reference.proto.graph), data)
    search = _Search(reference, arrays, labels, metric,
                     calibration if calibration is not None else
                     {k: v[:CALIBRATION_ROWS] for k, v in arrays.items()},
                     max_drop, max_error, {k: v[:batch] for k, v in arrays.items()},
                     _now() + budget_s, on_candidate, preflight(reference), _now(),
                     min_speedup, cluster)
    search.ref_score = evaluate(reference, arrays, labels=labels, metric=metric,
                                batch=EVAL_BATCH, cluster=cluster).score
    return search


def _candidates(search: _Search, checks: Preflight
                ) -> Iterator[tuple[str, dict[str, Any], Build]]:
    """The recipes, in the preflight's order; a static model that misses the budget is
    followed by the same recipe with its worst layers kept in float. Then, for transformers,
    ORT's fusions (and the start recipe on the fused graph), float16, and structured pruning
    (and the start recipe on the pruned graph)."""
    ref, calib = search.reference, search.calibration
    builds: dict[str, tuple[dict[str, Any], Build]] = {
        "static-qdq": ({"format": "qdq", "per_channel": True},
                       lambda: static(ref, calib, per_channel=True, progress=_quiet)),
        "static-qoperator": ({"format": "qoperator", "per_channel": True},
                             lambda: static(ref, calib, format="qoperator", per_channel=True,
                                            progress=_quiet)),
        "dynamic": ({}, lambda: dynamic(ref)),
        "int4": ({"bits": 4}, lambda: weight_only(ref)),
    }
    for recipe in checks.order:
        params, build = builds[recipe]
        yield recipe, params, build
        last = search.trail[-1]
        if recipe == "static-qdq" and last.meets is False and last.model:
            yield from _fallbacks(search, last)
    if checks.kind == "transformer":  # ORT's fusions: often the largest gain on CPU
        yield "fused", {}, lambda: fuse_transformer(ref, timed=False)
        if search.trail[-1].meets:
            fused = load(search.trail[-1].model)
            yield (f"fused + {checks.start}", {},
                   lambda: _start_recipe(checks.start, fused, calib))
    yield "fp16", {}, lambda: to_fp16(ref)
    if find_groups(ref.to_proto())[0]:
        yield "pruned-25", {"ratio": 0.25}, lambda: structured(ref, 0.25)
        if search.trail[-1].meets:
            pruned = load(search.trail[-1].model)
            yield (f"pruned-25 + {checks.start}", {"ratio": 0.25},
                   lambda: _start_recipe(checks.start, pruned, calib))


def _start_recipe(recipe: str, model: Model, calibration: Any) -> Model:
    if recipe.startswith("static"):
        return static(model, calibration, per_channel=True, progress=_quiet,
                      format="qoperator" if recipe.endswith("qoperator") else "qdq")
    return weight_only(model) if recipe == "int4" else dynamic(model)


def _fallbacks(search: _Search, missed: Candidate
               ) -> Iterator[tuple[str, dict[str, Any], Build]]:
    """The static QDQ recipe again with its 1, 2, 4, 8 worst layers kept in float."""
    errors = debug(search.reference, missed.model, search.calibration)
    ranked = [layer.node for layer in errors.layers if layer.node]
    for count in EXCLUDE_STEPS:
        exclude = list(dict.fromkeys(ranked))[:count]
        if len(exclude) < count and count > 1:
            return
        yield (f"static-qdq, {count} in float", {"exclude": exclude},
               functools.partial(static, search.reference, search.calibration,
                                 per_channel=True, exclude=exclude, progress=_quiet))
        if search.trail[-1].meets:
            return


def _try(search: _Search, label: str, params: dict[str, Any], build: Build) -> None:
    try:
        model = build()
        q = quality(model, search.reference, search.data, labels=search.labels,
                    metric=search.metric, cluster=search.cluster)
    except (OnnxkitError, RuntimeError, ValueError) as e:  # a recipe this model cannot take
        _record(search, Candidate(label, params, "", 0,
                                  error=f"{type(e).__name__}: {e}"[:300]))
        return
    p50, fast = head_to_head(search.reference, model, search.latency_feeds,
                             max(2.0, min(10.0, search.deadline - _now())))
    meets = _meets(search, q.score, q.max_abs_err)
    # only a candidate that could win is worth an emulated run
    there = platform_verdicts(model, search.platforms, search.data) \
        if meets and search.platforms else {}
    _record(search, Candidate(label, params, str(model.path), model.size_bytes, p50, fast,
                              q.max_abs_err, q.cosine, q.agreement, q.score, meets=meets,
                              platforms=there))


def _meets(search: _Search, score: float | None, error: float | None) -> bool:
    if search.max_error is not None:
        return error is not None and error <= search.max_error
    return (score is not None and search.ref_score is not None and search.max_drop is not None
            and search.ref_score - score <= search.max_drop)


def _record(search: _Search, candidate: Candidate) -> None:
    search.trail.append(candidate)
    if search.on_candidate is not None:
        search.on_candidate(_result(search, "searching"))


def _quiet(done: int, total: int) -> None:
    """Calibration inside a search: no progress bar of its own."""
