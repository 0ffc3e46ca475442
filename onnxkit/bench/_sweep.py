"""``sweep``: benchmark every combination of providers, threads and batch sizes, interleaved."""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from onnxkit.base import Params, integer, one_of
from onnxkit.bench._bench import BenchResult, batch_size, bench_result, bind, check_counts
from onnxkit.bench._measure import Measurement, Speedup, measure
from onnxkit.errors import InputError, OnnxkitError, ParameterError
from onnxkit.models import Model, ModelLike, load
from onnxkit.results import Result, html_table
from onnxkit.runtime import (
    Feeds,
    OptLevel,
    ProviderSpec,
    Resolved,
    canonical_name,
    create_session,
    io_device,
    prepare_feeds,
    random_inputs,
    resolve,
    run_session,
    short_name,
    split_spec,
)

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

Configuration = ProviderSpec | Sequence[ProviderSpec]  # one provider, or a priority list
Progress = Callable[[int, int], None]
DEFAULT_DURATION = 0.5  # seconds of timed runs per combination when neither runs nor duration


@dataclass(frozen=True)
class SweepResult(Result):
    """Latency of one model on every combination :func:`sweep` tried, in sweep order."""

    model: str
    configurations: tuple[str, ...]  # the provider configuration of each result, as a label
    results: tuple[BenchResult, ...]
    failed: tuple[tuple[str, str], ...]  # (configuration · threads, why) that could not run
    rounds: int
    # each result against the first of the same batch size, paired by round, with its interval
    speedups: tuple[Speedup, ...] = ()

    def table(self) -> pd.DataFrame:
        """One row per combination; ``speedup`` is against the first row of the same batch:
        the median of per-round ratios, ``speedup_low``/``speedup_high`` its 95% interval
        (see :func:`onnxkit.bench.measure`)."""
        import pandas as pd

        rows = []
        for label, r, fast in zip(self.configurations, self.results, self.speedups):
            rows.append({"configuration": label, "providers": " > ".join(_short(r.providers)),
                         "threads": r.threads or "default", "batch": r.batch_size,
                         "p50_ms": r.p50_ms, "p90_ms": r.p90_ms, "p99_ms": r.p99_ms,
                         "throughput": r.throughput, "speedup": fast.median,
                         "speedup_low": fast.low, "speedup_high": fast.high,
                         "verdict": fast.verdict, "session_ms": r.session_ms, "runs": r.runs})
        return pd.DataFrame(rows)

    def best(self, by: str = "p50_ms") -> BenchResult:
        """The fastest combination by ``"p50_ms"``, ``"p90_ms"`` or ``"throughput"``."""
        one_of(by, ("p50_ms", "p90_ms", "throughput"), "SweepResult.best", "by")
        sign = -1 if by == "throughput" else 1
        return min(self.results, key=lambda r: sign * getattr(r, by))

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "rounds": self.rounds,
                "results": [{"configuration": c, **r.to_dict()}
                            for c, r in zip(self.configurations, self.results)],
                "failed": [{"combination": c, "error": e} for c, e in self.failed]}

    def __repr__(self) -> str:
        lines = [f"SweepResult '{self.model}': {len(self.results)} combinations, "
                 f"{self.rounds} interleaved rounds"]
        lines += [f"  {c} · threads {r.threads or 'default'} · batch {r.batch_size}: p50 "
                  f"{r.p50_ms:.3f} ms, {r.throughput:,.1f} items/s"
                  for c, r in zip(self.configurations, self.results)]
        lines += [f"  FAILED {c}: {e}" for c, e in self.failed]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        df = self.table()
        fastest = df.groupby("batch")["p50_ms"].transform("min") == df["p50_ms"]
        rows = [(r.configuration, r.providers, r.threads, r.batch, f"{r.p50_ms:.3f}",
                 f"{r.p90_ms:.3f}", f"{r.throughput:,.1f}", str(s))
                for r, s in zip(df.itertuples(), self.speedups)]
        html = html_table(
            ("configuration", "providers used", "threads", "batch", "p50 ms", "p90 ms",
             "items/s", "speedup [95% interval]"), rows, bad=(not f for f in fastest),
            caption=f"{self.model}: sweep ({self.rounds} interleaved rounds; the fastest "
                    "per batch unshaded)")
        if self.failed:
            html += html_table(("combination", "why it failed"), self.failed,
                                  bad=[True] * len(self.failed), caption="failed")
        return html

    def plot(self) -> go.Figure:
        """p50 latency (whisker to p90) and throughput per combination, one colour per batch."""
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                            subplot_titles=("latency p50 (whisker: p90), ms", "items / s"))
        colors = _colors()
        for i, batch in enumerate(sorted({r.batch_size for r in self.results})):
            color = colors[i % len(colors)]
            picked = [(c, r) for c, r in zip(self.configurations, self.results)
                      if r.batch_size == batch]
            x = [f"{c} · {r.threads or 'default'} thr" for c, r in picked]
            fig.add_trace(go.Bar(
                x=x, y=[r.p50_ms for _, r in picked], name=f"batch {batch}", marker_color=color,
                legendgroup=str(batch), error_y={"type": "data", "symmetric": False,
                                                 "array": [r.p90_ms - r.p50_ms for _, r in picked],
                                                 "arrayminus": [0] * len(picked)}), row=1, col=1)
            fig.add_trace(go.Bar(x=x, y=[r.throughput for _, r in picked], name=f"batch {batch}",
                                 marker_color=color, legendgroup=str(batch), showlegend=False),
                          row=2, col=1)
        fig.update_layout(title=f"{self.model}: providers × threads × batch", barmode="group",
                          height=520)
        return fig


def _colors() -> list[str]:
    """The default plotly colour sequence: one colour per batch size in both subplots."""
    from plotly.colors import qualitative

    return list(qualitative.Plotly)


def sweep(model: ModelLike, feeds: Feeds | None = None, *,
          providers: Sequence[Configuration] | None = None,
          threads: Sequence[int | None] | None = None, batch: Sequence[int] | None = None,
          opt_level: OptLevel | None = None, options: Mapping[str, Any] | None = None,
          runs: int | None = None, duration: float | None = None, rounds: int = 5,
          max_rounds: int | None = None, warmup: int = 5, io_binding: bool = False,
          progress: Progress | None = None, cluster: Any = None, on: str | None = None
          ) -> SweepResult:
    """Benchmark ``model`` on every combination of ``providers`` × ``threads`` × ``batch``.

    All sessions are created first and then timed in ``rounds`` round-robin passes (the order
    rotating each round), so a change in machine load hits every combination alike: on a
    noisy machine the ratios are what to read, and each carries its interval
    (:func:`onnxkit.bench.measure`). Holding every session at once costs memory for big
    models; sweep fewer combinations then.

    Args:
        feeds: inputs; with ``batch``, their rows are repeated or cut to each batch size.
            Default: ``random_inputs(model, batch=b)``.
        providers: configurations to compare, each a provider (``"cpu"``,
            ``("OpenVINOExecutionProvider", {"precision": "FP16"})``) or a priority list of
            them. Default: ``["cpu"]``.
        threads: intra-op thread counts (``None``: ORT's default). Default: ``[None]``.
        batch: batch sizes (models with a fixed batch dim take only theirs).
        opt_level, options: as for :func:`onnxkit.session`, shared by every combination.
        runs, duration: timed runs (rounded up to a multiple of ``rounds``), or seconds, per
            combination over ``rounds`` rounds (default: half a second).
        rounds, max_rounds: rounds always run (default 5), and the most to run (default:
            ``rounds``): rounds are added until the fastest of each batch size is faster or
            slower than its first combination beyond the spread.
        io_binding: as for :func:`onnxkit.benchmark`: inputs and outputs stay on each
            configuration's device, so host/device copies are not timed.
        progress: ``progress(round, max_rounds)`` after each round; an exception it raises
            (e.g. a panel's Cancel) stops the sweep.
        cluster, on: run the whole sweep on the node ``on`` of an
            :func:`onnxkit.cluster.connect` cluster (a node id, address or resource such as
            ``"GPU"``); a node without a requested provider is refused, naming those that
            have it. ``progress`` is not called then.

    Returns:
        A :class:`SweepResult`; ``.table()`` is a pandas DataFrame, ``.plot()`` a figure.
        Combinations whose session cannot be created are listed in ``.failed``; if none
        can, the first error is raised.

    Examples:
        >>> import onnxkit
        >>> s = onnxkit.sweep(onnxkit.samples.tiny_model(), threads=[1, 2], batch=[1, 8],
        ...                   runs=20, rounds=2)
        >>> s.table()[["threads", "batch", "runs"]].values.tolist()
        [[1, 1, 20], [1, 8, 20], [2, 1, 20], [2, 8, 20]]
    """
    check_counts("sweep", warmup, runs, duration)
    arg = Params("sweep")
    arg.integer(rounds, "rounds", high=100)
    if on is not None:
        return _on_node(cluster, on, load(model), feeds, {
            "providers": providers, "threads": threads, "batch": batch,
            "opt_level": opt_level, "options": options, "runs": runs, "duration": duration,
            "rounds": rounds, "max_rounds": max_rounds, "warmup": warmup,
            "io_binding": io_binding})
    if max_rounds is not None:
        arg.integer(max_rounds, "max_rounds", high=1000)
    handle = load(model)
    configs = _configurations(providers)
    thread_list = _listed("threads", threads, [None])
    batches = _batch_feeds(handle, feeds, _listed("batch", batch, [None]))
    sessions, failed = _sessions(handle, configs, thread_list, opt_level, options)
    combos = [_Combo(label, t, sess, ms, arrays, _runner(sess, arrays, resolved, io_binding),
                     _device(resolved))
              for (label, resolved, t, sess, ms) in sessions for arrays in batches]
    _warm_up(combos, handle.name, warmup)
    per_round = max(1, -(-runs // rounds)) if runs is not None else None
    seconds = (duration if duration is not None else DEFAULT_DURATION) / rounds
    timed = measure([(str(i), c.run) for i, c in enumerate(combos)], min_rounds=rounds,
                    max_rounds=max_rounds or rounds, budget_s=None, runs=per_round,
                    round_s=seconds, pairs=_pairs(combos), progress=progress, where="sweep")
    return _result(handle.name, combos, timed, tuple(failed), warmup, io_binding)


@dataclass
class _Combo:
    """One combination being timed: a session (shared across batch sizes) and its feeds."""

    label: str
    threads: int | None
    session: Any
    session_ms: float
    arrays: dict[str, np.ndarray]
    run: Callable[[], Any]  # one timed run: session.run or run_with_iobinding
    device: str
    first_ms: float = 0.0


def _runner(sess: Any, arrays: dict[str, np.ndarray], resolved: Resolved, io_binding: bool
            ) -> Callable[[], Any]:
    if io_binding:
        return functools.partial(sess.run_with_iobinding, bind(sess, arrays, resolved))
    return functools.partial(sess.run, None, arrays)


def _device(resolved: Resolved) -> str:
    device, device_id = io_device(*resolved[0])
    return device if device == "cpu" else f"{device}:{device_id}"


def _configurations(providers: Sequence[Configuration] | None
                    ) -> list[tuple[str, Resolved]]:
    """``[(label, resolved providers)]``; unknown providers raise before anything runs."""
    if providers is None:
        providers = ["cpu"]
    if isinstance(providers, (str, tuple)):
        raise ParameterError(
            f"sweep(providers=...) is a list of configurations to compare, e.g. ['cpu', "
            f"'openvino'] or [['cuda', 'cpu']]; got {providers!r}. Wrap one in a list.")
    out = []
    for config in providers:
        resolved, _ = resolve(config)
        out.append((_label(resolved), resolved))
    if not out:
        raise ParameterError("sweep(providers=[]) has nothing to compare; give at least one.")
    return out


def _label(resolved: Resolved) -> str:
    parts = []
    for name, options in resolved:
        opts = ", ".join(f"{k}={v}" for k, v in options.items())
        parts.append(_short([name])[0] + (f"({opts})" if opts else ""))
    return " > ".join(parts)


def _short(names: Sequence[str]) -> list[str]:
    return [short_name(n) for n in names]


def _listed(name: str, values: Sequence[Any] | None, default: list[Any]) -> list[Any]:
    if values is None:
        return default
    if isinstance(values, (int, str)) or not isinstance(values, Sequence) or not values:
        raise ParameterError(f"sweep({name}=...) must be a non-empty list, e.g. [1, 2]; got "
                             f"{values!r}.")
    if len(set(values)) != len(values):
        raise ParameterError(f"sweep({name}=...) lists a value twice: {list(values)!r}.")
    return list(values)


def _batch_feeds(handle: Model, feeds: Feeds | None, batches: list[int | None]
                 ) -> list[dict[str, np.ndarray]]:
    out = []
    for b in batches:
        if b is not None:
            integer(b, "sweep", "batch", fix="list batch sizes such as [1, 8, 32]")
        if feeds is None:
            arrays = random_inputs(handle, batch=b or 1)
        else:
            arrays = prepare_feeds(handle, feeds)
            if b is not None:
                arrays = {k: np.take(v, np.arange(b) % len(v), axis=0) if v.ndim else v
                          for k, v in arrays.items()}
        arrays = prepare_feeds(handle, arrays)  # checks the resized feeds against the model
        if b is not None and batch_size(arrays) != b:
            raise InputError(
                f"sweep(batch=[..., {b}, ...]): '{handle.name}' has a fixed batch dim of "
                f"{batch_size(arrays)}. Sweep its batch with onnxkit.make_dynamic("
                "model) first, or leave batch=None.")
        out.append(arrays)
    return out


def _sessions(handle: Model, configs: list[tuple[str, Resolved]], threads: list[int | None],
              opt_level: OptLevel | None, options: Mapping[str, Any] | None
              ) -> tuple[list[tuple[str, Resolved, int | None, Any, float]],
                         list[tuple[str, str]]]:
    sessions, failed, first_error = [], [], None
    for (label, resolved), t in itertools.product(configs, threads):
        start = time.perf_counter()
        try:
            sess = create_session(handle, resolved, threads=t, opt_level=opt_level,
                                  options=options, where="sweep")
        except OnnxkitError as e:
            if isinstance(e, ParameterError):
                raise  # the same options reach every combination: fix them first
            failed.append((f"{label} · threads {t or 'default'}", str(e)))
            first_error = first_error or e
            continue
        sessions.append((label, resolved, t, sess, (time.perf_counter() - start) * 1e3))
    if not sessions:
        assert first_error is not None
        raise first_error
    return sessions, failed


def _on_node(cluster: Any, on: str, handle: Model, feeds: Feeds | None,
             kwargs: dict[str, Any]) -> SweepResult:
    if cluster is None:
        raise ParameterError("sweep(on=...) names a node of a cluster; pass cluster="
                             "onnxkit.cluster.connect(...) as well.")
    import onnxruntime as ort

    node = cluster.node(on)
    configs = kwargs["providers"] or ["cpu"]
    for config in configs:  # as asked, not as this machine would resolve them
        for spec in ([config] if isinstance(config, (str, tuple)) else config):
            name = canonical_name(split_spec(spec)[0], ort.get_all_providers())
            if name is None:
                raise ParameterError(f"sweep(providers=...): unknown provider {spec!r}.")
            cluster.node_with(name, node.node_id)
    return cluster.run_on(node.node_id, sweep_serialized, handle.to_proto().SerializeToString(),
                          handle.name, feeds, kwargs)


def sweep_serialized(data: bytes, name: str, feeds: Feeds | None, kwargs: dict[str, Any]
                     ) -> SweepResult:
    """:func:`sweep` of a serialized model: what a cluster node runs for ``sweep(on=...)``."""
    return sweep(load(data, name=name), feeds, **kwargs)


def _warm_up(combos: list[_Combo], name: str, warmup: int) -> None:
    """First run (timed apart: allocations) and ``warmup`` untimed runs of each combination."""
    for c in combos:
        start = time.perf_counter()
        run_session(c.session, c.arrays, name)
        c.first_ms = (time.perf_counter() - start) * 1e3
        for _ in range(warmup):
            c.run()


def _pairs(combos: list[_Combo]) -> list[tuple[str, str]]:
    """Each combination against the first of its batch size."""
    first: dict[int, str] = {}
    pairs = []
    for i, c in enumerate(combos):
        reference = first.setdefault(batch_size(c.arrays), str(i))
        if reference != str(i):
            pairs.append((str(i), reference))
    return pairs


def _result(name: str, combos: list[_Combo], timed: Measurement,
            failed: tuple[tuple[str, str], ...], warmup: int, io_binding: bool) -> SweepResult:
    references = dict(_pairs(combos))
    results = tuple(bench_result(name, tuple(c.session.get_providers()), c.threads,
                                 batch_size(c.arrays), timed.pooled(str(i)), c.session_ms,
                                 c.first_ms, warmup, io_binding, c.device)
                    for i, c in enumerate(combos))
    speedups = tuple(timed.speedup(str(i), references.get(str(i), str(i)))
                     for i in range(len(combos)))
    return SweepResult(name, tuple(c.label for c in combos), results, failed, timed.rounds,
                       speedups)
