"""to_fp16(): half the bytes, same interface, same decisions."""

from __future__ import annotations

import onnx
import pytest

import onnxkit
from onnxkit.errors import ParameterError, UnsupportedModelError


def test_digits_in_half_precision(digits):
    half = onnxkit.to_fp16(digits.model)
    assert half.size_bytes < 0.6 * digits.model.size_bytes
    assert half.proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    (logits,) = onnxkit.run(half, digits.inputs).values()
    full = onnxkit.run(digits.model, digits.inputs)["logits"]
    # fp16 kept the class of all 450 images on every CPU tried: one point is the margin.
    assert digits.accuracy(logits) >= digits.accuracy(full) - 0.01
    assert (logits.argmax(1) == full.argmax(1)).mean() >= 0.97
    assert half.lineage[-1].details["verification"]["passed"]


def test_io_types_can_change_too(transformer):
    half = onnxkit.to_fp16(transformer.model, keep_io_types=False, op_block_list=["Softmax"])
    assert half.proto.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16
    assert "Softmax" in half.lineage[-1].params["op_block_list"]
    out = onnxkit.run(half, transformer.inputs)["logits"]
    assert transformer.accuracy(out) > 0.8


def test_already_fp16_and_bad_block_list(digits, tiny):
    with pytest.raises(UnsupportedModelError, match="already float16"):
        onnxkit.to_fp16(onnxkit.to_fp16(digits.model))
    with pytest.raises(ParameterError, match="list of op type names"):
        onnxkit.to_fp16(tiny, op_block_list="Resize")


def test_fp16_interface_when_asked(tiny):
    half = onnxkit.to_fp16(tiny, keep_io_types=False)
    assert onnxkit.summarize(half).inputs[0].dtype == "float16"
    assert half.lineage[-1].details["verification"]["passed"]
