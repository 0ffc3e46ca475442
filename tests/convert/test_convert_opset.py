from __future__ import annotations

import pytest

import onnxkit
from onnxkit.convert import ConversionError, to_opset
from onnxkit.errors import ParameterError


def test_up_and_verified(digits):
    up = to_opset(digits.model, 19)
    assert onnxkit.summarize(up).opsets["ai.onnx"] == 19
    step = up.lineage[-1]
    assert step.details["from"] == 17 and step.details["verification"]["passed"]


def test_impossible_and_bad_versions(digits, tiny):
    with pytest.raises(ConversionError, match="no adapter for Relu"):
        to_opset(digits.model, 13)
    with pytest.raises(ParameterError, match="integer in 7"):
        to_opset(tiny, 999)
