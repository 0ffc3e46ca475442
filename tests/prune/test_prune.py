"""prune.magnitude and prune.structured: verified, measured, honest about what they buy."""

from __future__ import annotations

import numpy as np
import pytest
from graphs import make_model, relu_model, save
from onnx import TensorProto, helper, numpy_helper

import onnxkit
from onnxkit.errors import ParameterError, UnsupportedModelError

F = TensorProto.FLOAT


def test_magnitude_reaches_the_sparsity_and_says_what_it_buys(digits):
    before = digits.model.path.read_bytes()
    pruned = onnxkit.prune.magnitude(digits.model, 0.5)
    d = pruned.lineage[-1].details
    assert d["sparsity"] == pytest.approx(0.5, abs=0.01) and d["tensors"] == 4
    assert d["zipped_bytes"][1] < 0.7 * d["zipped_bytes"][0]  # measured 0.58
    assert "not time" in d["note"] and d["runs"]
    assert 0 < d["argmax_agreement_vs_parent"] <= 1
    assert digits.model.path.read_bytes() == before  # the parent is untouched
    weights = {t.name: numpy_helper.to_array(t) for t in pruned.proto.graph.initializer}
    assert np.mean(weights["8.weight"] == 0) == pytest.approx(0.5, abs=0.01)
    assert np.all(weights["8.bias"] != 0)  # biases are not weights


def test_magnitude_global_scope_and_exclusions(digits):
    pruned = onnxkit.prune.magnitude(digits.model, 0.3, scope="global", exclude=["8.weight"])
    weights = {t.name: numpy_helper.to_array(t) for t in pruned.proto.graph.initializer}
    assert np.all(weights["8.weight"] != 0) and pruned.lineage[-1].details["tensors"] == 3
    with pytest.raises(ParameterError, match="sparsity"):
        onnxkit.prune.magnitude(digits.model, 1.5)


def _conv_chain(tmp_path, zero_channels):
    """x -> Conv(4 ch) -> BatchNorm -> Relu -> Flatten -> Gemm: channels listed are all-zero
    filters with zero bias and BN shift, so pruning them cannot change the output."""
    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((4, 1, 3, 3)).astype(np.float32)
    b1 = rng.standard_normal(4).astype(np.float32)
    shift = rng.standard_normal(4).astype(np.float32)
    for c in zero_channels:
        w1[c], b1[c], shift[c] = 0, 0, 0
    bn = [numpy_helper.from_array(a.astype(np.float32), n) for a, n in (
        (np.ones(4), "scale"), (shift, "shift"), (np.zeros(4), "mean"), (np.ones(4), "var"))]
    w2 = rng.standard_normal((4 * 2 * 2, 3)).astype(np.float32)  # Flatten of [4, 2, 2]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c"], kernel_shape=[3, 3]),
             helper.make_node("BatchNormalization", ["c", "scale", "shift", "mean", "var"],
                              ["n"]),
             helper.make_node("Relu", ["n"], ["r"]),
             helper.make_node("Flatten", ["r"], ["f"]),
             helper.make_node("Gemm", ["f", "w2"], ["y"])]
    inits = [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(b1, "b1"), *bn,
             numpy_helper.from_array(w2, "w2")]
    return save(make_model(nodes, [("x", F, ["n", 1, 4, 4])], [("y", F, ["n", 3])], inits),
                tmp_path / "chain.onnx")


def test_structured_removes_channels_through_batchnorm_and_flatten(tmp_path):
    model = _conv_chain(tmp_path, zero_channels=[1, 3])
    pruned = onnxkit.prune.structured(model, 0.5)
    d = pruned.lineage[-1].details
    assert list(d["pruned"].values()) == [[4, 2]]
    assert d["left_whole"] == {"y": "its channels are a model output"}  # (named by output)
    assert d["params"][1] < d["params"][0] and d["flops"][1] < d["flops"][0]
    x = np.random.default_rng(1).standard_normal((5, 1, 4, 4)).astype(np.float32)
    np.testing.assert_allclose(onnxkit.run(pruned, {"x": x})["y"],
                               onnxkit.run(model, {"x": x})["y"], rtol=1e-5, atol=1e-5)
    shapes = {t.name: list(t.dims) for t in pruned.proto.graph.initializer}
    assert shapes["w1"] == [2, 1, 3, 3] and shapes["scale"] == [2] and shapes["w2"] == [8, 3]


def test_structured_on_the_digits_cnn_and_a_transformer(digits, transformer):
    exact = onnxkit.prune.structured(digits.model, 0.25, multiple_of=1)
    d = exact.lineage[-1].details
    assert d["pruned"] == {"/0/Conv": [16, 12], "/3/Conv": [32, 24], "/8/Gemm": [64, 48]}
    assert d["flops"][1] < 0.7 * d["flops"][0] and exact.size_bytes < digits.model.size_bytes
    # no fine-tuning: measured 86% (from 99%) at 25% of the channels
    acc = onnxkit.evaluate(exact, digits.inputs["image"], labels=digits.labels).score
    assert acc > 0.7
    # by default whole blocks of 16 channels where a layer has more: 32 * 0.75 = 24 -> 32
    aligned = onnxkit.prune.structured(digits.model, 0.25).lineage[-1].details
    assert aligned["pruned"] == {"/0/Conv": [16, 12], "/8/Gemm": [64, 48]}
    assert "none to remove" in aligned["left_whole"]["/3/Conv"]
    with pytest.raises(UnsupportedModelError, match="multiple_of=1"):
        onnxkit.prune.structured(digits.model, 0.01)
    text = onnxkit.prune.structured(transformer.model, 0.25)
    pruned_names = text.lineage[-1].details["pruned"]
    assert any("intermediate" in n for n in pruned_names)  # GELU written out with Erf
    assert text.lineage[-1].details["left_whole"]  # attention's q/k/v feed a Reshape


def test_groups_whose_channels_must_stay_aligned_are_refused(tmp_path):
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((4, 4, 1, 1)).astype(np.float32), "w")
    w2 = numpy_helper.from_array(rng.standard_normal((4, 4, 1, 1)).astype(np.float32), "w2")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]),
             helper.make_node("Add", ["c", "x"], ["res"]),  # a residual connection
             helper.make_node("Conv", ["res", "w2"], ["y"])]
    model = save(make_model(nodes, [("x", F, [1, 4, 2, 2])], [("y", F, [1, 4, 2, 2])],
                            [w, w2]), tmp_path / "residual.onnx")
    groups, why = onnxkit.prune.find_groups(onnxkit.load(model).proto)
    assert groups == [] and "mixes channels" in " ".join(why.values())
    with pytest.raises(UnsupportedModelError, match="channel alignment"):
        onnxkit.prune.structured(model, 0.5)
    with pytest.raises(UnsupportedModelError, match="no MatMul, Gemm or Conv"):
        onnxkit.prune.magnitude(save(relu_model(), tmp_path / "relu.onnx"))
