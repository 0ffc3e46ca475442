"""Shared fixtures: the offline samples, built once per run (hand-made graphs: graphs.py)."""

from __future__ import annotations

import pytest

import onnxkit
from onnxkit.base import loopback_ray

loopback_ray()  # before any test imports Ray: the clusters the tests start stay on loopback


@pytest.fixture(scope="session")
def tiny() -> onnxkit.Model:
    return onnxkit.samples.tiny_model()


@pytest.fixture(scope="session")
def digits() -> onnxkit.samples.Sample:
    return onnxkit.samples.digits_cnn()


@pytest.fixture(scope="session")
def transformer() -> onnxkit.samples.Sample:
    return onnxkit.samples.text_transformer()


@pytest.fixture(scope="session")
def pipeline() -> onnxkit.samples.Sample:
    return onnxkit.samples.sklearn_pipeline()


@pytest.fixture(scope="session")
def bert():
    """transformers' BertForSequenceClassification, 1 layer, random weights (offline)."""
    pytest.importorskip("transformers")
    import hf_models

    return hf_models.bert()
