"""The pipeline in one graph vs the same steps in Python around the bare model; the detector
in fp32 vs int8.

Three pipelines, each at batch 1 and 32, timed side by side in interleaved rounds
(:func:`onnxkit.bench.measure`; the ratio is Python's time over the graph's, with its 95%
interval):

- image: the digits CNN fed uint8 photos (32x32) — resize, scale, softmax, top-3, labels;
  Python: ``ImagePrep.reference`` (PIL's antialiased bilinear resize, numpy) and numpy;
- text: the sample text classifier fed strings — GPT-2 BPE tokenizer, softmax, labels;
  Python: the ``transformers`` tokenizer (padded batch) and numpy;
- detector: letterbox, the network, NMS mapped back onto the image; Python:
  ``ImagePrep.reference`` and ``NMS.reference`` (numpy).

Before timing, each pair's outputs are compared (labels and classes equal; scores and boxes
within the stated tolerance). Then the detector's mAP@0.5 (``evaluate_detector``) and latency,
fp32 vs int8 static, both with letterboxing and NMS in the graph. Goal (issue 28): the composed
model at least as fast as Python-around-the-model at batch 1.

On a shared machine the absolute figures are noisy; the ratios are paired per round. One run
on 2 cores shared with other work (load average 5-7, threads 1, 10 rounds): graph vs Python
image 7.5x / 6.6x (batch 1 / 32), text 1.5x / 1.3x, detector 1.9x / 2.1x, every output equal;
detector mAP@0.5 fp32 0.940, int8 static 0.940 (150 scenes), int8 1.10x [0.96, 1.43] at
batch 32 (an earlier run, beside a browser test, had text batch 32 at 0.35x: noise that size).

Run: ``python benchmarks/compose.py [--rounds N] [--threads N]``.
"""

from __future__ import annotations

import argparse
import sysconfig
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

import onnxkit
from onnxkit import compose
from onnxkit.bench import measure

TOLERANCE = {"rtol": 1e-4, "atol": 1e-4}  # float32 rounding of the same steps, reordered
DIGITS = [str(d) for d in range(10)]


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def classified(logits: np.ndarray, labels: list[str], top_k: int | None = None
               ) -> dict[str, np.ndarray]:
    scores = softmax(logits)
    names = np.array(labels, dtype=object)
    out = {"scores": scores, "label": names[scores.argmax(1)]}
    if top_k:
        order = np.argsort(-scores, axis=1, kind="stable")[:, :top_k]
        out["top_labels"] = names[order]
    return out


# --- the three pipelines: (graph, its feeds, Python's function) per batch ----------------------

def image_pipeline(batch: int, threads: int) -> tuple[Any, dict, Any]:
    digits = onnxkit.samples.digits_cnn()
    photos = np.repeat(np.repeat((digits.inputs["image"][:batch, 0] * 255).round()
                                 .astype(np.uint8), 4, axis=1), 4, axis=2)[..., None]
    prep = compose.ImagePrep(resize=(8, 8), layout="hwc" if batch == 1 else "nhwc")
    graph = compose.with_postprocessing(compose.with_preprocessing(digits.model, image=prep),
                                        softmax=True, top_k=3, labels=DIGITS)
    feeds = {"image": photos[0] if batch == 1 else photos}
    bare = onnxkit.session(digits.model, threads=threads)

    def python() -> dict[str, np.ndarray]:
        tensor = prep.reference(feeds["image"])[0]
        return classified(bare.run(None, {"image": tensor})[0], DIGITS, top_k=3)
    return onnxkit.session(graph, threads=threads), feeds, python


def bpe_tokenizer() -> Any:
    import tokenizers
    import transformers

    folder = Path(tempfile.mkdtemp(prefix="onnxkit-bench-bpe-"))
    lines = [line.strip() for path in sorted(Path(sysconfig.get_paths()["stdlib"], "json")
                                             .glob("*.py"))
             for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    trainer = tokenizers.ByteLevelBPETokenizer()
    trainer.train_from_iterator(lines, vocab_size=500, min_frequency=2,
                                special_tokens=["<|endoftext|>"])
    trainer.save_model(str(folder))
    tok = transformers.GPT2Tokenizer(vocab=str(folder / "vocab.json"),
                                     merges=str(folder / "merges.txt"), model_max_length=32)
    tok.pad_token = tok.eos_token
    return tok


def text_pipeline(batch: int, threads: int, tokenizer: Any) -> tuple[Any, dict, Any]:
    sample = onnxkit.samples.text_transformer()
    graph = compose.with_postprocessing(
        compose.with_preprocessing(sample.model, text=tokenizer, max_length=32),
        softmax=True, labels=["negative", "positive"])
    words = "json loads dumps decoder encoder string object array number".split()
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(words, size=int(rng.integers(3, 12)))) for _ in range(batch)]
    feeds = {"text": np.array(texts, dtype=object)}
    bare = onnxkit.session(sample.model, threads=threads)

    def python() -> dict[str, np.ndarray]:
        ids = tokenizer(texts, padding=True, truncation=True, max_length=32, return_tensors="np")
        logits = bare.run(None, {"input_ids": ids["input_ids"].astype(np.int64),
                                 "attention_mask": ids["attention_mask"].astype(np.int64)})[0]
        return classified(logits, ["negative", "positive"])
    return onnxkit.session(graph, threads=threads), feeds, python


def detector_graph(detector: Any, network: Any) -> onnxkit.Model:
    return compose.with_postprocessing(
        compose.with_preprocessing(network, image=detector.prep),
        nms=compose.NMS(iou=0.5, score=0.3, max_detections=10), labels=list(detector.classes))


def detector_pipeline(batch: int, threads: int) -> tuple[Any, dict, Any]:
    detector = onnxkit.samples.detector()
    nms = compose.NMS(iou=0.5, score=0.3, max_detections=10)
    feeds = {"image": detector.images[:batch]}
    bare = onnxkit.session(detector.model, threads=threads)

    def python() -> dict[str, np.ndarray]:
        tensor, letterbox = detector.prep.reference(feeds["image"])
        boxes, scores = bare.run(["boxes", "scores"], {"image": tensor})
        return nms.reference(boxes, scores, letterbox)
    return onnxkit.session(detector_graph(detector, detector.model), threads=threads), feeds, \
        python


# --- measuring -----------------------------------------------------------------------------------

def same(graph_out: dict[str, np.ndarray], python_out: dict[str, np.ndarray]) -> str:
    for name, want in python_out.items():
        got = graph_out[name]
        if want.dtype.kind in "iuOUb":
            if not np.array_equal(got, want):
                return f"DIFFER: {name}"
        elif not np.allclose(got, want, **TOLERANCE):
            return f"DIFFER: {name} max abs {np.abs(got - want).max():.2e}"
    return "equal"


def timed(name: str, session: Any, feeds: dict, python: Any, rounds: int) -> str:
    names = [o.name for o in session.get_outputs()]
    graph_out = dict(zip(names, session.run(None, feeds)))
    agreement = same(graph_out, python())
    m = measure([("python", python), ("graph", lambda: session.run(None, feeds))],
                min_rounds=rounds, max_rounds=rounds, budget_s=None)
    s = m.speedup("graph")
    return (f"{name:<22} python {m.percentile('python', 50):8.3f} ms  graph "
            f"{m.percentile('graph', 50):8.3f} ms  graph {s.median:5.2f}x "
            f"[{s.low:.2f}, {s.high:.2f}]  outputs {agreement}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory(prefix="onnxkit-bench-compose-") as tmp:
        onnxkit.set_workspace(tmp)
        tokenizer = bpe_tokenizer()
        print(f"threads {args.threads}, {args.rounds} interleaved rounds; 'graph Nx' = Python's "
              "time / the graph's, median [95% interval]")
        for batch in (1, 32):
            print(timed(f"image  batch {batch}", *image_pipeline(batch, args.threads),
                        args.rounds))
            print(timed(f"text   batch {batch}", *text_pipeline(batch, args.threads, tokenizer),
                        args.rounds))
            print(timed(f"detect batch {batch}", *detector_pipeline(batch, args.threads),
                        args.rounds))
        detector = onnxkit.samples.detector()
        int8 = onnxkit.quantize.static(detector.model, detector.inputs["image"][:50],
                                       progress=lambda *_: None)
        models = {"fp32": detector_graph(detector, detector.model),
                  "int8": detector_graph(detector, int8)}
        for name, model in models.items():
            score = compose.evaluate_detector(model, detector.images[50:], detector.truths[50:],
                                              classes=detector.classes)
            print(f"detector {name}: mAP@0.5 {score.map:.3f} on {score.images} scenes, "
                  f"{model.size_bytes / 1024:.0f} KiB")
        feeds = {"image": detector.images[:32]}
        sessions = {k: onnxkit.session(v, threads=args.threads) for k, v in models.items()}
        m = measure([(k, lambda s=s: s.run(None, feeds)) for k, s in sessions.items()],
                    min_rounds=args.rounds, max_rounds=args.rounds, budget_s=None)
        s = m.speedup("int8")
        print(f"detector batch 32: fp32 {m.percentile('fp32', 50):.2f} ms, int8 "
              f"{m.percentile('int8', 50):.2f} ms: int8 {s.median:.2f}x [{s.low:.2f}, "
              f"{s.high:.2f}]")


if __name__ == "__main__":
    main()
