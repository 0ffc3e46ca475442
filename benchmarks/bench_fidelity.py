"""Fidelity of ``onnxkit.benchmark``: its median latency against a bare ``InferenceSession`` loop.

For each sample model (the digits CNN on a batch of 32 images, the text transformer on a batch
of 8 texts), ``onnxkit.benchmark(model, feeds, runs=N, warmup=W, threads=T).p50_ms`` is compared
with a bare loop in the same process: a fresh ``onnxruntime.InferenceSession`` with the same
settings (intra-op threads T, graph optimization "all", log severity 3, CPU provider), one
first run plus W warm-up runs (as benchmark does), then N calls of ``sess.run(None, feeds)``
each timed with ``time.perf_counter``, and their median. The two alternate within each round,
the order flipping every round, so that drift in machine load hits both alike; the figure per
model is median over rounds of benchmark p50 / median over rounds of raw p50.
Goal: ratio in 0.95..1.05 (benchmark adds nothing inside its timed region).

Run: ``python benchmarks/bench_fidelity.py [--rounds N] [--runs N] [--warmup N] [--threads N]``.
Exits non-zero only if the script itself fails; a missed goal prints MISSED.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

import numpy as np

GOAL_LOW, GOAL_HIGH = 0.95, 1.05
CASES = (("digits_cnn", 32), ("text_transformer", 8))  # sample builder, batch size


def raw_p50(path: str, feeds: dict[str, np.ndarray], *, runs: int, warmup: int,
            threads: int) -> float:
    """Median latency (ms) of a bare ``sess.run`` loop on a fresh session."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    for _ in range(1 + warmup):  # benchmark() makes a first run, then `warmup` more
        sess.run(None, feeds)
    run, clock, samples = sess.run, time.perf_counter, []
    for _ in range(runs):
        t0 = clock()
        run(None, feeds)
        samples.append(clock() - t0)
    return statistics.median(samples) * 1e3


def measure(model: Any, feeds: dict[str, np.ndarray], *, rounds: int, runs: int, warmup: int,
            threads: int) -> tuple[list[float], list[float]]:
    """Interleaved p50s (ms): benchmark first in even rounds, the bare loop first in odd ones."""
    import onnxkit

    kit: list[float] = []
    raw: list[float] = []

    def do_kit() -> None:
        r = onnxkit.benchmark(model, feeds, runs=runs, warmup=warmup, threads=threads)
        kit.append(r.p50_ms)

    def do_raw() -> None:
        raw.append(raw_p50(str(model.path), feeds, runs=runs, warmup=warmup, threads=threads))

    for i in range(rounds):
        for step in ((do_kit, do_raw) if i % 2 == 0 else (do_raw, do_kit)):
            step()
    return kit, raw


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11, help="measured rounds (default 11)")
    parser.add_argument("--runs", type=int, default=400,
                        help="timed runs per measurement (default 400)")
    parser.add_argument("--warmup", type=int, default=20,
                        help="warm-up runs per measurement (default 20)")
    parser.add_argument("--threads", type=int, default=1,
                        help="intra-op threads (default 1, least noisy on small machines)")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.runs < 1 or args.warmup < 0 or args.threads < 1:
        parser.error("--rounds, --runs and --threads must be >= 1, --warmup >= 0")

    import onnxkit.samples

    for name, batch in CASES:
        sample = getattr(onnxkit.samples, name)()
        feeds = {k: np.ascontiguousarray(v[:batch]) for k, v in sample.inputs.items()}
        kit, raw = measure(sample.model, feeds, rounds=args.rounds, runs=args.runs,
                           warmup=args.warmup, threads=args.threads)
        kit_p50, raw_p50_ = statistics.median(kit), statistics.median(raw)
        ratio = kit_p50 / raw_p50_
        verdict = "ok" if GOAL_LOW <= ratio <= GOAL_HIGH else "MISSED"
        print(f"{name} (batch {batch}): benchmark p50 {kit_p50:.3f} ms, raw loop p50 "
              f"{raw_p50_:.3f} ms, ratio {ratio:.3f} (goal {GOAL_LOW}-{GOAL_HIGH}) {verdict}")
        print(f"  per round, benchmark: {' '.join(f'{v:.3f}' for v in kit)}")
        print(f"  per round, raw loop:  {' '.join(f'{v:.3f}' for v in raw)}")
    print(f"({args.rounds} rounds x {args.runs} runs, warm-up {args.warmup}, "
          f"threads {args.threads})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
