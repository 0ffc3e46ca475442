"""``Study``: variants of one model side by side: size, speed, memory, error, accuracy."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from onnxkit.base import integer
from onnxkit.bench import Speedup
from onnxkit.errors import NotFoundError, ParameterError
from onnxkit.models import Model, ModelLike, load
from onnxkit.results import Result
from onnxkit.runtime import Feeds, Providers
from onnxkit.study import _measure as measure
from onnxkit.study import _platforms
from onnxkit.study import _render as render
from onnxkit.study._auto import RECIPES, build_variants, chosen_recipes, progress_bar, report
from onnxkit.study._best import BEST_BY, Choice, choose
from onnxkit.study._variant import Variant

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

    from onnxkit.study._measure import Metric

REFERENCE = "reference"
EVAL_ROWS = 16  # rows of random inputs to measure the error on when no data is given
LATENCY_BATCH = 1  # rows of the data each timed run takes, unless batch= says otherwise


class Study(Result):
    """Variants of a reference model, measured on the same inputs, ready to compare and pick.

    Each :meth:`add` measures the variant once: size on disk (external data included), p50/p90
    latency and session creation time (``onnxkit.benchmark``: the same feeds, providers and
    threads for every model), peak memory, the error of its outputs vs the reference's on
    ``data`` (max abs, cosine, top-1 agreement) and the accuracy on ``labels`` or the user's
    ``metric``. :meth:`table`, :meth:`plot`, :meth:`best` and the reprs only render that.

    Latency is honest on a noisy machine: the variants given to one :meth:`add_all` (or one
    :meth:`add`) are timed together with the reference in round-robin rounds, the order
    rotating, so drift in machine load hits all alike; ``speedup`` pairs timings of the same
    round and carries an interval. Rounds are added until the fastest variant separates from
    the reference or ``budget_s`` is spent (:func:`onnxkit.bench.measure`). The reference's
    own row takes the median over every batch of rounds.

    Peak memory is measured for each model in a fresh child process (the session created
    and run 3 times on the latency feeds): an in-process high-water mark only goes up. It
    includes ORT's fixed per-session cost (thread pools, arena), a few MB for a tiny model.

    Args:
        reference: the model the variants are compared with (its row is ``"reference"``).
        feeds: the latency inputs (default: the first ``batch`` rows of ``data``, else
            ``random_inputs``).
        data: evaluation inputs, an array (single-input models) or a dict of arrays whose rows
            are samples (default: 16 rows of ``random_inputs``).
        labels: the true class of each row of ``data``: adds ``accuracy`` (argmax of the first
            output).
        metric: ``metric(outputs: dict, labels) -> float``, higher is better (negate a loss),
            a mean over rows: it is taken per batch of 256 rows and averaged by rows (as
            :func:`onnxkit.evaluate`); shown as the ``metric`` column instead of accuracy.
        providers, threads: the ONNX Runtime configuration every model is timed on.
        batch: rows of ``data`` per timed run (default 1: one request at a time).
        rounds, max_rounds, budget_s: at least ``rounds`` interleaved rounds (default 5), then
            more until the fastest variant's speedup interval excludes 1, ``max_rounds``
            (default 30) or ``budget_s`` seconds of timing (default 20).
        runs: timed runs of each model per round (default: about 100 ms of them, at least
            3).
        cluster: an :func:`onnxkit.cluster.connect` cluster: the error and accuracy columns
            are computed there (:func:`onnxkit.evaluate`, the data in batches on its workers).
        on: a node of ``cluster`` (id, address or a resource such as ``"GPU"``) to time the
            models on instead of this machine (peak memory is then not measured).
        platforms: e.g. ``["linux/arm64"]``: every model also runs there (emulated, see
            :func:`onnxkit.deploy.verify`) on the first 64 rows of ``data``; one whose
            outputs diverge beyond its precision's tolerance is marked (``note``,
            ``Variant.platforms``) and never :meth:`best`. Raises
            :class:`~onnxkit.errors.PlatformError` at once if the platform cannot be emulated.

    Examples:
        >>> import onnxkit
        >>> tiny = onnxkit.samples.tiny_model()
        >>> study = onnxkit.Study(tiny, rounds=2, max_rounds=2, runs=10)
        >>> study.add("int8", onnxkit.quantize.dynamic(tiny))
        >>> study.names, study["reference"].speedup.median, study["int8"].agreement > 0.5
        (['reference', 'int8'], 1.0, True)
    """

    REFERENCE = REFERENCE  # the reference's row name
    EVAL_ROWS = EVAL_ROWS  # rows of random inputs the errors are measured on without data
    RECIPES: tuple[str, ...] = tuple(RECIPES)  # what Study.auto can build, in table order
    BEST_BY: tuple[str, ...] = BEST_BY  # the columns best(by=...) ranks by

    def __init__(self, reference: ModelLike, *, feeds: Feeds | None = None,
                 data: Feeds | np.ndarray | None = None, labels: Any = None,
                 metric: Metric | None = None, providers: Providers = None,
                 threads: int | None = None, batch: int | None = None, rounds: int = 5,
                 max_rounds: int = 30, runs: int | None = None, budget_s: float | None = 20.0,
                 cluster: Any = None, on: str | None = None,
                 platforms: Sequence[str] | None = None):
        self._setup(reference, feeds=feeds, data=data, labels=labels, metric=metric,
                    providers=providers, threads=threads, batch=batch,
                    plan=measure.plan(rounds, max_rounds, runs, budget_s),
                    where=measure.Where(cluster, on), platforms=platforms)
        self._measure({REFERENCE: self._ref}, tolerate=False)

    def _setup(self, reference: ModelLike, *, feeds: Any, data: Any, labels: Any,
               metric: Metric | None, providers: Providers, threads: int | None,
               batch: int | None, plan: measure.Plan, where: measure.Where,
               platforms: Sequence[str] | None) -> None:
        """Everything but timing the reference (``auto`` times it with its variants)."""
        self._platforms = _platforms.platforms_arg(platforms, "Study")
        _platforms.prepare(self._platforms)  # a platform it cannot emulate: raised now
        if metric is not None and not callable(metric):
            raise ParameterError(f"Study(metric=...) must be a function (outputs: dict, labels) "
                                 f"-> float; got {type(metric).__name__}.")
        self._ref = load(reference)
        self._labels, self._metric = labels, metric
        self._data = measure.evaluation_data(self._ref, data, labels, EVAL_ROWS)
        self._random_data = data is None  # the errors then compare outputs on random inputs
        batch = LATENCY_BATCH if batch is None else integer(batch, "Study", "batch")
        self._feeds = measure.latency_feeds(self._ref, self._data, feeds, data is not None,
                                            batch)
        self._providers, self._threads, self._plan, self._where = providers, threads, plan, \
            where
        self._budget_s = plan.budget_s  # as asked (auto's timing gets what the recipes left)
        self.progress: Callable[[int, int], None] | None = None  # each round of timing
        self._ref_timings: list[tuple[float, float, float]] = []  # (p50, p90, load) each time
        self._variants: dict[str, Variant] = {}
        self._failed: dict[str, str] = {}
        self._confirmed: dict[str, Speedup] = {}  # Study.confirm's head-to-head figures
        self._skipped: dict[str, str] = {}  # Study.auto's recipes that do not apply, and why

    # --- measuring -----------------------------------------------------------------------

    # what differs between two models' inputs and outputs, in words (None: a study takes it)
    interface_difference = staticmethod(measure.interface_difference)

    def add(self, name: str, model: ModelLike) -> None:
        """Measure ``model`` against the reference and add it as row ``name``.

        Raises:
            ParameterError: ``name`` is taken, or the model's inputs/outputs differ from the
                reference's (the message names the input or output and what differs).
        """
        self.add_all({name: model})

    def add_all(self, variants: Mapping[str, ModelLike]) -> None:
        """Add several variants, timed together in the same interleaved rounds (fairer and
        quicker than one :meth:`add` after another)."""
        if not isinstance(variants, Mapping):
            raise ParameterError(f"Study.add_all(variants=...) must be a dict of name -> "
                                 f"model; got {type(variants).__name__}.")
        for name in variants:
            self._check_name(name)
        if variants:
            self._measure({n: load(m) for n, m in variants.items()}, tolerate=False)

    def remove(self, name: str) -> None:
        """Drop a variant (or the record of a failed one) from the study."""
        if name == REFERENCE:
            raise ParameterError("Study.remove: the reference row cannot be removed; start a "
                                 "new Study for another reference.")
        self._confirmed.pop(name, None)
        if self._variants.pop(name, None) is None and self._failed.pop(name, None) is None:
            raise ParameterError(f"Study.remove(name=...): no variant {name!r}; the study has "
                                 f"{self.names}.")

    def confirm(self, name: str) -> Speedup:
        """``name`` timed against the reference again, head to head (once, then kept): the
        second measurement :meth:`best` asks of its pick, so that a burst of noise during the
        study's rounds cannot choose a variant."""
        if name not in self._confirmed:
            latency, _ = measure.timed({REFERENCE: self._ref, name: self[name].model},
                                       self._feeds, providers=self._providers,
                                       threads=self._threads, plan=self._plan, where=self._where)
            self._confirmed[name] = latency.speedup(name)
        return self._confirmed[name]

    def _check_name(self, name: Any) -> None:
        if not isinstance(name, str) or not name:
            raise ParameterError(f"Study.add(name=...) must be a non-empty string; got "
                                 f"{name!r}.")
        if name in self._variants or name in self._failed or name == REFERENCE:
            raise ParameterError(f"Study.add(name={name!r}): that name is already in the study "
                                 f"({self.names}). Pick another, or remove({name!r}) first.")

    def _quality(self, model: Model) -> measure.Quality:
        return measure.quality(model, self._ref, self._data, labels=self._labels,
                               metric=self._metric, cluster=self._where.cluster,
                               providers=self._providers)

    def _measure(self, models: dict[str, Model], *, tolerate: bool) -> None:
        """Quality of each model, then memory and latency of those that ran (interleaved with
        the reference). With ``tolerate``, a model that fails is recorded instead of raised."""
        qualities: dict[str, measure.Quality] = {}
        for name, model in models.items():
            try:
                measure.check_signature(self._ref, model, name)
                qualities[name] = self._quality(model)
            except Exception as e:
                if not tolerate:
                    raise
                self._failed[name] = f"{type(e).__name__}: {e}"
        timed = {REFERENCE: self._ref, **{n: models[n] for n in qualities if n != REFERENCE}}
        latency, load_ms = measure.timed(timed, self._feeds, providers=self._providers,
                                         threads=self._threads, plan=self._plan,
                                         progress=self.progress, where=self._where)
        memory = dict(zip(qualities, measure.peak_memories(
            [models[n] for n in qualities], self._feeds, providers=self._providers,
            threads=self._threads) if self._where.on is None else [None] * len(qualities)))
        self._ref_timings.append((latency.percentile(REFERENCE, 50),
                                  latency.percentile(REFERENCE, 90), load_ms[REFERENCE]))
        there = {n: _platforms.verdicts(models[n], self._platforms, self._data)
                 for n in qualities} if self._platforms else {}
        for name, q in qualities.items():
            fast, model = latency.speedup(name), models[name]
            notes = (measure.size_note(model, self._ref), _platforms.note(there.get(name, {})))
            self._variants[name] = Variant(
                name, model, model.size_bytes, latency.percentile(name, 50),
                latency.percentile(name, 90), load_ms[name], fast, memory[name],
                q.max_abs_err, q.cosine, q.agreement, q.score,
                "; ".join(n for n in notes if n), there.get(name, {}))
        self._rounds_done, self._stopped = latency.rounds, latency.stopped
        if REFERENCE not in models:  # its row: the median over every batch of rounds
            p50, p90, load = (float(np.median(c)) for c in zip(*self._ref_timings))
            self._variants[REFERENCE] = replace(self._variants[REFERENCE], p50_ms=p50,
                                                p90_ms=p90, load_ms=load)

    # --- reading -------------------------------------------------------------------------

    @property
    def reference(self) -> Model:
        return self._ref

    @property
    def names(self) -> list[str]:
        """Row names: the reference, the measured variants, then the failed ones."""
        return [*self._variants, *self._failed]

    @property
    def failures(self) -> dict[str, str]:
        """``{variant: why it could not be built or run}``."""
        return dict(self._failed)

    @property
    def skipped(self) -> dict[str, str]:
        """``{recipe: why it does not apply}`` for the recipes ``auto`` left out."""
        return dict(self._skipped)

    @property
    def score_name(self) -> str | None:
        """``"metric"``, ``"accuracy"``, or None when neither labels nor a metric were given."""
        if self._metric is not None:
            return "metric"
        return "accuracy" if self._labels is not None else None

    @property
    def settings(self) -> dict[str, Any]:
        """How the figures were taken."""
        return {"data_rows": len(next(iter(self._data.values()))),
                "random_data": self._random_data,
                "latency_batch": len(next(iter(self._feeds.values()))),
                "rounds": self._rounds_done, "stopped": self._stopped,
                "min_rounds": self._plan.rounds,
                "max_rounds": self._plan.max_rounds, "runs": self._plan.runs,
                "budget_s": self._budget_s, "threads": self._threads,
                "providers": self._providers or "cpu", "where": self._where.describe(),
                "platforms": list(self._platforms)}

    def __getitem__(self, name: str) -> Variant:
        if name not in self._variants:
            why = f" It failed: {self._failed[name]}" if name in self._failed else ""
            raise NotFoundError(f"no measured variant {name!r} in the study "
                                f"({list(self._variants)}).{why}")
        return self._variants[name]

    def __len__(self) -> int:
        return len(self._variants)

    def rows(self) -> list[Variant]:
        """The measured rows, reference first."""
        return list(self._variants.values())

    def to_dict(self) -> dict[str, Any]:
        return {"reference": str(self._ref.path), "score": self.score_name,
                "settings": self.settings, "rows": [r.to_dict() for r in self._variants.values()],
                "failed": self.failures, "skipped": self.skipped}

    def table(self) -> pd.DataFrame:
        """One row per variant (reference first; failures last, their reason in ``note``).

        Sizes and memory in MB (10**6 bytes); ``accuracy_drop`` (or ``metric_drop``) is the
        reference's score minus the variant's (0.01 = one point of accuracy lost).
        """
        return render.dataframe(self)

    def plot(self) -> go.Figure:
        """Pareto chart: p50 latency (x) vs accuracy/metric, else max abs error (y); marker
        area is the model's size; the Pareto front (nothing both faster and better) is drawn."""
        return render.pareto_figure(self)

    def best(self, *, max_accuracy_drop: float | None = None, max_error: float | None = None,
             min_agreement: float | None = None, by: str = "p50_ms",
             min_speedup: float = 1.05) -> Choice:
        """The variant to ship, and why: the best by ``by`` among those meeting every limit,
        or the reference when none qualifies.

        For speed (``p50_ms``, ``p90_ms``, ``speedup``) a variant must be faster than the
        reference beyond the spread (its speedup interval above 1) and by at least
        ``min_speedup`` (default 1.05: a few percent is not worth shipping another model);
        variants whose intervals overlap the leader's are tied with it, and the smallest of
        them wins — if it is faster again when timed head to head (:meth:`confirm`). A
        variant whose outputs diverge on one of the study's ``platforms`` is never chosen. The
        answer is a
        :class:`Choice`: the variant's figures (``.name``, ``.model``, ``.speedup``...), and
        ``why``.

        Args:
            max_accuracy_drop: most score lost vs the reference (0.01 = one point); applies to
                the ``metric`` when one was given.
            max_error: the largest max abs error allowed.
            min_agreement: the least top-1 agreement with the reference (0..1).
            by: the column to optimize: lower is better for ``p50_ms``, ``p90_ms``,
                ``load_ms``, ``size_mb``, ``size_ratio``, ``peak_mem_mb``, ``max_abs_err``;
                higher for ``speedup``, ``cosine``, ``agreement``, ``accuracy``/``metric``.

        Raises:
            ParameterError: a limit needs figures the study does not have, or there is no
                variant at all.
        """
        return choose(self, max_accuracy_drop=max_accuracy_drop, max_error=max_error,
                    min_agreement=min_agreement, by=by, min_speedup=min_speedup)

    def __repr__(self) -> str:
        return render.text(self)

    def _repr_html_(self) -> str:
        return render.html(self)

    @classmethod
    def auto(cls, model: ModelLike, *, data: Feeds | np.ndarray | None = None,
             labels: Any = None, calibration: Any = None, metric: Metric | None = None,
             providers: Providers = None, threads: int | None = None,
             progress: Callable[[int, int], None] | None = None,
             variants: Sequence[str] | None = None, feeds: Feeds | None = None,
             batch: int | None = None, rounds: int = 5, max_rounds: int = 30,
             runs: int | None = None, budget_s: float | None = 60.0, cluster: Any = None,
             on: str | None = None, platforms: Sequence[str] | None = None) -> Study:
        """Build the usual variants of ``model``, measure them all together, return the Study.

        The recipes, in order: ``ort-basic`` and ``ort-all`` (ORT's offline graph optimizations,
        :func:`~onnxkit.optimize`), ``slim`` (onnxslim), ``fp16`` (:func:`~onnxkit.to_fp16`),
        ``int8-dynamic``, ``int8-static`` (QDQ, per-channel; only with ``calibration``),
        ``pruned-25`` (:func:`onnxkit.prune.structured`, a quarter of the channels, no fine-tuning;
        when some can be pruned) and ``fused`` (:func:`~onnxkit.fuse_transformer`; only when the
        graph has attention). A recipe that fails is recorded in :attr:`failures` and shown in the
        table, not raised. All variants are timed in the same interleaved rounds (see
        :class:`Study`), each session at ORT's ``all`` level, so the ``ort-*`` variants mostly save
        session creation time (``load_ms``).

        Args:
            calibration: inputs for int8 static quantization (see
                :func:`onnxkit.quantize.static`); without it that variant is not built.
            progress: called with ``(done, total)`` before each recipe and once at the end; it
                may raise :class:`~onnxkit.errors.Cancelled` (or anything) to stop. Default:
                a progress bar (tqdm), with the time the recipes are expected to take.
            variants: the recipes to try (default: every one that applies).
            budget_s: seconds for the whole study (default 60): the recipes first, then the
                timing gets what is left (at least 5 rounds).
            data, labels, metric, feeds, batch, providers, threads, rounds, max_rounds, runs,
                cluster, on, platforms: as :class:`Study`.
        """

        chosen = chosen_recipes(variants)
        reference = load(model)
        started = time.perf_counter()
        study = cls.__new__(cls)  # set up without timing: the reference is timed with the rest
        plan = measure.plan(rounds, max_rounds, runs, budget_s)
        study._setup(reference, feeds=feeds, data=data, labels=labels, metric=metric,
                     providers=providers, threads=threads, batch=batch, plan=plan,
                     where=measure.Where(cluster, on), platforms=platforms)
        total = len(chosen) + 1  # each recipe, then measuring them all
        with progress_bar(progress, total, reference, budget_s) as step:
            built = build_variants(reference, chosen, {"calibration": calibration,
                                                       "providers": providers}, step, total)
            study._skipped.update(built.skipped)
            study._failed.update(built.failed)
            report(step, len(chosen), total)
            left = None if budget_s is None else max(budget_s - (time.perf_counter() - started),
                                                     1.0)
            study._plan = replace(plan, budget_s=left)
            study._measure({REFERENCE: reference, **built.models}, tolerate=True)
            report(step, total, total)
        return study

