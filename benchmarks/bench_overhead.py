"""``onnxkit.benchmark``'s p50 against a bare ``session.run`` loop on the same session options.

Each round runs ``onnxkit.benchmark(model, feeds, runs=N)`` (a fresh session, warm-up, N timed
runs) and a bare loop of N ``sess.run`` calls timed with ``time.perf_counter`` on a plain
``onnxruntime.InferenceSession``, in alternating order. The ratio of their p50s, per round, is
summarised as a median with its 95% interval (``onnxkit.runtime.speedup_interval``).

Goal: benchmark p50 / bare-loop p50 within 0.95-1.05 (the harness adds nothing measurable).

Run: ``python benchmarks/bench_overhead.py [--rounds N] [--runs N]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import onnxruntime as ort

import onnxkit
from onnxkit.runtime import speedup_interval


def bare_p50(path: str, feeds: dict, runs: int) -> float:
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    sess.run(None, feeds)
    for _ in range(5):
        sess.run(None, feeds)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(None, feeds)
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="onnxkit-bench-overhead-") as tmp:
        onnxkit.set_workspace(tmp)
        digits, text = onnxkit.samples.digits_cnn(), onnxkit.samples.text_transformer()
        cases = [("digits CNN, batch 1", digits.model, {"image": digits.inputs["image"][:1]}),
                 ("digits CNN, batch 32", digits.model, {"image": digits.inputs["image"][:32]}),
                 ("text transformer, batch 1", text.model,
                  {k: v[:1] for k, v in text.inputs.items()})]
        for title, model, feeds in cases:
            ratios = []
            for r in range(args.rounds):
                order = ["kit", "bare"] if r % 2 == 0 else ["bare", "kit"]
                p50 = {}
                for who in order:
                    p50[who] = (onnxkit.benchmark(model, feeds, runs=args.runs).p50_ms
                                if who == "kit" else bare_p50(str(model.path), feeds, args.runs))
                ratios.append(p50["kit"] / p50["bare"])
            s = speedup_interval(ratios)
            verdict = "PASS" if 0.95 <= s.low and s.high <= 1.05 else "FAIL"
            print(f"{title:<28} benchmark p50 / bare loop p50: {s}  {verdict} (goal 0.95-1.05)")
    print(f"\n({args.rounds} alternating rounds x {args.runs} runs each; default session "
          "options on both sides)")


if __name__ == "__main__":
    main()
