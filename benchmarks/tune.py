"""``quantize.tune`` against ``Study.auto`` and a hand recipe; structured pruning's trade-off.

1. For the digits CNN, the text transformer and a BERT-shaped model (transformers' BertConfig,
   4 layers, hidden 256, sequence 128, random weights; its "labels" are the float model's own
   classes, so the budget is agreement): the tuned model's speedup (median of interleaved
   rounds, 95% interval) and accuracy drop vs fp32; the best ``Study.auto`` variant within the
   same budget; and a hand recipe straight from onnxruntime.quantization (quantize_dynamic for
   the transformers, quantize_static QDQ per channel for the CNN); candidates and seconds.
2. Structured pruning of the digits CNN (no fine-tuning) at 10..90% of channels: FLOPs, size,
   speedup and accuracy, and where accuracy collapses.

Run: ``python benchmarks/tune.py [--budget-s N] [--models digits,text,bert]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from _models import bert_shaped

import onnxkit
from onnxkit.bench import measure_models


def bert() -> tuple[onnxkit.Model, dict, np.ndarray]:
    model, data = bert_shaped(rows=400)  # 400 rows: one point of the budget is 4 rows
    labels = onnxkit.run(model, data)["logits"].argmax(1)  # its own classes: agreement
    return model, data, labels


def cases(names: list[str]):
    if "digits" in names:
        s = onnxkit.samples.digits_cnn()
        yield "digits CNN", s.model, {"image": s.inputs["image"]}, s.labels
    if "text" in names:
        s = onnxkit.samples.text_transformer()
        yield "text transformer", s.model, s.inputs, s.labels
    if "bert" in names:
        yield ("BERT-shaped (4 layers, hidden 256)", *bert())


def hand_recipe(model: onnxkit.Model, data: dict, kind: str, folder: Path) -> onnxkit.Model:
    """What a user writes with onnxruntime.quantization alone."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        quantize_dynamic,
        quantize_static,
    )

    out = folder / f"{model.name}.hand.onnx"
    if kind != "convnet":
        quantize_dynamic(str(model.path), str(out))
        return onnxkit.load(out)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.rows = iter({k: v[i:i + 16] for k, v in data.items()}
                             for i in range(0, 128, 16))

        def get_next(self):
            return next(self.rows, None)

    quantize_static(str(model.path), str(out), Reader(), quant_format=QuantFormat.QDQ,
                    per_channel=True)
    return onnxkit.load(out)


def compare(title: str, model: onnxkit.Model, data: dict, labels: np.ndarray,
            args: argparse.Namespace, folder: Path) -> None:
    start = time.perf_counter()
    tuned = onnxkit.quantize.tune(model, data, labels=labels, max_accuracy_drop=0.01,
                                  budget_s=args.budget_s)
    tune_s = time.perf_counter() - start
    start = time.perf_counter()
    auto = onnxkit.Study.auto(model, data=data, labels=labels,
                              calibration={k: v[:128] for k, v in data.items()},
                              progress=lambda d, t: None)
    auto_s = time.perf_counter() - start
    pick = auto.best(max_accuracy_drop=0.01)
    kind = onnxkit.quantize.preflight(model).kind
    hand = hand_recipe(model, data, kind, folder)
    contenders = {"tuned": tuned.best or model, "Study.auto best": pick.model, "hand": hand}
    timing, _ = measure_models({"fp32": model, **contenders}, {k: v[:1] for k, v in data.items()},
                               min_rounds=20, max_rounds=20, budget_s=None)
    ref = onnxkit.evaluate(model, data, labels=labels).score
    print(f"\n{title} (fp32 accuracy {ref:.2%}; preflight: {kind}, int8 "
          f"{'fast' if tuned.preflight.int8_fast else 'not fast'} here)")
    print(f"  tune: {len(tuned.candidates)} candidates in {tune_s:.0f} s, {tuned.stopped}: "
          f"{tuned.why}")
    print(f"  Study.auto: {auto_s:.0f} s; best within 1 point: {pick.name} ({pick.why[:80]})")
    for name, candidate in contenders.items():
        score = onnxkit.evaluate(candidate, data, labels=labels).score
        print(f"  {name:<16} {candidate.name[:40]:<40} speedup {timing.speedup(name)}  "
              f"accuracy drop {100 * (ref - score):+.1f} pt")


def pruning() -> None:
    s = onnxkit.samples.digits_cnn()
    ratios = (0.1, 0.25, 0.5, 0.75, 0.9)
    pruned = {f"{r:.0%}": onnxkit.prune.structured(s.model, r) for r in ratios}
    timing, _ = measure_models({"fp32": s.model, **pruned}, {"image": s.inputs["image"][:32]},
                               min_rounds=20, max_rounds=20, budget_s=None)
    base = onnxkit.evaluate(s.model, s.inputs["image"], labels=s.labels).score
    print(f"\nStructured pruning of the digits CNN, no fine-tuning (fp32 accuracy {base:.1%}; "
          "latency at batch 32)")
    collapse = None
    for name, model in pruned.items():
        d = model.lineage[-1].details
        acc = onnxkit.evaluate(model, s.inputs["image"], labels=s.labels).score
        if collapse is None and acc < base - 0.10:
            collapse = name
        print(f"  {name:>4} of channels: FLOPs {d['flops'][1] / d['flops'][0]:.2f}x, size "
              f"{model.size_bytes / s.model.size_bytes:.2f}x, speedup {timing.speedup(name)}, "
              f"accuracy {acc:.1%}")
    print(f"  accuracy falls more than 10 points from {collapse or 'none of these'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-s", type=float, default=120)
    parser.add_argument("--models", default="digits,text,bert")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="onnxkit-bench-tune-") as tmp:
        onnxkit.set_workspace(tmp)
        for title, model, data, labels in cases(args.models.split(",")):
            if not isinstance(data, dict):
                data = {"image": data}
            compare(title, model, data, labels, args, Path(tmp))
        pruning()


if __name__ == "__main__":
    main()
