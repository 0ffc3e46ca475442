"""Prometheus text exposition of the server's counters and histograms (``GET /metrics``).

Written out here rather than with prometheus_client so that a bundle serves with nothing but
its model's requirements; the format is the plain text one Prometheus scrapes.
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict

import numpy as np

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
SECONDS_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                   2.5, 5.0)


class Histogram:
    def __init__(self, buckets: tuple[float, ...]):
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)  # the last: above every bucket
        self.total = 0.0
        self.count = 0
        self.values: list[float] = []  # the recent ones, for percentiles in stats()

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value
        self.count += 1
        self.values.append(value)
        if len(self.values) > 10_000:
            del self.values[:5_000]

    def percentile(self, q: float) -> float | None:
        if not self.values:
            return None
        # numpy's linear interpolation: the definition onnxkit.base.percentile (bench,
        # load_test) uses, so the server's p90 and the client's agree (bundled code cannot
        # import onnxkit.base: it runs inside a bundle)
        return float(np.percentile(self.values, q))


class Metrics:
    """What the server counts; every method is thread-safe."""

    def __init__(self, model: str):
        self.model = model
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, int], int] = defaultdict(int)  # (endpoint, status)
        self.batch_rows = Histogram(BATCH_BUCKETS)
        self.queue_seconds = Histogram(SECONDS_BUCKETS)
        self.inference_seconds = Histogram(SECONDS_BUCKETS)
        self.model_errors = 0
        self.cancelled_requests = 0  # their client went away before the answer
        self.stopped_batches = 0  # decoding stopped early: every client of it went away

    def request(self, endpoint: str, status: int) -> None:
        with self._lock:
            self.requests[(endpoint, status)] += 1

    def batch(self, rows: int, queue_seconds: list[float], inference_seconds: float) -> None:
        with self._lock:
            self.batch_rows.observe(rows)
            for q in queue_seconds:
                self.queue_seconds.observe(q)
            self.inference_seconds.observe(inference_seconds)

    def model_error(self) -> None:
        with self._lock:
            self.model_errors += 1

    def cancelled(self) -> None:
        with self._lock:
            self.cancelled_requests += 1

    def stopped_batch(self) -> None:
        with self._lock:
            self.stopped_batches += 1

    def cancellations(self) -> dict:
        """What a generate server adds to :meth:`snapshot`: requests whose client went away,
        and batches stopped early because all of theirs had."""
        with self._lock:
            return {"cancelled": self.cancelled_requests,
                    "stopped_batches": self.stopped_batches}

    def snapshot(self) -> dict:
        """The figures as plain numbers (``Server.stats()``)."""
        with self._lock:
            done = sum(n for (_, s), n in self.requests.items() if s < 400)
            bad = sum(n for (_, s), n in self.requests.items() if 400 <= s < 500)
            failed = sum(n for (_, s), n in self.requests.items() if s >= 500)
            batches = self.batch_rows.count
            return {"requests": done + bad + failed, "ok": done, "client_errors": bad,
                    "server_errors": failed, "model_errors": self.model_errors,
                    "batches": batches,
                    "mean_batch_rows": self.batch_rows.total / batches if batches else None,
                    "max_batch_rows_seen": max(self.batch_rows.values, default=None),
                    "queue_ms_p50": _ms(self.queue_seconds.percentile(50)),
                    "inference_ms_p50": _ms(self.inference_seconds.percentile(50)),
                    "inference_ms_p90": _ms(self.inference_seconds.percentile(90))}

    def render(self) -> str:
        label = f'model="{self.model}"'
        lines = ["# HELP onnxkit_requests_total HTTP requests by endpoint and status code.",
                 "# TYPE onnxkit_requests_total counter"]
        with self._lock:
            for (endpoint, status), n in sorted(self.requests.items()):
                lines.append(f'onnxkit_requests_total{{{label},endpoint="{endpoint}",'
                             f'code="{status}"}} {n}')
            lines += ["# HELP onnxkit_model_errors_total Runs that failed inside the model.",
                      "# TYPE onnxkit_model_errors_total counter",
                      f"onnxkit_model_errors_total{{{label}}} {self.model_errors}",
                      "# HELP onnxkit_cancelled_total Requests whose client went away first.",
                      "# TYPE onnxkit_cancelled_total counter",
                      f"onnxkit_cancelled_total{{{label}}} {self.cancelled_requests}",
                      "# HELP onnxkit_stopped_batches_total Generations stopped early: every "
                      "client of the batch went away.",
                      "# TYPE onnxkit_stopped_batches_total counter",
                      f"onnxkit_stopped_batches_total{{{label}}} {self.stopped_batches}"]
            for name, doc, hist in (
                    ("onnxkit_batch_rows", "Rows per model run (dynamic batching).",
                     self.batch_rows),
                    ("onnxkit_queue_seconds", "Time a request waited to be batched.",
                     self.queue_seconds),
                    ("onnxkit_inference_seconds", "Time of one model run.",
                     self.inference_seconds)):
                lines += _histogram(name, doc, hist, label)
        return "\n".join(lines) + "\n"


def _histogram(name: str, doc: str, hist: Histogram, label: str) -> list[str]:
    lines = [f"# HELP {name} {doc}", f"# TYPE {name} histogram"]
    running = 0
    for bound, count in zip(hist.buckets, hist.counts):
        running += count
        lines.append(f'{name}_bucket{{{label},le="{bound:g}"}} {running}')
    lines.append(f'{name}_bucket{{{label},le="+Inf"}} {hist.count}')
    lines += [f"{name}_sum{{{label}}} {hist.total:.6f}", f"{name}_count{{{label}}} {hist.count}"]
    return lines


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1e3
