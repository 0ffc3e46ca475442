"""``Study.auto`` on the digits CNN and the text transformer: every usual variant, one run.

For each sample, the first 128 held-out rows calibrate int8 static quantization and the rest
are the evaluation data (accuracy, error vs fp32); latency is one batch of 32 rows, every
variant timed in the same interleaved rounds. Prints each study's table, then the variant
``Study.best`` picks within one point of accuracy: its speed-up over fp32 and its quality.
No goal: it shows what pays off on this CPU, and how long ``Study.auto`` takes.

Run: ``python benchmarks/study.py [--rounds N] [--runs N] [--threads N]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import onnxkit
from onnxkit.errors import ParameterError

CALIBRATION_ROWS = 128


def study(sample: onnxkit.samples.Sample, args: argparse.Namespace) -> onnxkit.Study:
    rows = {k: v[CALIBRATION_ROWS:] for k, v in sample.inputs.items()}
    calibration = {k: v[:CALIBRATION_ROWS] for k, v in sample.inputs.items()}
    return onnxkit.Study.auto(sample.model, data=rows, labels=sample.labels[CALIBRATION_ROWS:],
                              calibration=calibration, threads=args.threads,
                              rounds=args.rounds, runs=args.runs)


def report(title: str, result: onnxkit.Study, seconds: float) -> None:
    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_columns", 30):
        table = result.table().drop(columns=["p90_ms", "note"])
        print(f"\n{title}: Study.auto took {seconds:.1f} s")
        print(table.to_string(float_format=lambda v: f"{v:.4g}"))
    for failed, why in result.failures.items():
        print(f"  failed: {failed}: {why[:120]}")
    try:
        best = result.best(max_accuracy_drop=0.01)
    except ParameterError as e:
        print(f"  no variant within one point of accuracy: {e}")
        return
    ref = result["reference"]
    print(f"  best within 1 point of accuracy: {best.name}: {best.speedup:.2f}x the fp32 "
          f"speed (p50 {best.p50_ms:.3f} vs {ref.p50_ms:.3f} ms), size "
          f"{best.size_bytes / ref.size_bytes:.2f}x, accuracy {best.score:.2%} (fp32 "
          f"{ref.score:.2%}), cosine {best.cosine:.5f}, top-1 agreement {best.agreement:.2%}")
    if best.speedup < 1:
        print("  (no variant within one point beat fp32 here: keep the reference)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="onnxkit-bench-study-") as tmp:
        onnxkit.set_workspace(tmp)
        samples = [("digits CNN", onnxkit.samples.digits_cnn()),
                   ("text transformer", onnxkit.samples.text_transformer())]
        for title, sample in samples:
            start = time.perf_counter()
            result = study(sample, args)
            report(title, result, time.perf_counter() - start)
    print(f"\n({args.rounds} interleaved rounds x {args.runs} runs, batch 32, threads "
          f"{args.threads or 'default'})")


if __name__ == "__main__":
    main()
