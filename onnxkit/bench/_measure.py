"""One way to compare speeds: interleaved rounds, paired ratios, an interval, a verdict.

Every model is timed once per round, in an order that rotates each round, so a change in the
machine's load hits them all alike. A round's figure for a model is the median of its runs in
that round; a speedup is the reference's round figure over the model's, paired within the
round; its interval is the distribution-free confidence interval of the median of those
per-round ratios (order statistics of a binomial, no assumption about the noise). Rounds are
added until the leader's interval and the reference separate (its 99% interval excludes 1,
which takes at least 8 rounds), or the budget is spent; then a speedup whose 95% interval
still holds 1 is *indistinguishable* from the reference.
"""

from __future__ import annotations

import functools
import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from onnxkit.base import integer, number, percentile
from onnxkit.models import ModelLike, load
from onnxkit.results import Result
from onnxkit.runtime import Feeds, Providers, create_session, prepare_feeds, resolve, run_session

Runner = Callable[[], Any]  # one run of one model (session.run with its feeds bound)
Progress = Callable[[int, int], None]
CONFIDENCE = 0.95  # of the intervals reported
# Rounds stop early only when the leader's interval at this stricter level excludes 1: looking
# after every round is many tests, and a 95% stop would call noise "faster" too often.
STOP_CONFIDENCE = 0.99
# Below this coverage (fewer than 5 rounds) an interval is too short to call anything faster.
VERDICT_CONFIDENCE = 0.9
ROUND_SHARE_S = 0.1  # each model's share of a round, in seconds of runs
MIN_RUNS = 3  # per model and round: a round's median of one run is as noisy as that run


@dataclass(frozen=True)
class Speedup(Result):
    """How much faster a model is than the reference (reference time / its time), with the
    ``confidence`` interval ``[low, high]`` of that ratio over ``rounds`` paired rounds."""

    median: float
    low: float
    high: float
    confidence: float
    rounds: int

    @property
    def verdict(self) -> str:
        """``"faster"`` or ``"slower"`` beyond the spread, else ``"indistinguishable"``
        (always, with fewer than 5 rounds: their range covers the median under 90% of the
        time)."""
        return speed_verdict(self.low, self.high, self.confidence)

    def columns(self) -> dict[str, float]:
        """The figures as a table's flat columns: ``speedup``, ``speedup_low``,
        ``speedup_high``."""
        return {"speedup": self.median, "speedup_low": self.low, "speedup_high": self.high}

    def __str__(self) -> str:
        return f"{self.median:.2f}x [{self.low:.2f}, {self.high:.2f}]"

    def __repr__(self) -> str:
        return (f"Speedup {self} ({self.confidence:.0%} interval over {self.rounds} rounds: "
                f"{self.verdict})")


@dataclass(frozen=True)
class Measurement(Result):
    """What :func:`measure` saw: every run of every model, grouped by round."""

    names: tuple[str, ...]
    samples: tuple[tuple[tuple[float, ...], ...], ...]  # [model][round] -> run times in ms
    stopped: str  # why the rounds ended: "separated", "budget", "rounds"

    @property
    def rounds(self) -> int:
        return len(self.samples[0]) if self.samples else 0

    def round_medians(self, name: str) -> list[float]:
        return [statistics.median(r) for r in self.samples[self.names.index(name)]]

    def pooled(self, name: str) -> list[float]:
        """Every timed run of one model, in milliseconds."""
        return [s for r in self.samples[self.names.index(name)] for s in r]

    def percentile(self, name: str, q: float) -> float:
        return percentile(self.pooled(name), q)

    def speedup(self, name: str, reference: str | None = None,
                confidence: float = CONFIDENCE) -> Speedup:
        """``name`` against ``reference`` (default: the first model), paired by round."""
        base = self.round_medians(reference or self.names[0])
        ratios = [b / t for b, t in zip(base, self.round_medians(name))]
        return speedup_interval(ratios, confidence)

    def _rows(self) -> list[dict[str, Any]]:
        return [{"model": n, "p50_ms": self.percentile(n, 50), "p90_ms": self.percentile(n, 90),
                 "speedup": str(self.speedup(n)), "runs": len(self.pooled(n))}
                for n in self.names]

    def __repr__(self) -> str:
        lines = [f"Measurement of {len(self.names)} models, {self.rounds} interleaved rounds "
                 f"(stopped: {self.stopped})"]
        lines += [f"  {n}: p50 {self.percentile(n, 50):.3f} ms, speedup {self.speedup(n)}"
                  for n in self.names]
        return "\n".join(lines)


def speed_verdict(low: float, high: float, confidence: float) -> str:
    """``"faster"``/``"slower"`` when the interval ``[low, high]`` excludes 1 and covers at
    least :data:`VERDICT_CONFIDENCE`, else ``"indistinguishable"``."""
    if confidence < VERDICT_CONFIDENCE:
        return "indistinguishable"
    if low > 1.0:
        return "faster"
    return "slower" if high < 1.0 else "indistinguishable"


def speedup_interval(ratios: Sequence[float], confidence: float = CONFIDENCE) -> Speedup:
    """The median of per-round ratios with its distribution-free confidence interval.

    With ``n`` rounds the interval runs from the ``k``-th smallest to the ``k``-th largest
    ratio, ``k`` the largest with ``P(Binomial(n, 1/2) < k) <= (1 - confidence) / 2``; with too
    few rounds for ``confidence`` it is the range, and ``confidence`` says what it covers.

    Examples:
        >>> from onnxkit.bench import speedup_interval
        >>> str(speedup_interval([1.1, 1.2, 1.15, 1.3, 1.05, 1.12]))
        '1.14x [1.05, 1.30]'
        >>> speedup_interval([1.1, 1.2, 1.15, 1.3, 1.05, 1.12]).verdict
        'faster'
    """
    values = sorted(ratios)
    n = len(values)
    if n == 0:
        return Speedup(float("nan"), float("nan"), float("nan"), 0.0, 0)
    k, covered = 1, 1 - 2 * 0.5 ** n  # the range
    while k + 1 <= n // 2:
        tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n  # P(B <= k)
        if 1 - 2 * tail < confidence:
            break
        k, covered = k + 1, 1 - 2 * tail
    return Speedup(statistics.median(values), values[k - 1], values[n - k], covered, n)


def measure(runners: Sequence[tuple[str, Runner]], *, min_rounds: int = 5,
            max_rounds: int = 30, budget_s: float | None = 20.0, runs: int | None = None,
            round_s: float = ROUND_SHARE_S, pairs: Sequence[tuple[str, str]] | None = None,
            progress: Progress | None = None, where: str = "measure") -> Measurement:
    """Time ``runners`` (``(name, run)``; the first is the reference) in interleaved rounds.

    Args:
        min_rounds: rounds always run; then one more at a time until the leader (the largest
            median speedup) separates from the reference, ``max_rounds`` or ``budget_s``.
        runs: runs of each model per round (default: as many as take ``round_s`` seconds, at
            least 3: fast models get many short runs, slow ones 3).
        pairs: ``(model, its reference)`` pairs that are compared (default: every model
            against the first); with several references, each one's leader must separate.
        progress: ``progress(round, max_rounds)`` after each round; it may raise to stop.

    Examples:
        >>> import time
        >>> from onnxkit.bench import measure
        >>> m = measure([("ref", lambda: time.sleep(0.002)), ("fast", lambda: None)],
        ...             min_rounds=3, max_rounds=3, runs=3)
        >>> m.rounds, m.speedup("fast").low > 1
        (3, True)
    """
    min_rounds = integer(min_rounds, where, "rounds", high=10_000)
    max_rounds = max(min_rounds, integer(max_rounds, where, "max_rounds", high=10_000))
    if budget_s is not None:
        number(budget_s, where, "budget_s", low=0, low_open=True)
    names = [name for name, _ in runners]
    pairs = list(pairs) if pairs is not None else [(n, names[0]) for n in names[1:]]
    counts = [runs or _runs_per_round(run, round_s) for _, run in runners]
    samples: list[list[tuple[float, ...]]] = [[] for _ in runners]
    started, stopped = time.perf_counter(), "rounds"
    for r in range(max_rounds):
        shift = r % len(runners)
        for i in [*range(shift, len(runners)), *range(shift)]:
            samples[i].append(_timed(runners[i][1], counts[i]))
        if progress is not None:
            progress(r + 1, max_rounds)
        if r + 1 >= min_rounds:
            partial = Measurement(tuple(names), tuple(tuple(s) for s in samples), "")
            if pairs and _leaders_separated(partial, pairs):
                stopped = "separated"
                break
            if budget_s is not None and time.perf_counter() - started > budget_s:
                stopped = "budget"
                break
    return Measurement(tuple(names), tuple(tuple(s) for s in samples), stopped)


def measure_models(models: Mapping[str, ModelLike], feeds: Feeds | None = None, *,
                   providers: Providers = None, threads: int | None = None,
                   where: str = "measure_models", **how: Any
                   ) -> tuple[Measurement, dict[str, float]]:
    """:func:`measure` of ONNX models: each gets a session (the milliseconds its creation
    took are returned by name) and one untimed run, then all are timed together on the same
    ``feeds``; the first model is the reference. ``how``: :func:`measure`'s arguments.

    Examples:
        >>> import onnxkit
        >>> from onnxkit.bench import measure_models
        >>> tiny = onnxkit.samples.tiny_model()
        >>> m, load_ms = measure_models({"a": tiny, "b": tiny}, min_rounds=3, max_rounds=3)
        >>> m.names, m.rounds, sorted(load_ms)
        (('a', 'b'), 3, ['a', 'b'])
    """
    resolved, _ = resolve(providers)
    handles = {name: load(model) for name, model in models.items()}
    arrays = prepare_feeds(next(iter(handles.values())), feeds)
    runners, load_ms = [], {}
    for name, handle in handles.items():
        start = time.perf_counter()
        sess = create_session(handle, resolved, threads=threads, where=where)
        load_ms[name] = (time.perf_counter() - start) * 1e3
        run_session(sess, arrays, handle.name)  # first run (allocations), untimed
        runners.append((name, functools.partial(sess.run, None, arrays)))
    return measure(runners, where=where, **how), load_ms


def measure_serialized(models: Mapping[str, bytes], feeds: Feeds | None, providers: Providers,
                       threads: int | None, how: Mapping[str, Any]
                       ) -> tuple[Measurement, dict[str, float]]:
    """:func:`measure_models` of serialized models: what a cluster node runs for a Study
    timed there (the models arrive as bytes; nothing assumes a shared filesystem)."""
    handles = {name: load(data, name=name) for name, data in models.items()}
    return measure_models(handles, feeds, providers=providers, threads=threads,
                          where="measure on a node", **how)


def _leaders_separated(m: Measurement, pairs: Sequence[tuple[str, str]]) -> bool:
    """Whether, for every reference, the fastest model against it is faster or slower beyond
    the spread."""
    leaders: dict[str, Speedup] = {}
    for name, reference in pairs:
        fast = m.speedup(name, reference, STOP_CONFIDENCE)
        if reference not in leaders or fast.median > leaders[reference].median:
            leaders[reference] = fast
    return all(s.confidence >= STOP_CONFIDENCE and s.verdict != "indistinguishable"
               for s in leaders.values())


def _runs_per_round(run: Runner, round_s: float) -> int:
    start = time.perf_counter()
    run()  # also a warm-up
    once = time.perf_counter() - start
    return max(MIN_RUNS, min(10_000, round(round_s / max(once, 1e-6))))


def _timed(run: Runner, count: int) -> tuple[float, ...]:
    clock, out = time.perf_counter, []
    for _ in range(count):
        t0 = clock()
        run()
        out.append((clock() - t0) * 1e3)
    return tuple(out)
