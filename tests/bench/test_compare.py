"""compare(): truthy only when every output is within tolerance, and says which failed."""

from __future__ import annotations

import numpy as np
import pytest

import onnxkit
from onnxkit.errors import ParameterError


def test_identical_models_pass(transformer):
    result = onnxkit.compare(transformer.model, transformer.model, transformer.inputs)
    assert result and result.outputs[0].max_abs == 0.0
    assert result.outputs[0].argmax_agreement == 1.0
    assert result.outputs[0].cosine == pytest.approx(1.0)


def test_reference_arrays_from_a_framework(digits):
    expected = onnxkit.run(digits.model, digits.inputs)
    nudged = {"logits": expected["logits"] + 5e-5}
    assert onnxkit.compare(nudged, digits.model, digits.inputs, atol=1e-4, rtol=0)
    result = onnxkit.compare({"logits": expected["logits"] + 0.5}, digits.model, digits.inputs)
    assert not result
    diff = result.failed[0]
    assert diff.max_abs == pytest.approx(0.5, rel=1e-5)
    assert diff.mismatches == expected["logits"].size
    assert "FAIL logits" in repr(result) and "out of tolerance" in repr(result)
    assert "background" in result._repr_html_()  # the failing row is highlighted


def test_shape_dtype_missing_and_nan():
    ref = {"a": np.ones((2, 3), np.float32), "b": np.ones(3, np.float32),
           "c": np.ones(3, np.float32), "d": np.array([1, 2, 3]), "e": np.ones(2, np.float32)}
    cand = {"a": np.ones((3, 2), np.float32), "b": np.ones(3, np.float64),
            "d": np.array([1, 2, 4]), "e": np.array([1, np.nan], np.float32)}
    result = onnxkit.compare(ref, cand)
    by = {o.name: o for o in result.outputs}
    assert "shape [3, 2]" in by["a"].reason
    assert "dtype float64" in by["b"].reason and by["b"].max_abs == 0
    assert by["c"].reason == "missing from the candidate"
    assert by["d"].mismatches == 1 and not by["d"].passed
    assert by["e"].nan_candidate == 1 and "NaN" in by["e"].reason
    assert not result and len(result.failed) == 5


def test_argmax_agreement_counts_rows():
    ref = {"p": np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]], np.float32)}
    cand = {"p": np.array([[0.8, 0.2], [0.6, 0.4], [0.6, 0.4], [0.3, 0.7]], np.float32)}
    assert onnxkit.compare(ref, cand).outputs[0].argmax_agreement == 0.75


def test_default_feeds_are_random_inputs(tiny):
    assert onnxkit.compare(tiny, tiny)
    result = onnxkit.compare(tiny, tiny)
    assert result.to_dict()["passed"] is True
    assert list(result.plot().data[0].x) == ["y"]


def test_bad_arguments(tiny):
    with pytest.raises(ParameterError, match="pass the feeds"):
        onnxkit.compare({"y": np.ones((1, 3))}, tiny)
    with pytest.raises(ParameterError, match=r"compare\(rtol=...\) must be a finite number "
                                                  r">= 0; got -1"):
        onnxkit.compare(tiny, tiny, rtol=-1)
    with pytest.raises(ParameterError, match="got int"):
        onnxkit.compare(tiny, 3)
