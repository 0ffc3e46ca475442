"""Does a Study pick signal or noise? Its pick, repeated, against a long independent measurement.

For each model (the digits CNN, the text transformer, and transformers' BERT, ResNet and
MobileNetV2 built from configs with random weights):

1. ``Study.auto`` with default settings builds the usual variants; its wall time is printed
   (goal for the BERT-shaped model, 4 layers, hidden 256, sequence 128: under 60 s).
2. The variants are measured ``--repeats`` times (default 10) by a fresh ``Study`` at its
   default settings (adaptive interleaved rounds, 20 s budget) and ``best(min_agreement=0.95)``
   is asked each time: the pick, its speedup and 95% interval.
3. An independent interleaved measurement of every variant, ``--long-rounds`` rounds of at
   least 10 runs each (>= 500 runs per model), gives each variant's "true" speedup.

Goals, printed as PASS/FAIL per model: every pick is the same or tied (the picks' independent
intervals overlap, or the reference is kept while nothing is faster beyond the spread); each
claimed interval contains the independent median speedup; no pick is slower than the reference
in the independent measurement.

Run: ``python benchmarks/study.py [--repeats N] [--models bert,resnet,...] [--long-rounds N]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from typing import Any

import numpy as np
from _models import bert_shaped, torch_model

import onnxkit
from onnxkit.bench import measure_models

MIN_AGREEMENT = 0.95


def bert() -> tuple[onnxkit.Model, dict[str, np.ndarray]]:
    return bert_shaped(rows=1)


def resnet() -> tuple[onnxkit.Model, dict[str, np.ndarray]]:
    import torch
    import transformers as T

    torch.manual_seed(0)
    config = T.ResNetConfig(embedding_size=32, hidden_sizes=[32, 64, 128, 256],
                            depths=[1, 1, 1, 1], layer_type="basic", num_labels=10)
    image = torch.randn(1, 3, 64, 64)
    return torch_model(T.ResNetForImageClassification(config).eval(), (image,)), {}


def mobilenet_v2() -> tuple[onnxkit.Model, dict[str, np.ndarray]]:
    import torch
    import transformers as T

    torch.manual_seed(0)
    config = T.MobileNetV2Config(image_size=224, num_labels=10)
    image = torch.randn(1, 3, 224, 224)
    return torch_model(T.MobileNetV2ForImageClassification(config).eval(), (image,)), {}


def digits() -> tuple[onnxkit.Model, dict[str, np.ndarray]]:
    s = onnxkit.samples.digits_cnn()
    return s.model, {"image": s.inputs["image"][:1]}


def text() -> tuple[onnxkit.Model, dict[str, np.ndarray]]:
    s = onnxkit.samples.text_transformer()
    return s.model, {k: v[:1] for k, v in s.inputs.items()}


MODELS = {"digits": digits, "text": text, "bert": bert, "resnet": resnet,
          "mobilenet_v2": mobilenet_v2}


def _data(model: onnxkit.Model, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """32 evaluation rows: random inputs shaped like the example (ids within the vocabulary)."""
    rows = onnxkit.random_inputs(model, batch=32, seed=1)
    for name, example in feeds.items():
        if example.dtype.kind == "i":
            rows[name] = np.resize(example, (32, *example.shape[1:]))
    return rows


def run_model(name: str, args: argparse.Namespace) -> dict[str, Any]:
    model, feeds = MODELS[name]()
    data = _data(model, feeds)
    start = time.perf_counter()
    auto = onnxkit.Study.auto(model, data=data, progress=lambda done, total: None)
    auto_s = time.perf_counter() - start
    variants = {r.name: r.model for r in auto.rows() if r.name != "reference"}
    picks = []
    for _ in range(args.repeats):
        study = onnxkit.Study(model, data=data)
        study.add_all(variants)
        choice = study.best(min_agreement=MIN_AGREEMENT)
        picks.append((choice.name, choice.speedup, choice.why))
    long, _ = measure_models({"reference": model, **variants}, {k: v[:1] for k, v in
                                                               data.items()},
                             min_rounds=args.long_rounds, max_rounds=args.long_rounds,
                             budget_s=None, runs=None)
    truth = {n: long.speedup(n) for n in long.names}
    runs = min(len(long.pooled(n)) for n in long.names)
    return {"name": name, "auto_s": auto_s, "auto": auto, "picks": picks, "truth": truth,
            "runs": runs, "agreement": {r.name: r.agreement for r in auto.rows()}}


def verdicts(result: dict[str, Any]) -> dict[str, bool]:
    truth, picks = result["truth"], result["picks"]
    chosen = {p for p, _, _ in picks}
    variants = [p for p in chosen if p != "reference"]
    intervals = [truth[p] for p in variants]
    tied = all(a.low <= b.high and b.low <= a.high for a in intervals for b in intervals)
    if "reference" in chosen:  # keeping it is right when no picked variant is truly faster
        tied = tied and all(truth[p].low <= 1.0 or truth[p].median < 1.05 for p in variants)
    contains = all(claim.low <= truth[p].median <= claim.high
                   for p, claim, _ in picks if p != "reference")
    never_slower = all(truth[p].verdict != "slower" for p in variants)
    return {"same or tied": tied, "interval holds the long figure": contains,
            "no pick slower": never_slower}


def report(result: dict[str, Any]) -> None:
    print(f"\n== {result['name']}: Study.auto (defaults) took {result['auto_s']:.1f} s; "
          f"independent measurement: >= {result['runs']} runs per model")
    truth = result["truth"]
    for name, fast in truth.items():
        agree = result["agreement"].get(name)
        print(f"  {name:<14} long-run speedup {fast}  {fast.verdict:<17} agreement "
              f"{'-' if agree is None else f'{agree:.1%}'}")
    counts = Counter(p for p, _, _ in result["picks"])
    print(f"  picks over {len(result['picks'])} Studies: {dict(counts)}")
    for pick, claim, why in result["picks"]:
        print(f"    {pick:<14} claimed {claim} ({claim.rounds} rounds)  {why[:90]}")
    for goal, ok in verdicts(result).items():
        print(f"  {'PASS' if ok else 'FAIL'}  {goal}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--long-rounds", type=int, default=50)
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="onnxkit-bench-study-") as tmp:
        onnxkit.set_workspace(tmp)
        for name in args.models.split(","):
            report(run_model(name, args))


if __name__ == "__main__":
    main()
