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

from _interleave import interleaved

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
            out["fused (bert)"] = onnxkit.fuse_transformer(sample.model, num_heads=4,
                                                           hidden_size=64, rounds=1, runs=5)
    return out


def measure(models: dict[str, onnxkit.Model], feeds: dict, rounds: int, runs: int,
            threads: int) -> dict[str, tuple[float, float]]:
    configs = [(name, model, {}) for name, model in models.items()]
    configs.append(("original, ORT level disable", models["original"], {"opt_level": "disable"}))
    return interleaved(configs, feeds, rounds=rounds, runs=runs, threads=threads)


def report(title: str, figures: dict[str, tuple[float, float]]) -> None:
    base_p50, base_init = figures["original"]
    print(f"\n{title}")
    print(f"  {'variant':<30} {'p50 ms':>9} {'vs original':>12} {'session ms':>11} {'vs orig':>8}")
    for name, (p50, init) in figures.items():
        print(f"  {name:<30} {p50:9.3f} {p50 / base_p50:11.2f}x {init:11.1f} "
              f"{init / base_init:7.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=200)
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
          "p50 ratio < 1 is faster than the original)")


if __name__ == "__main__":
    main()
