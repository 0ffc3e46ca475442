"""The model zoo: architectures nobody here wrote, through the whole documented path.

Each model goes convert (auto, then the other exporter) -> check -> optimize -> fp16 -> int8 ->
bundle -> predict.py, and each stage's outcome lands in a table (test-artifacts/zoo.md, and
the end of the test run). Where the raw tooling itself fails (torch's dynamo exporter on T5's
encoder, skl2onnx on HistGradientBoosting), the stage must end in onnxkit's clear error, named
in ``expected``. Weights are random (transformers configs) or trained in seconds (scikit-learn):
nothing downloads.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from zoo_table import record

import onnxkit
from onnxkit.errors import OnnxkitError

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("sklearn")
import hf_models  # noqa: E402

TEXT_AXES = {"input_ids": {1: "sequence"}, "attention_mask": {1: "sequence"}}


@dataclass
class Case:
    name: str
    build: Callable[[], Any]
    inputs: Callable[[], Any]
    axes: dict[str, dict[int, str]] | None = None
    quantize: str = "dynamic"  # "static" for convnets (calibrated on random images)
    expected: dict[str, str] = field(default_factory=dict)  # stage -> the error it must give


TORCH_CASES = [
    Case("bert", hf_models.bert, hf_models.text_inputs, TEXT_AXES),
    Case("distilbert", hf_models.distilbert, hf_models.text_inputs, TEXT_AXES),
    Case("gpt2 (no cache)", hf_models.gpt2, lambda: hf_models.text_inputs(mask=False),
         {"input_ids": {1: "sequence"}}, expected={"torchscript": "aten::diff"}),
    Case("t5 encoder", hf_models.t5_encoder, hf_models.text_inputs, TEXT_AXES,
         expected={"dynamo": "Cannot view a tensor"}),
    Case("whisper encoder", hf_models.whisper_encoder,
         lambda: (hf_models._seeded().randn(2, 16, 64),)),
    Case("vit", hf_models.vit, lambda: hf_models.image_inputs(size=32), quantize="static"),
    Case("resnet", hf_models.resnet, hf_models.image_inputs, quantize="static"),
    Case("mobilenet v2", hf_models.mobilenet_v2, hf_models.image_inputs, quantize="static"),
    Case("convnext", hf_models.convnext, hf_models.image_inputs, quantize="static"),
    Case("lstm tagger", hf_models.recurrent_tagger, lambda: (torch.randn(2, 20, 16),),
         {"x": {1: "sequence"}}),
    Case("gru tagger", lambda: hf_models.recurrent_tagger("GRU"),
         lambda: (torch.randn(2, 20, 16),), {"x": {1: "sequence"}}),
]


class Run:
    """One model's way through the stages: each stage's outcome is recorded as it ends."""

    def __init__(self, model: str):
        self.model = model
        self.failures: list[str] = []

    def stage(self, stage: str, action: Callable[[], Any], expected: str | None = None) -> Any:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the table says what matters
                result, note = action()
        except OnnxkitError as e:
            if expected and expected in str(e):
                record(self.model, stage, f"expected error: {type(e).__name__}")
                return None
            return self._fail(stage, f"{type(e).__name__}: {str(e)[:160]}")
        except Exception as e:  # anything but onnxkit's own errors is a defect
            return self._fail(stage, f"crash {type(e).__name__}: {str(e)[:160]}")
        if expected:
            return self._fail(stage, f"expected an error containing {expected!r}; it passed")
        record(self.model, stage, note)
        return result

    def _fail(self, stage: str, why: str) -> None:
        record(self.model, stage, f"FAIL {why}")
        self.failures.append(f"{stage}: {why}")
        return None


def _feeds(model: onnxkit.Model, example: Any) -> dict[str, np.ndarray]:
    tensors = list(example.values()) if isinstance(example, dict) else list(example)
    names = [i.name for i in onnxkit.summarize(model).inputs]
    return {n: t.numpy() for n, t in zip(names, tensors)}


@pytest.mark.parametrize("case", TORCH_CASES, ids=[c.name for c in TORCH_CASES])
def test_torch_model_through_every_stage(case, tmp_path):
    run = Run(case.name)
    module, example = case.build(), case.inputs()

    def convert(exporter: str | None) -> Callable[[], Any]:
        def action() -> Any:
            c = onnxkit.convert.from_torch(module, example, exporter=exporter,
                                           dynamic_batch=True, dynamic_axes=case.axes)
            assert c, repr(c)
            dims = "x".join(map(str, onnxkit.summarize(c.model).inputs[0].shape or ()))
            return c, f"ok {c.exporter} [{dims}]"
        return action

    conversion = run.stage("convert", convert(None))
    other = {"dynamo": "torchscript", "torchscript": "dynamo"}[
        conversion.exporter if conversion else "dynamo"]
    run.stage(other, convert(other), case.expected.get(other))
    if conversion is not None:
        _onwards(run, conversion.model, _feeds(conversion.model, example), case.quantize,
                 tmp_path)
    assert not run.failures, run.failures


def _onwards(run: Run, model: onnxkit.Model, feeds: dict[str, np.ndarray], quantize: str,
             tmp_path: Any) -> None:
    """check -> optimize -> fp16 -> int8 -> bundle -> predict.py."""
    def check() -> Any:
        report = onnxkit.check(model)
        assert report, repr(report)
        return report, "ok"

    def verified(make: Callable[[], onnxkit.Model]) -> Callable[[], Any]:
        def action() -> Any:
            derived = make()
            check = derived.lineage[-1].details.get("verification", {})
            passed = check.get("passed", True)
            note = {True: "ok", None: "ok, unverified (random inputs refused)"}.get(
                passed, f"warn: differs beyond tolerance ({'; '.join(check.get('failed', []))})")
            onnxkit.run(derived, feeds)
            return derived, f"{note} ({derived.size_bytes / model.size_bytes:.2f}x size)"
        return action

    run.stage("check", check)
    optimized = run.stage("optimize", verified(lambda: onnxkit.optimize(model, level="basic")))
    if quantize != "none":
        run.stage("fp16", verified(lambda: onnxkit.to_fp16(model)))
        base = optimized or model
        run.stage("int8", verified(lambda: onnxkit.quantize.static(
            base, {k: np.concatenate([v] * 8) for k, v in feeds.items()},
            progress=lambda *a: None) if quantize == "static" else
            onnxkit.quantize.dynamic(base)))
    bundle = run.stage("bundle", lambda: _bundle(optimized or model, feeds, tmp_path))
    if bundle is not None:
        run.stage("predict.py", lambda: _predict(bundle, feeds, tmp_path))


def _bundle(model: onnxkit.Model, feeds: dict[str, np.ndarray], tmp_path: Any) -> Any:
    bundle = onnxkit.deploy.bundle(model, tmp_path / "bundle", feeds=feeds)
    check = onnxkit.deploy.verify(bundle.path)
    assert check, repr(check)
    return bundle, f"ok ({len(bundle.files)} files)"


def _predict(bundle: Any, feeds: dict[str, np.ndarray], tmp_path: Any) -> Any:
    # text as fixed-width unicode: how an .npz holds strings without pickle
    np.savez(tmp_path / "inputs.npz", **{k: v.astype(str) if v.dtype == object else v
                                         for k, v in feeds.items()})
    done = subprocess.run([sys.executable, str(bundle.path / "predict.py"), "--input",
                           str(tmp_path / "inputs.npz"), "--output", str(tmp_path / "out.json")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-500:]
    return done, "ok"


# --- scikit-learn and Keras ------------------------------------------------------------------

def _wine() -> tuple[Any, Any]:
    from sklearn.datasets import load_wine

    frame, y = load_wine(return_X_y=True, as_frame=True)
    return frame, y


def _sklearn_cases() -> list[tuple[str, Callable[[], tuple[Any, Any]], str | None]]:
    from sklearn.cluster import KMeans
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import (
        GradientBoostingClassifier,
        HistGradientBoostingClassifier,
        RandomForestClassifier,
    )
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from sklearn.svm import SVC

    def on_array(estimator: Any) -> Callable[[], tuple[Any, Any]]:
        def make() -> tuple[Any, Any]:
            frame, y = _wine()
            x = frame.iloc[:, :6].to_numpy()
            return estimator.fit(x, y), x[:10]
        return make

    def column_transformer() -> tuple[Any, Any]:
        frame, y = _wine()
        frame = frame.copy()
        frame["grade"] = np.where(frame["alcohol"] > 13, "high", "low")
        columns = ColumnTransformer([("num", StandardScaler(), ["alcohol", "ash"]),
                                     ("cat", OneHotEncoder(), ["grade"])])
        pipe = Pipeline([("prep", columns), ("clf", LogisticRegression(max_iter=500))])
        return pipe.fit(frame, y), frame[:10]

    return [
        ("random forest", on_array(RandomForestClassifier(10, random_state=0)), None),
        ("gradient boosting", on_array(GradientBoostingClassifier(n_estimators=10)), None),
        ("svc", on_array(SVC(probability=True, random_state=0)), None),
        ("kmeans", on_array(KMeans(3, n_init=2, random_state=0)), None),
        ("column transformer (DataFrame)", column_transformer, None),
        ("hist gradient boosting", on_array(HistGradientBoostingClassifier(max_iter=5)),
         "failed inside its own converter"),
    ]


@pytest.mark.parametrize("name, make, expected", _sklearn_cases(),
                         ids=[c[0] for c in _sklearn_cases()])
def test_sklearn_model_through_every_stage(name, make, expected, tmp_path):
    run = Run(name)
    estimator, sample = make()

    def convert() -> Any:
        c = onnxkit.convert.from_sklearn(estimator, sample)
        assert c, repr(c.verification)
        return c, f"ok skl2onnx ({len(c.model.proto.graph.input)} inputs)"

    conversion = run.stage("convert", convert, expected)
    if conversion is not None:
        feeds = {i.name: v for i, v in zip(conversion.model.proto.graph.input,
                                           _sklearn_feeds(sample))}
        _onwards(run, conversion.model, feeds, "none", tmp_path)
    assert not run.failures, run.failures


def _sklearn_feeds(sample: Any) -> list[np.ndarray]:
    if hasattr(sample, "columns"):
        return [np.asarray(sample[c]).reshape(-1, 1).astype(
            np.float32 if sample[c].dtype.kind == "f" else object) for c in sample.columns]
    return [np.asarray(sample, np.float32)]


def test_keras_models_through_every_stage(tmp_path):
    tf = pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(0)
    sequential = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                                   keras.layers.Dense(3)])

    @tf.function(input_signature=[tf.TensorSpec([None, 8], tf.float32)])
    def scaled(x):
        return tf.nn.softmax(sequential(x) * 2.0)

    x = np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32)
    failures = []
    for name, convert in (("keras sequential", lambda: onnxkit.convert.from_keras(sequential, x)),
                          ("tf.function (unnamed spec)",
                           lambda: onnxkit.convert.from_tensorflow(scaled, x))):
        run = Run(name)

        def action(convert: Callable[[], Any] = convert) -> Any:
            c = convert()
            assert c, repr(c)
            return c, "ok tf2onnx"

        conversion = run.stage("convert", action)
        if conversion is not None:
            feeds = {conversion.model.proto.graph.input[0].name: x}
            folder = tmp_path / name.split()[0]
            folder.mkdir()
            _onwards(run, conversion.model, feeds, "dynamic", folder)
        failures += run.failures
    assert not failures, failures
