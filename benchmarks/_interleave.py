"""Shared by the benchmark scripts: p50 latency of several models, measured interleaved."""

from __future__ import annotations

import statistics
from typing import Any

import onnxkit


def interleaved(configs: list[tuple[str, onnxkit.Model, dict[str, Any]]], feeds: dict[str, Any],
                *, rounds: int, runs: int, threads: int) -> dict[str, tuple[float, float]]:
    """``{name: (median p50 ms, median session ms)}`` over ``rounds``; every config runs once a
    round, the order rotating, so drift in machine load hits all alike. A config's dict holds
    extra ``onnxkit.benchmark`` arguments (e.g. ``opt_level``)."""
    p50: dict[str, list[float]] = {name: [] for name, _, _ in configs}
    init: dict[str, list[float]] = {name: [] for name, _, _ in configs}
    for r in range(rounds):
        shift = r % len(configs)
        for name, model, extra in configs[shift:] + configs[:shift]:
            result = onnxkit.benchmark(model, feeds, threads=threads, runs=runs, warmup=10,
                                       **extra)
            p50[name].append(result.p50_ms)
            init[name].append(result.session_ms)
    return {n: (statistics.median(p50[n]), statistics.median(init[n])) for n in p50}
