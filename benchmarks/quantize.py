"""fp32 vs int8 dynamic vs int8 static (QDQ, QOperator) vs int4 weight-only, on the samples.

For each sample the variants are built once, then measured in one run: size ratio, p50
latency ratio (interleaved rounds of ``onnxkit.benchmark``, one batch), and quality on the
held-out set (accuracy where there are labels, plus top-1 agreement and cosine similarity of
the outputs vs fp32). Variants a model cannot take (int4 needs MatMul weights) are skipped
with the reason. No goal: it shows which recipe pays off on this CPU. For reference, raw ORT
int8 dynamic made a 6-layer BERT 1.39x faster at 0.25 the size on this kind of machine.

Run: ``python benchmarks/quantize.py [--rounds N] [--runs N] [--threads N]``.
"""

from __future__ import annotations

import argparse
import tempfile
import warnings

from _interleave import interleaved

import onnxkit
from onnxkit import quantize
from onnxkit.errors import UnsupportedModelError


def variants(sample: onnxkit.samples.Sample, calibration) -> dict[str, onnxkit.Model | str]:
    recipes = {
        "int8 dynamic": lambda: quantize.dynamic(sample.model),
        "int8 static QDQ": lambda: quantize.static(sample.model, calibration),
        "int8 static QOperator": lambda: quantize.static(sample.model, calibration,
                                                         format="qoperator"),
        "int4 weight-only": lambda: quantize.weight_only(sample.model),
    }
    out: dict[str, onnxkit.Model | str] = {"fp32": sample.model}
    for name, make in recipes.items():
        try:
            out[name] = make()
        except UnsupportedModelError as e:
            out[name] = f"skipped: {str(e).split('. ')[0]}"
    return out


def quality(sample: onnxkit.samples.Sample, model: onnxkit.Model) -> str:
    first = next(iter(onnxkit.run(model, sample.inputs).values()))
    diff = onnxkit.compare(sample.model, model, sample.inputs).outputs[0]
    return (f"acc {sample.accuracy(first):6.1%}  top-1 agree {diff.argmax_agreement:6.1%}  "
            f"cos {diff.cosine:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="onnxkit-bench-q-") as tmp:
        onnxkit.set_workspace(tmp)
        digits, text = onnxkit.samples.digits_cnn(), onnxkit.samples.text_transformer()
        text_calibration = [{k: v[i:i + 16] for k, v in text.inputs.items()}
                            for i in range(0, 128, 16)]
        cases = [("digits CNN (batch 32)", digits, digits.inputs["image"][:256],
                  {"image": digits.inputs["image"][:32]}),
                 ("text transformer (batch 8, sequence 32)", text, text_calibration,
                  {k: v[:8] for k, v in text.inputs.items()})]
        for title, sample, calibration, feeds in cases:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                models = variants(sample, calibration)
            built = {n: m for n, m in models.items() if isinstance(m, onnxkit.Model)}
            figures = interleaved([(n, m, {}) for n, m in built.items()], feeds,
                                  rounds=args.rounds, runs=args.runs, threads=args.threads)
            base_size = sample.model.size_bytes
            print(f"\n{title}")
            for name, model in models.items():
                if isinstance(model, str):
                    print(f"  {name:<22} {model}")
                    continue
                f = figures[name]
                print(f"  {name:<22} size {model.size_bytes / base_size:5.2f}x  p50 "
                      f"{f.p50_ms:7.3f} ms  speedup {f.speedup}  {quality(sample, model)}")
    print(f"\n({args.rounds} interleaved rounds x {args.runs} runs, threads {args.threads})")


if __name__ == "__main__":
    main()
