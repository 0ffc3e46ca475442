"""extract(): a runnable subgraph between named tensors, or a clear refusal of a bad cut."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from graphs import external_model, make_model, save
from onnx import TensorProto, helper, numpy_helper

import onnxkit
from onnxkit import VerificationWarning, extract
from onnxkit.errors import ParameterError, UnsupportedModelError

F = TensorProto.FLOAT
FLATTEN = "/7/Flatten_output_0"
BLOCK2 = "/5/Relu_output_0"  # the second Conv-ReLU block, before pooling


# The first attention block of the BERT sample.
ATTENTION = "/model/bert/encoder/layer.0/attention/self/"


def _exposed(model: onnxkit.Model, name: str, feeds: dict) -> np.ndarray:
    """The full model run with one intermediate tensor added to its outputs."""
    proto = onnx.shape_inference.infer_shapes(model.to_proto())
    proto.graph.output.append(next(v for v in proto.graph.value_info if v.name == name))
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run([name], feeds)[0]


def _io(model: onnxkit.Model) -> list[str]:
    s = onnxkit.summarize(model)
    return [str(t) for t in s.inputs + s.outputs]


@pytest.mark.parametrize("cut, shape", [(FLATTEN, "[batch, 512]"),
                                        (BLOCK2, "[batch, 32, 8, 8]")])
def test_backbone_equals_the_full_models_tensor(digits, cut, shape):
    backbone = extract(digits.model, ["image"], [cut])
    assert _io(backbone) == ["image: float32[batch, 1, 8, 8]", f"{cut}: float32{shape}"]
    assert backbone.proto.ir_version == digits.model.proto.ir_version
    assert "Gemm" not in {n.op_type for n in backbone.proto.graph.node}
    step = backbone.lineage[-1]
    assert step.op == "extract" and step.params == {"inputs": ["image"], "outputs": [cut]}
    assert step.details["check"]["ran"] is True
    assert step.details["check"]["feeds"] == {"image": [1, 1, 8, 8]}
    features = onnxkit.run(backbone, digits.inputs)[cut]
    np.testing.assert_allclose(features, _exposed(digits.model, cut, digits.inputs),
                               rtol=1e-5, atol=1e-6)


def test_backbone_then_head_is_the_whole_model(digits):
    backbone = extract(digits.model, ["image"], [FLATTEN])
    head = extract(digits.model, [FLATTEN], ["logits"])
    assert backbone.path != head.path  # two cuts of one model get two files
    assert [n.op_type for n in head.proto.graph.node] == ["Gemm", "Relu", "Gemm"]
    features = onnxkit.run(backbone, digits.inputs)[FLATTEN]
    logits = onnxkit.run(head, {FLATTEN: features})["logits"]
    np.testing.assert_allclose(logits, onnxkit.run(digits.model, digits.inputs)["logits"],
                               rtol=1e-5, atol=1e-5)
    assert digits.accuracy(logits) > 0.9


def test_transformer_encoder_needs_the_mask_too(transformer):
    with pytest.raises(ParameterError, match=r"also need tensor 'attention_mask' \(a graph "
                                             r"input\).*Add 'attention_mask' to inputs"):
        extract(transformer.model, ["input_ids"], ["logits"])
    # BERT pools its first token: past the encoder, the mask is not needed any more
    encoder_out = "/model/bert/encoder/layer.1/output/LayerNorm/LayerNormalization_output_0"
    pooled = extract(transformer.model, [encoder_out], ["logits"])
    assert _io(pooled)[0].startswith(f"{encoder_out}: float32[")  # onnx names the dims
    assert _io(pooled)[0].endswith(", 64]")
    assert pooled.lineage[-1].details["check"]["outputs"] == {"logits": [1, 2]}


def test_an_input_that_does_not_lead_to_the_outputs(digits):
    with pytest.raises(ParameterError, match="input 'image' does not lead to the outputs"):
        extract(digits.model, ["image", "/3/Conv_output_0"], ["logits"])


def test_unknown_names_list_close_matches_and_a_bounded_sample(transformer):
    typo = ATTENTION + "query/Matmul_output_0"
    with pytest.raises(ParameterError, match=rf"no tensor named '{typo}'.*Close matches: "
                                             r"\['/model/bert/encoder/layer.0/attention/self/query/MatMul_output_0'"
                                             r".*\.\.\. \(\d+ in all\)") as info:
        extract(transformer.model, ["input_ids", "attention_mask"], [typo])
    assert str(info.value).count(", ") < 40  # not every one of the names


@pytest.mark.parametrize("inputs, outputs, match", [
    (["image"], ["8.weight"], "'8.weight' is a weight"),
    (["image"], [], "non-empty list"),
    (["image", "image"], ["logits"], "lists a name twice"),
    ([3], ["logits"], "list of tensor names; got \\[3\\]"),
    (["image"], 7, "list of tensor names; got 7"),
    (["logits"], ["logits"], "nothing to extract"),
])
def test_bad_names(digits, inputs, outputs, match):
    with pytest.raises(ParameterError, match=match):
        extract(digits.model, inputs, outputs)


def test_a_single_name_is_forgiven(digits):
    assert _io(extract(digits.model, "image", FLATTEN))[1] == f"{FLATTEN}: float32[batch, 512]"


def test_untyped_tensor_is_refused(tmp_path):
    model = make_model([helper.make_node("Mystery", ["x"], ["h"], domain="my.ops"),
                        helper.make_node("Relu", ["h"], ["y"])],
                       [("x", F, [2])], [("y", F, [2])], domains=["my.ops"])
    with pytest.raises(UnsupportedModelError, match="no type for 'h' \\(made by a Mystery node"):
        extract(save(model, tmp_path / "custom.onnx"), ["h"], ["y"])


def test_weights_read_inside_a_subgraph_come_along(tmp_path):
    # Extractor follows node inputs only, not the names an If branch reads from outside.
    w = numpy_helper.from_array(np.array([10.0, 20.0], np.float32), "w")
    then = helper.make_graph([helper.make_node("Add", ["r", "w"], ["t"])], "then", [],
                             [helper.make_tensor_value_info("t", F, [2])])
    other = helper.make_graph([helper.make_node("Neg", ["r"], ["e"])], "else", [],
                              [helper.make_tensor_value_info("e", F, [2])])
    model = make_model([helper.make_node("Relu", ["x"], ["r"]),
                        helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)],
                       [("x", F, [2]), ("c", TensorProto.BOOL, [])], [("y", F, [2])], [w])
    sub = extract(save(model, tmp_path / "branchy.onnx"), ["r", "c"], ["y"])
    assert [t.name for t in sub.proto.graph.initializer] == ["w"]
    out = onnxkit.run(sub, {"r": np.array([1.0, 2.0], np.float32), "c": np.array(True)})["y"]
    np.testing.assert_array_equal(out, [11.0, 22.0])


def test_a_subgraph_reading_an_unlisted_tensor_is_refused(tmp_path):
    then = helper.make_graph([helper.make_node("Identity", ["r"], ["t"])], "then", [],
                             [helper.make_tensor_value_info("t", F, [2])])
    other = helper.make_graph([helper.make_node("Identity", ["x"], ["e"])], "else", [],
                              [helper.make_tensor_value_info("e", F, [2])])
    model = make_model([helper.make_node("Relu", ["x"], ["r"]),
                        helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)],
                       [("x", F, [2]), ("c", TensorProto.BOOL, [])], [("y", F, [2])])
    with pytest.raises(ParameterError, match="also need tensor 'r' \\(made by a Relu node\\)"):
        extract(save(model, tmp_path / "branchy.onnx"), ["x", "c"], ["y"])


def test_a_run_that_fails_on_random_values_is_recorded(transformer):
    # The Reshape target shape is an input now: random values are no valid shape.
    query, target = ATTENTION + "query/Add_output_0", ATTENTION + "Concat_output_0"
    with pytest.warns(VerificationWarning, match="did not run on random inputs"):
        sub = extract(transformer.model, [query, target], [ATTENTION + "Reshape_output_0"])
    check = sub.lineage[-1].details["check"]
    assert check["ran"] is False and "Reshape" in check["reason"]


def test_external_weights_are_loaded_into_the_extract(tmp_path):
    # conftest's external model: y = x @ w, with w (4x2) in 'weights.bin' beside the model.
    sub = extract(external_model(tmp_path), ["x"], ["y"])
    assert [t.name for t in sub.proto.graph.initializer] == ["w"]
    out = onnxkit.run(sub, {"x": np.ones((1, 4), np.float32)})["y"]
    np.testing.assert_array_equal(out, [[12.0, 16.0]])
