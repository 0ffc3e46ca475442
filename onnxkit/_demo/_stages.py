"""The demo's stages, run in order by :class:`Run`: each returns its headline and figures.

See :func:`onnxkit.demo`. Results are kept on the ``Run`` and handed to the ``DemoReport``.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from onnxkit import deploy, quantize, samples
from onnxkit._demo._report import (
    CALIBRATION_ROWS,
    LABELS,
    LATENCY_BATCH,
    MAX_ACCURACY_DROP,
    TIMING,
    DemoReport,
    Stage,
)
from onnxkit._version import __version__
from onnxkit.bench import accuracy
from onnxkit.convert import from_torch
from onnxkit.inspect import summarize
from onnxkit.runtime import providers, run
from onnxkit.study import Study
from onnxkit.transforms import optimize, to_fp16

if TYPE_CHECKING:
    from onnxkit.models import Model
    from onnxkit.study import Variant


def _accuracy(model: Model, data: dict[str, np.ndarray], labels: np.ndarray) -> float:
    return accuracy(next(iter(run(model, data).values())), labels)


class Run:
    """The demo's state between stages; :meth:`all` runs them and times each as a :class:`Stage`."""

    def __init__(self, quick: bool, progress: Callable[[Stage], None] | None):
        self.quick, self.progress = quick, progress
        self.stages: list[Stage] = []
        self.models: dict[str, Model] = {}

    def all(self, folder: Path, replace: bool) -> None:
        for name, step in (("sample", self.sample), ("convert", self.convert),
                           ("optimize", self.optimize), ("quantize", self.quantize),
                           ("compare", self.compare),
                           ("bundle", lambda: self.deploy(folder, replace))):
            started = time.perf_counter()
            headline, figures = step()
            stage = Stage(name, time.perf_counter() - started, headline, figures)
            self.stages.append(stage)
            if self.progress is not None:
                self.progress(stage)

    def sample(self) -> tuple[str, dict[str, Any]]:
        self.torch_sample = s = samples.digits_torch()  # trains with one torch thread
        images, labels = s.inputs["image"], s.labels
        self.calibration = images[:CALIBRATION_ROWS]
        self.data = {"image": images[CALIBRATION_ROWS:]}
        self.labels = labels[CALIBRATION_ROWS:]
        figures = {"held_out": len(images), "calibration_rows": CALIBRATION_ROWS,
                   "evaluation_rows": len(self.labels)}
        return (f"digits CNN trained in PyTorch; {len(images)} held-out images: "
                f"{CALIBRATION_ROWS} calibrate, {len(self.labels)} evaluate"), figures

    def convert(self) -> tuple[str, dict[str, Any]]:
        s = self.torch_sample
        self.conversion = c = from_torch(s.module, s.example_inputs, dynamic_batch=True,
                                         input_names=["image"], output_names=["logits"])
        self.models["exported"] = c.model
        self.summaries = {"exported": summarize(c.model)}
        err = max(o.max_abs or 0.0 for o in c.verification.outputs)
        figures = {"exporter": c.exporter, "max_abs_err": err, "verified": bool(c),
                   "size_bytes": c.model.size_bytes,
                   "parameters": self.summaries["exported"].parameter_count}
        verdict = "verified" if c else "MISMATCH"
        return (f"{c.exporter}  max abs err {err:.1e} vs PyTorch  {verdict}  "
                f"{c.model.size_bytes / 1e3:.0f} kB"), figures

    def optimize(self) -> tuple[str, dict[str, Any]]:
        exported = self.models["exported"]
        opt = self.models["optimized"] = optimize(exported, level="basic")
        half = self.models["fp16"] = to_fp16(opt)
        for name in ("optimized", "fp16"):
            self.summaries[name] = summarize(self.models[name])
        nodes = [self.summaries[n].node_count for n in ("exported", "optimized")]
        checks = {n: self.models[n].lineage[-1].details.get("verification", {})
                  for n in ("optimized", "fp16")}
        verified = {n: c.get("passed") for n, c in checks.items()}
        figures = {"nodes_before": nodes[0], "nodes_after": nodes[1], "verified": verified,
                   "fp16_size_ratio": half.size_bytes / exported.size_bytes}
        verdict = "verified" if all(verified.values()) else "CHANGED OUTPUTS"
        return (f"opt-basic nodes {nodes[0]}->{nodes[1]}  fp16 size "
                f"{figures['fp16_size_ratio']:.2f}x  {verdict}"), figures

    def quantize(self) -> tuple[str, dict[str, Any]]:
        opt = self.models["optimized"]
        self.models["int8-static"] = quantize.static(opt, self.calibration,
                                                     progress=lambda done, total: None)
        self.models["int8-dynamic"] = quantize.dynamic(opt)
        self.layer_errors = quantize.debug(opt, self.models["int8-static"], self.calibration)
        figures: dict[str, Any] = {}
        parts = []
        for name in ("int8-static", "int8-dynamic"):
            model = self.models[name]
            self.summaries[name] = summarize(model)
            ratio = model.size_bytes / self.models["exported"].size_bytes
            acc = _accuracy(model, self.data, self.labels)
            figures[name] = {"size_ratio": ratio, "accuracy": acc}
            parts.append(f"{name} size {ratio:.2f}x acc {acc:.1%}")
        worst = self.layer_errors.layers[0] if self.layer_errors.layers else None
        if worst is not None:
            figures["worst_sqnr_db"] = worst.sqnr_db
        return "  ".join(parts), figures

    def compare(self) -> tuple[str, dict[str, Any]]:
        # Timed on a batch of 256: at 32 images a run is ~0.25 ms for every variant and the
        # pick would follow the noise; at 256 the differences are the models' own.
        self.study = study = Study(self.models["exported"], data=self.data, labels=self.labels,
                                   batch=LATENCY_BATCH, **TIMING[self.quick])
        study.add_all({n: m for n, m in self.models.items() if n != "exported"})
        ref = study["reference"]
        self.choice = study.best(max_accuracy_drop=MAX_ACCURACY_DROP)
        self.best: Variant = self.choice.variant  # the reference when nothing is better
        pick, b = self.best.name, self.best
        change = (b.score or 0.0) - (ref.score or 0.0)
        figures = {"best": pick, "variants": len(study) - 1, "p50_ms": b.p50_ms,
                   **b.speedup.columns(), "accuracy": b.score,
                   "accuracy_drop": (ref.score or 0.0) - (b.score or 0.0),
                   "size_ratio": b.size_bytes / ref.size_bytes}
        figures |= {"why": self.choice.why}
        return (f"best {pick}  p50 {b.p50_ms:.3f} ms ({b.speedup})  acc {b.score:.1%} "
                f"({change * 100:+.1f} pt)  size {figures['size_ratio']:.2f}x  of "
                f"{len(study) - 1} variants"), figures

    def deploy(self, folder: Path, replace: bool) -> tuple[str, dict[str, Any]]:
        self.bundle = deploy.bundle(self.best.model, folder, labels=LABELS, overwrite=replace)
        self.check = deploy.verify(folder)
        size = sum(self.bundle.files.values())
        figures = {"path": str(folder), "files": len(self.bundle.files), "size_bytes": size,
                   "verified": bool(self.check)}
        return (f"{'verified' if self.check else 'VERIFY FAILED'}  {len(self.bundle.files)} "
                f"files, {size / 1e3:.0f} kB  {folder}"), figures

    def report(self, target: Path, folder: Path, seconds: float) -> DemoReport:
        timing = self.study.settings
        settings = {"calibration_rows": CALIBRATION_ROWS,
                    "evaluation_rows": len(self.labels), "rounds": timing["rounds"],
                    "runs": timing["runs"], "latency_batch": LATENCY_BATCH,
                    "max_accuracy_drop": MAX_ACCURACY_DROP}
        return DemoReport(
            target, folder, tuple(self.stages), self.best.name, seconds, self.quick,
            {"onnxkit": __version__, **_versions()}, self.conversion, dict(self.models),
            dict(self.summaries), self.layer_errors, self.study, self.bundle, self.check,
            providers(), settings)


def _versions() -> dict[str, str]:
    import importlib

    found = {"python": platform.python_version()}
    for name in ("onnxruntime", "onnx", "torch", "numpy", "plotly"):  # all imported by now
        found[name] = getattr(importlib.import_module(name), "__version__", "?")
    return found
