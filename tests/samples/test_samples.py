"""The offline samples: real models with real accuracy, cached in the workspace."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

import onnxkit


def _predict(sample):
    sess = ort.InferenceSession(str(sample.model.path), providers=["CPUExecutionProvider"])
    return sess.run(None, sample.inputs)


def test_digits_cnn_is_really_trained(digits):
    (logits,) = _predict(digits)
    assert digits.inputs["image"].shape == (450, 1, 8, 8)
    assert digits.accuracy(logits) > 0.93


def test_transformer_learned_its_task(transformer):
    (logits,) = _predict(transformer)
    assert transformer.accuracy(logits) > 0.8  # chance is 0.5


def test_sklearn_pipeline_matches_its_labels(pipeline):
    labels, probabilities = _predict(pipeline)
    assert pipeline.accuracy(labels) > 0.9
    assert (probabilities.argmax(1) == labels).all()


def test_samples_are_cached(digits):
    again = onnxkit.samples.digits_cnn()
    assert again.model.path == digits.model.path
    assert again.model.path.is_relative_to(onnxkit.workspace().root / "samples")
    assert again.model.lineage[-1].params == {"sample": "digits_cnn", "recipe": 1}


def test_tiny_model_needs_nothing(tiny):
    assert onnxkit.summarize(tiny).parameter_count == 67
    assert "<table" in onnxkit.samples.digits_cnn()._repr_html_()


def test_digits_torch_is_the_module_behind_digits_cnn(digits):
    torch = pytest.importorskip("torch")
    sample = onnxkit.samples.digits_torch()
    assert not sample.module.training
    with torch.no_grad():
        logits = sample.module(torch.from_numpy(sample.inputs["image"])).numpy()
    np.testing.assert_array_equal(sample.labels, digits.labels)
    # Training is seeded, so the module is the one the cached ONNX sample was exported from.
    (exported,) = _predict(digits)
    np.testing.assert_allclose(logits, exported, atol=1e-4)
