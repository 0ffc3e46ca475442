"""``benchmark``: latency percentiles of ``InferenceSession.run``, alone in the timed loop.

With ``io_binding=True`` the inputs are copied to the provider's device once, outputs stay
there, and the loop times ``run_with_iobinding``: the model alone, without host/device copies.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from onnxkit.base import boolean, integer, number, percentile
from onnxkit.errors import ParameterError
from onnxkit.models import ModelLike, load
from onnxkit.results import Result, fmt_bytes, html_table
from onnxkit.runtime import (
    Feeds,
    OptLevel,
    Providers,
    Resolved,
    create_session,
    io_device,
    prepare_feeds,
    resolve,
    run_session,
)

if TYPE_CHECKING:
    import onnxruntime as ort
    import plotly.graph_objects as go

DEFAULT_DURATION = 1.0  # seconds of timed runs when neither runs nor duration is given
MIN_RUNS = 10


@dataclass(frozen=True)
class BenchResult(Result):
    """Latency of one model on one configuration. Times in milliseconds."""

    model: str
    providers: tuple[str, ...]
    threads: int | None
    batch_size: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    std_ms: float
    min_ms: float
    max_ms: float
    throughput: float  # items per second: batch size / mean latency
    session_ms: float  # creating the session (graph optimization included)
    first_run_ms: float  # the first run, usually slower (allocations, lazy init)
    peak_rss_bytes: int | None  # process peak resident memory while creating and running
    warmup: int
    samples: tuple[float, ...]
    io_binding: bool = False  # inputs and outputs bound on the device, copies not timed
    device: str = "cpu"  # where the first provider keeps tensors: "cpu", "cuda:0"...

    @property
    def runs(self) -> int:
        return len(self.samples)

    def _rows(self) -> list[dict[str, Any]]:
        return [{k: v for k, v in self.to_dict().items() if k != "samples"}]

    def __repr__(self) -> str:
        mem = ("" if self.peak_rss_bytes is None
               else f", peak RSS {fmt_bytes(self.peak_rss_bytes)}")
        bound = f", IOBinding on {self.device}" if self.io_binding else ""
        return (f"BenchResult '{self.model}' on {', '.join(self.providers)} (batch "
                f"{self.batch_size}, {self.runs} runs{bound}): p50 {self.p50_ms:.3f} ms, p90 "
                f"{self.p90_ms:.3f} ms, p99 {self.p99_ms:.3f} ms, {self.throughput:,.1f} items/s"
                f"{mem}")

    def _repr_html_(self) -> str:
        rows = [("providers", ", ".join(self.providers)),
                ("threads", self.threads or "default"), ("batch", self.batch_size),
                ("inputs / outputs", f"bound on {self.device} (IOBinding)" if self.io_binding
                 else "numpy arrays, copied every run"),
                ("runs (after warm-up)", f"{self.runs} ({self.warmup})"),
                ("p50 / p90 / p99",
                 f"{self.p50_ms:.3f} / {self.p90_ms:.3f} / {self.p99_ms:.3f} ms"),
                ("mean ± std", f"{self.mean_ms:.3f} ± {self.std_ms:.3f} ms"),
                ("min / max", f"{self.min_ms:.3f} / {self.max_ms:.3f} ms"),
                ("throughput", f"{self.throughput:,.1f} items/s"),
                ("session creation", f"{self.session_ms:.1f} ms"),
                ("first run", f"{self.first_run_ms:.3f} ms")]
        if self.peak_rss_bytes is not None:
            rows.append(("peak RSS", fmt_bytes(self.peak_rss_bytes)))
        return html_table(("benchmark", self.model), rows)

    def plot(self) -> go.Figure:
        """Latency of each timed run, with the median and p90 marked."""
        import plotly.graph_objects as go

        fig = go.Figure(go.Scatter(y=list(self.samples), mode="markers", name="run"))
        for value, label in ((self.p50_ms, "p50"), (self.p90_ms, "p90")):
            fig.add_hline(y=value, line_dash="dash", annotation_text=f"{label} {value:.3f} ms")
        fig.update_layout(title=f"{self.model} on {', '.join(self.providers)}",
                          xaxis_title="run", yaxis_title="latency (ms)")
        return fig


def benchmark(model: ModelLike, feeds: Feeds | None = None, *, providers: Providers = None,
              threads: int | None = None, opt_level: OptLevel | None = None,
              warmup: int = 5, runs: int | None = None, duration: float | None = None,
              io_binding: bool = False) -> BenchResult:
    """Time ``model`` on one configuration: a fresh session, warm-up runs, then timed runs.

    Only ``session.run`` is inside the timed region, so the median matches a bare loop.

    Args:
        feeds: inputs (default: ``random_inputs(model)``).
        warmup: untimed runs after the first.
        runs: exactly this many timed runs; or ``duration``: keep running for that many
            seconds (at least 10 runs). Default: about one second.
        io_binding: copy the inputs to the first provider's device once (``cuda`` for CUDA
            and TensorRT, with their ``device_id``; ``cpu`` otherwise), keep the outputs there,
            and time ``run_with_iobinding``: what the model costs without host/device copies.

    Examples:
        >>> import onnxkit
        >>> r = onnxkit.benchmark(onnxkit.samples.tiny_model(), runs=20)
        >>> r.runs, r.p50_ms <= r.p90_ms <= r.p99_ms
        (20, True)
        >>> onnxkit.benchmark(onnxkit.samples.tiny_model(), runs=5, io_binding=True).device
        'cpu'
    """
    check_counts("benchmark", warmup, runs, duration)
    boolean(io_binding, "benchmark", "io_binding")
    handle = load(model)
    arrays = prepare_feeds(handle, feeds)
    resolved, _ = resolve(providers)
    _reset_peak_rss()
    start = time.perf_counter()
    sess = create_session(handle, resolved, threads=threads, opt_level=opt_level,
                          where="benchmark")
    session_ms = (time.perf_counter() - start) * 1e3
    start = time.perf_counter()
    run_session(sess, arrays, handle.name)  # the first run also surfaces errors clearly
    first_ms = (time.perf_counter() - start) * 1e3
    device, device_id = io_device(*resolved[0])
    if io_binding:
        binding = bind(sess, arrays, resolved)
        run = functools.partial(sess.run_with_iobinding, binding)
    else:
        run = functools.partial(sess.run, None, arrays)
    for _ in range(warmup):
        run()
    samples = timed_runs(run, runs, duration)
    return bench_result(handle.name, tuple(sess.get_providers()), threads, batch_size(arrays),
                   samples, session_ms, first_ms, warmup, io_binding,
                   device if device == "cpu" else f"{device}:{device_id}")


def bind(sess: ort.InferenceSession, arrays: dict[str, Any], resolved: Resolved
         ) -> ort.IOBinding:
    """An IOBinding with ``arrays`` copied to the first provider's device, outputs bound there.

    Examples:
        >>> import numpy as np, onnxkit
        >>> from onnxkit.bench import bind
        >>> sess = onnxkit.session(onnxkit.samples.tiny_model())
        >>> feeds = {"x": np.ones((2, 4), np.float32)}
        >>> binding = bind(sess, feeds, (("CPUExecutionProvider", {}),))
        >>> sess.run_with_iobinding(binding)
        >>> binding.copy_outputs_to_cpu()[0].shape
        (2, 3)
    """
    import onnxruntime as ort

    device, device_id = io_device(*resolved[0])
    binding = sess.io_binding()
    for name, array in arrays.items():  # copied once, here, outside any timing
        value = ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(array), device, device_id)
        binding.bind_ortvalue_input(name, value)
    for output in sess.get_outputs():  # ORT allocates them on the device at each run
        binding.bind_output(output.name, device, device_id)
    binding.synchronize_inputs()  # the copies are done before the first timed run
    return binding


def check_counts(where: str, warmup: int, runs: int | None, duration: float | None) -> None:
    """How long to time, as ``benchmark``, ``sweep`` and the comparisons take it."""
    integer(warmup, where, "warmup", low=0, high=100_000)
    if runs is not None and duration is not None:
        raise ParameterError(f"{where}(runs=..., duration=...): give one of them, not both; "
                             f"got runs={runs!r}, duration={duration!r}.")
    if runs is not None:
        integer(runs, where, "runs", high=1_000_000)
    if duration is not None:
        number(duration, where, "duration", low=0, low_open=True, high=3600)


def timed_runs(run: Callable[[], Any], runs: int | None, duration: float | None
                ) -> list[float]:
    # run_with_iobinding returns once the device is done (ORT synchronizes the providers at
    # the end of a run), so clock() after it measures the work, not just its launch.
    clock, samples = time.perf_counter, []
    if runs is not None:
        for _ in range(runs):
            t0 = clock()
            run()
            samples.append(clock() - t0)
    else:
        deadline = clock() + (duration if duration is not None else DEFAULT_DURATION)
        while len(samples) < MIN_RUNS or clock() < deadline:
            t0 = clock()
            run()
            samples.append(clock() - t0)
    return [s * 1e3 for s in samples]


def batch_size(arrays: dict[str, Any]) -> int:
    first = next(iter(arrays.values()), None)
    return int(first.shape[0]) if isinstance(first, np.ndarray) and first.ndim else 1


def bench_result(name: str, providers: tuple[str, ...], threads: int | None, batch: int,
            samples: list[float], session_ms: float, first_ms: float, warmup: int,
            io_binding: bool, device: str) -> BenchResult:
    a = np.asarray(samples)
    p50, p90, p99 = (percentile(samples, q) for q in (50, 90, 99))
    return BenchResult(
        model=name, providers=providers, threads=threads, batch_size=batch,
        p50_ms=float(p50), p90_ms=float(p90), p99_ms=float(p99), mean_ms=float(a.mean()),
        std_ms=float(a.std()), min_ms=float(a.min()), max_ms=float(a.max()),
        throughput=batch / (a.mean() / 1e3), session_ms=session_ms, first_run_ms=first_ms,
        peak_rss_bytes=_peak_rss(), warmup=warmup, samples=tuple(samples),
        io_binding=io_binding, device=device)


def _reset_peak_rss() -> None:
    """Linux lets a process reset its own high-water mark, so the peak is this benchmark's."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _peak_rss() -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None
