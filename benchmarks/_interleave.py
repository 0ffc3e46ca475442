"""Shared by the benchmark scripts: p50 latency of several models, measured interleaved."""

from __future__ import annotations

import statistics
from typing import Any

import onnxkit
from onnxkit.runtime import interleaved as timed


def interleaved(configs: list[tuple[str, onnxkit.Model, dict[str, Any]]], feeds: dict[str, Any],
                *, rounds: int, runs: int, threads: int) -> dict[str, tuple[float, float]]:
    """``{name: (median p50 ms, median session ms)}`` over ``rounds`` of the kernel's
    rotating round-robin timing. A config's dict holds extra ``onnxkit.benchmark`` arguments
    (e.g. ``opt_level``)."""
    jobs = [(model, {"threads": threads, "warmup": 10, **extra}) for _, model, extra in configs]
    results = timed(jobs, feeds, rounds=rounds, runs=runs)
    return {name: (statistics.median(r.p50_ms for r in per_round),
                   statistics.median(r.session_ms for r in per_round))
            for (name, _, _), per_round in zip(configs, results)}
