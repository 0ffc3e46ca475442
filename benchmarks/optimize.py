"""Latency of each optimization against the original model, on the samples, in one run.

For each sample, the variants are built once, then benchmarked in interleaved rounds (every
variant once per round, the order rotating) so machine drift hits them alike. Each figure is
the median over rounds of ``onnxkit.benchmark(...).p50_ms`` at ORT's default session level
(``all``), plus session creation time, reported as ratios to the original model. The original
at ``opt_level="disable"`` shows what ORT's own session-time optimizations are worth.

No goal: the point is to see which recipe pays off on this machine (fp16 on a CPU without
fp16 arithmetic, or fusion on 2 cores, may well be slower).

Run: ``python benchmarks/optimize.py [--rounds N] [--runs N] [--threads N]``.
"""

from __future__ import annotations

import argparse
import tempfile
import warnings

from _interleave import Figures, interleaved

import onnxkit


def variants(sample: onnxkit.samples.Sample, transformer: bool) -> dict[str, onnxkit.Model]:
    out = {"original": sample.model,
           "optimize basic": onnxkit.optimize(sample.model, level="basic"),
           "optimize all": onnxkit.optimize(sample.model, level="all"),
           "onnxslim only": onnxkit.optimize(sample.model, level=None),
           "fp16": onnxkit.to_fp16(sample.model)}
    if transformer:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # we measure it below anyway
            out["fused (bert)"] = onnxkit.fuse_transformer(sample.model, timed=False)
    return out


def measure(models: dict[str, onnxkit.Model], feeds: dict, rounds: int, runs: int,
            threads: int) -> dict[str, Figures]:
    configs = [(name, model, {}) for name, model in models.items()]
    configs.append(("original, ORT level disable", models["original"], {"opt_level": "disable"}))
    return interleaved(configs, feeds, rounds=rounds, runs=runs, threads=threads)


def report(title: str, figures: dict[str, Figures]) -> None:
    base_init = figures["original"].session_ms
    print(f"\n{title}")
    print(f"  {'variant':<30} {'p50 ms':>9} {'speedup [95% interval]':>26} {'session ms':>11} "
          f"{'vs orig':>8}")
    for name, f in figures.items():
        print(f"  {name:<30} {f.p50_ms:9.3f} {str(f.speedup):>26} {f.session_ms:11.1f} "
              f"{f.session_ms / base_init:7.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="onnxkit-bench-opt-") as tmp:
        onnxkit.set_workspace(tmp)
        digits = onnxkit.samples.digits_cnn()
        text = onnxkit.samples.text_transformer()
        cases = [("digits CNN (batch 32)", digits, {"image": digits.inputs["image"][:32]}, False),
                 ("text transformer (batch 8, sequence 32)", text,
                  {k: v[:8] for k, v in text.inputs.items()}, True)]
        for title, sample, feeds, is_transformer in cases:
            figures = measure(variants(sample, is_transformer), feeds, args.rounds, args.runs,
                              args.threads)
            report(title, figures)
    print(f"\n({args.rounds} interleaved rounds x {args.runs} runs, threads {args.threads}; "
          "speedup > 1 is faster than the original: median of per-round ratios)")


if __name__ == "__main__":
    main()
