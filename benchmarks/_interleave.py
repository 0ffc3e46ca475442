"""Shared by the benchmark scripts: several models timed by the kernel's one measurement
mechanism (:func:`onnxkit.bench.measure`: interleaved rounds, paired ratios, intervals)."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any

import onnxkit
from onnxkit.bench import Speedup, measure
from onnxkit.runtime import create_session, resolve


@dataclass(frozen=True)
class Figures:
    p50_ms: float
    session_ms: float
    speedup: Speedup  # the first config's time over this one's, with its 95% interval


def interleaved(configs: list[tuple[str, onnxkit.Model, dict[str, Any]]], feeds: dict[str, Any],
                *, rounds: int, runs: int, threads: int) -> dict[str, Figures]:
    """``{name: Figures}`` for each ``(name, model, session options)``, e.g. ``{"opt_level":
    "disable"}``; the first config is the reference of every speedup."""
    resolved, _ = resolve("cpu")
    runners, session_ms = [], {}
    for name, model, extra in configs:
        start = time.perf_counter()
        sess = create_session(model, resolved, threads=threads, **extra)
        session_ms[name] = (time.perf_counter() - start) * 1e3
        for _ in range(10):  # warm-up
            sess.run(None, feeds)
        runners.append((name, functools.partial(sess.run, None, feeds)))
    m = measure(runners, min_rounds=rounds, max_rounds=rounds, runs=runs, budget_s=None)
    return {name: Figures(m.percentile(name, 50), session_ms[name], m.speedup(name))
            for name, _, _ in configs}
