"""random_inputs(): feeds a real ORT session accepts, or a clear refusal."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from graphs import make_model
from onnx import TensorProto, helper

import onnxkit
from onnxkit.errors import InputError, ParameterError, UnsupportedModelError


def _run(model, feeds):
    sess = ort.InferenceSession(str(model.path), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def test_transformer_feeds_run_and_respect_the_embedding(transformer):
    feeds = onnxkit.random_inputs(transformer.model, dims={"sequence": 12}, batch=3)
    assert feeds["input_ids"].shape == (3, 12) and feeds["input_ids"].dtype == np.int64
    assert feeds["input_ids"].max() < 512  # bounded by the embedding's rows
    assert (feeds["attention_mask"] == 1).all()  # masks default to "attend to everything"
    (logits,) = _run(transformer.model, feeds)
    assert logits.shape == (3, 2) and np.isfinite(logits).all()


def test_deterministic_by_seed(digits):
    a = onnxkit.random_inputs(digits.model, seed=1)["image"]
    assert np.array_equal(a, onnxkit.random_inputs(digits.model, seed=1)["image"])
    assert not np.array_equal(a, onnxkit.random_inputs(digits.model, seed=2)["image"])
    assert a.shape == (1, 1, 8, 8) and a.dtype == np.float32


def test_whole_shape_by_input_name(digits):
    feeds = onnxkit.random_inputs(digits.model, dims={"image": (5, 1, 8, 8)})
    assert _run(digits.model, feeds)[0].shape == (5, 10)


def test_all_dtypes():
    types = {"f": TensorProto.FLOAT16, "d": TensorProto.DOUBLE, "i": TensorProto.INT32,
             "u": TensorProto.UINT8, "b": TensorProto.BOOL, "s": TensorProto.STRING,
             "h": TensorProto.BFLOAT16}
    nodes = [helper.make_node("Identity", [k], [k + "_out"]) for k in types]
    model = make_model(nodes, [(k, t, ["n", 2]) for k, t in types.items()],
                       [(k + "_out", t, ["n", 2]) for k, t in types.items()])
    feeds = onnxkit.random_inputs(model, batch=2)
    assert {k: v.dtype.name for k, v in feeds.items()} == {
        "f": "float16", "d": "float64", "i": "int32", "u": "uint8", "b": "bool",
        "s": "object", "h": "bfloat16"}
    assert all(v.shape == (2, 2) for v in feeds.values())
    assert all(isinstance(w, str) for w in feeds["s"].ravel())


def test_initializers_listed_as_inputs_are_not_fed(tiny):
    proto = tiny.to_proto()
    for init in proto.graph.initializer:  # IR < 4 style: initializers also listed as inputs
        proto.graph.input.append(helper.make_tensor_value_info(init.name, TensorProto.FLOAT, None))
    assert list(onnxkit.random_inputs(proto)) == ["x"]


def test_absurd_sizes_are_refused(transformer):
    with pytest.raises(InputError, match="elements"):
        onnxkit.random_inputs(transformer.model, dims={"sequence": 10**6}, batch=10**4)


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"dims": {"nope": 3}}, ParameterError, "Inputs: \\['x'\\]; symbolic dims: \\['batch'\\]"),
    ({"dims": {"batch": -1}}, ParameterError, "non-negative"),
    ({"dims": {"x": (2, 5)}}, InputError, "fixes it to 4"),
    ({"dims": {"x": (2,)}}, InputError, "rank 1"),
    ({"batch": 0}, ParameterError, "positive"),
])
def test_bad_arguments(tiny, kwargs, error, match):
    with pytest.raises(error, match=match):
        onnxkit.random_inputs(tiny, **kwargs)


def test_sequence_inputs_are_unsupported():
    seq = helper.make_tensor_sequence_value_info("s", TensorProto.FLOAT, None)
    graph = helper.make_graph([helper.make_node("SequenceLength", ["s"], ["n"])], "g", [seq],
                              [helper.make_tensor_value_info("n", TensorProto.INT64, [])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    with pytest.raises(UnsupportedModelError, match="seq\\(float32\\)"):
        onnxkit.random_inputs(model)


def test_unknown_rank_needs_dims():
    model = make_model([helper.make_node("Relu", ["x"], ["y"])],
                       [("x", TensorProto.FLOAT, None)], [("y", TensorProto.FLOAT, None)])
    with pytest.raises(InputError, match="unknown rank"):
        onnxkit.random_inputs(model)
    assert onnxkit.random_inputs(model, dims={"x": (2, 3)})["x"].shape == (2, 3)
