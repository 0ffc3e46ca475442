"""fix_dims, make_dynamic, infer_shapes: shape changes that keep outputs, or refuse clearly."""

from __future__ import annotations

import hashlib
import warnings

import numpy as np
import onnx
import pytest
from graphs import external_model, make_model, save
from onnx import TensorProto, helper, numpy_helper

import onnxkit
from onnxkit import fix_dims, infer_shapes, make_dynamic
from onnxkit.errors import InputError, ParameterError, UnsupportedModelError

F = TensorProto.FLOAT


# The first attention block of the BERT sample.
ATTENTION = "/model/bert/encoder/layer.0/attention/self/"


def _io(model: onnxkit.Model) -> list[str]:
    s = onnxkit.summarize(model)
    return [str(t) for t in s.inputs + s.outputs]


def _digest(model: onnxkit.Model) -> str:
    return hashlib.sha256(model.path.read_bytes()).hexdigest()


def _value_shapes(model: onnxkit.Model) -> dict[str, list]:
    from onnxkit.base import tensor_info

    return {v.name: list(tensor_info(v).shape or []) for v in model.proto.graph.value_info}


def _reshape_model(tmp_path, *, batch_out: str | int = 1):
    """x[1, 3, 4] -> Reshape to the constant [1, 12]: the batch size baked in, as tracing does."""
    shape = numpy_helper.from_array(np.array([1, 12], np.int64), "shape")
    model = make_model([helper.make_node("Reshape", ["x", "shape"], ["y"], name="flatten")],
                       [("x", F, [1, 3, 4])], [("y", F, [batch_out, 12])], [shape])
    return onnxkit.load(save(model, tmp_path / "baked.onnx"))


# --- fix_dims -------------------------------------------------------------------------------

def test_fix_dims_transformer_keeps_outputs_and_source(transformer):
    before = _digest(transformer.model)
    fixed = fix_dims(transformer.model, {"batch": 1, "sequence": 32})
    assert fixed.name == "text_transformer.fixed-batch1-sequence32"
    assert _io(fixed) == ["input_ids: int64[1, 32]", "attention_mask: int64[1, 32]",
                          "logits: float32[1, 2]"]
    step = fixed.lineage[-1]
    assert step.op == "fix_dims" and step.params == {"dims": {"batch": 1, "sequence": 32}}
    assert step.details["verification"]["passed"] is True
    assert _digest(transformer.model) == before  # the source file is never touched
    one = {k: v[:1] for k, v in transformer.inputs.items()}
    np.testing.assert_allclose(onnxkit.run(fixed, one)["logits"],
                               onnxkit.run(transformer.model, one)["logits"], rtol=1e-5, atol=1e-6)


def test_fix_dims_whole_input_shape(digits):
    fixed = fix_dims(digits.model, {"image": (3, 1, 8, 8)})
    assert fixed.name == "digits_cnn.fixed-image3x1x8x8"
    assert _io(fixed) == ["image: float32[3, 1, 8, 8]", "logits: float32[3, 10]"]
    assert fixed.lineage[-1].params == {"dims": {"image": [3, 1, 8, 8]}}
    assert fixed.lineage[-1].details["verification"]["passed"] is True


def test_fix_dims_infers_outputs_with_their_own_dim_names(tmp_path):
    # Exporters often name output dims apart from input dims; they become fixed by inference.
    model = make_model([helper.make_node("Relu", ["x"], ["y"])],
                       [("x", F, ["n", 3])], [("y", F, ["Relu_y_dim_0", 3])])
    fixed = fix_dims(save(model, tmp_path / "relu.onnx"), {"n": 2})
    assert _io(fixed) == ["x: float32[2, 3]", "y: float32[2, 3]"]


@pytest.mark.parametrize("dims, error, match", [
    ({"batc": 1}, ParameterError, r"'batc'.*Symbolic dims: \['batch', 'sequence'\]; inputs: "
                                  r"\['attention_mask', 'input_ids'\]"),
    ({"batch": 0}, ParameterError, "positive integer size; got 0"),
    ({"batch": -2}, ParameterError, "positive integer"),
    ({"batch": 1.5}, ParameterError, "got 1.5"),
    ({"batch": True}, ParameterError, "got True"),
    ({"input_ids": 4}, ParameterError, "whole shape.*got 4"),
    ({"input_ids": [1, 0]}, ParameterError, r"got \[1, 0\]"),
    ({"input_ids": [1, 2, 3]}, InputError, "rank 3.*has rank 2"),
    ({"batch": 2, "input_ids": [3, 8]}, InputError, "axis 0 to 3.*set 'batch' to 2"),
    ({"input_ids": [3, 8], "attention_mask": [2, 8]}, InputError, "set 'batch' to 3"),
    ({}, ParameterError, "non-empty mapping"),
])
def test_fix_dims_refuses_bad_dims(transformer, dims, error, match):
    with pytest.raises(error, match=match):
        fix_dims(transformer.model, dims)


def test_fix_dims_refuses_to_change_a_fixed_dim(digits):
    with pytest.raises(InputError, match=r"axis 1 to 3, but input 'image' fixes it to 1"):
        fix_dims(digits.model, {"image": [1, 3, 8, 8]})


def test_fix_dims_gives_an_input_of_unknown_rank_its_shape(tmp_path):
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", F, None)],
                       [("y", F, None)])
    fixed = fix_dims(save(model, tmp_path / "anyrank.onnx"), {"x": [2, 3]})
    assert _io(fixed) == ["x: float32[2, 3]", "y: float32[2, 3]"]


# --- make_dynamic ---------------------------------------------------------------------------

def test_make_dynamic_restores_the_transformers_dims(transformer):
    fixed = fix_dims(transformer.model, {"batch": 1, "sequence": 32})
    axes = {"input_ids": {0: "batch", 1: "sequence"},
            "attention_mask": {0: "batch", -1: "sequence"}}
    dynamic = make_dynamic(fixed, axes)
    assert _io(dynamic) == ["input_ids: int64[batch, sequence]",
                            "attention_mask: int64[batch, sequence]", "logits: float32[batch, 2]"]
    step = dynamic.lineage[-1]
    assert step.details["tried"] == [{"batch": 2, "sequence": 33}, {"batch": 3, "sequence": 2}]
    assert step.params["axes"]["attention_mask"] == {0: "batch", 1: "sequence"}  # -1 -> 1
    assert step.details["verification"]["passed"] is True
    # Intermediate shapes were re-inferred from the new dims, none left at the old fixed 32.
    query = _value_shapes(dynamic)[ATTENTION + "query/MatMul_output_0"]
    assert query == ["batch", "sequence", 64]
    feeds = {k: v[:3, :20] for k, v in transformer.inputs.items()}
    np.testing.assert_allclose(onnxkit.run(dynamic, feeds)["logits"],
                               onnxkit.run(transformer.model, feeds)["logits"], rtol=1e-5,
                               atol=1e-6)


def test_make_dynamic_refuses_a_reshape_with_a_constant_shape(tmp_path):
    model = _reshape_model(tmp_path)
    with pytest.raises(UnsupportedModelError, match=r"batch=2.*Reshape.*baked into the graph.*"
                                                    r"dynamic_axes.*Nothing was saved"):
        make_dynamic(model, {"x": {0: "batch"}})
    assert not list(onnxkit.workspace().root.glob("baked.dynamic-*"))


def test_make_dynamic_checks_named_output_sizes(tmp_path):
    # Reshape to [-1, 12] runs at any batch; the declared [batch, 12] output must follow it.
    shape = numpy_helper.from_array(np.array([-1, 12], np.int64), "shape")
    ok = make_model([helper.make_node("Reshape", ["x", "shape"], ["y"])],
                    [("x", F, [1, 3, 4])], [("y", F, [1, 12])], [shape])
    dynamic = make_dynamic(save(ok, tmp_path / "ok.onnx"), {"x": {0: "batch"}})
    assert _io(dynamic) == ["x: float32[batch, 3, 4]", "y: float32[batch, 12]"]
    # Reshape to [1, -1] also runs, but its output keeps size 1 where the batch should be.
    shape = numpy_helper.from_array(np.array([1, -1], np.int64), "shape")
    bad = make_model([helper.make_node("Reshape", ["x", "shape"], ["y"])],
                     [("x", F, [1, 3, 4])], [("y", F, [1, 12])], [shape])
    with pytest.raises(UnsupportedModelError, match="'y' came out with size 1 on axis 0"):
        make_dynamic(save(bad, tmp_path / "bad.onnx"), {"x": {0: "batch"}, "y": {0: "batch"}})


def test_make_dynamic_static_torch_export_is_refused():
    torch = pytest.importorskip("torch")
    from torch_nets import TextClassifier

    from onnxkit.samples._builders import _export

    torch.manual_seed(0)
    net = TextClassifier(vocab=50, max_len=16, dim=16, heads=2, layers=1, classes=2).eval()
    example = (torch.randint(1, 50, (2, 8)), torch.ones(2, 8, dtype=torch.int64))
    # Without dynamic_axes the TorchScript exporter records every shape as a constant.
    static = onnxkit.load(_export(net, example, ["input_ids", "attention_mask"], ["logits"], {}),
                          name="static_text")
    with pytest.raises(UnsupportedModelError, match="batch=3.*Reshape"):
        make_dynamic(static, {"input_ids": {0: "batch"}, "attention_mask": {0: "batch"}})
    # The positions were folded into an [8, 16] constant: a longer sequence cannot be added.
    with pytest.raises(UnsupportedModelError, match="seq=9.*Add.*8 by 9"):
        make_dynamic(static, {"input_ids": {1: "seq"}, "attention_mask": {1: "seq"}})


def test_make_dynamic_sizes_option(transformer, digits):
    fixed = fix_dims(transformer.model, {"sequence": 32})
    axes = {"input_ids": {1: "sequence"}, "attention_mask": {1: "sequence"}}
    # The position table has 64 rows: 100 tokens is past what the model supports.
    with pytest.raises(UnsupportedModelError, match="sequence=100"):
        make_dynamic(fixed, axes, sizes={"sequence": 100})
    dynamic = make_dynamic(fixed, axes, sizes={"sequence": [16, 64]})
    assert dynamic.lineage[-1].details["tried"] == [{"sequence": 16}, {"sequence": 64}]
    assert dynamic.lineage[-1].params["sizes"] == {"sequence": [16, 64]}
    # The digits CNN's classifier weights fix the image size: 9x9 pools to 4x4 like 8x8, 2x2
    # does not.
    with pytest.raises(UnsupportedModelError, match="h=2, w=2.*Gemm"):
        make_dynamic(digits.model, {"image": {2: "h", 3: "w"}})


@pytest.mark.parametrize("axes, sizes, match", [
    ({"imag": {0: "batch"}}, None, r"'imag'.*image: float32\[batch, 1, 8, 8\], logits"),
    ({"image": {4: "b"}}, None, r"rank 4.*-4\.\.3.*got 4"),
    ({"image": {-5: "b"}}, None, "got -5"),
    ({"image": {0: "a", -4: "b"}}, None, "each once"),
    ({"image": {2: 8}}, None, "non-numeric string.*got 8"),
    ({"image": {2: "8"}}, None, "got '8'"),
    ({"image": {2: "h"}}, {"w": 4}, r"new input dims \['h'\].*'w'"),
    ({"image": {2: "h"}}, {"h": 0}, "got 'h': 0"),
    ({"image": {2: "h"}}, [4], r"must map dim names to sizes.*got \[4\]"),
    ({"image": []}, None, "must map axes to dim names"),
    ({}, None, "non-empty mapping"),
])
def test_make_dynamic_refuses_bad_axes(digits, axes, sizes, match):
    with pytest.raises(ParameterError, match=match):
        make_dynamic(digits.model, axes, sizes=sizes)


def test_make_dynamic_needs_a_model_onnxruntime_can_load(tmp_path):
    model = make_model([helper.make_node("Mystery", ["x"], ["y"], domain="my.ops")],
                       [("x", F, [1, 2])], [("y", F, [1, 2])], domains=["my.ops"])
    with pytest.raises(UnsupportedModelError, match="cannot load it.*Mystery"):
        make_dynamic(save(model, tmp_path / "custom.onnx"), {"x": {0: "n"}})


def test_make_dynamic_can_be_replayed_from_its_saved_lineage(tmp_path):
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", F, [1, 3])],
                       [("y", F, [1, 3])])
    source = save(model, tmp_path / "relu.onnx")
    dynamic = make_dynamic(source, {"x": {-2: "n"}}, sizes={"n": 5})
    step = onnxkit.Model(dynamic.path).lineage[-1]  # read back from the JSON sidecar
    assert step.params == {"axes": {"x": {"0": "n"}}, "sizes": {"n": 5}}
    again = make_dynamic(step.source, **step.params)
    assert _io(again) == _io(dynamic) == ["x: float32[n, 3]", "y: float32[n, 3]"]
    assert again.lineage[-1].details["tried"] == [{"n": 5}]


def test_external_weights_stay_external(tmp_path):
    # conftest's external model: x[1, 4] @ w, with w (4x2) in 'weights.bin' beside the model.
    parent = onnxkit.load(external_model(tmp_path))
    dynamic = make_dynamic(parent, {"x": {0: "n"}})
    assert dynamic.lineage[-1].details["verification"]["passed"]
    out = onnxkit.run(dynamic, {"x": np.ones((3, 4), np.float32)})["y"]
    np.testing.assert_array_equal(out, np.tile([[12.0, 16.0]], (3, 1)))
    fixed = fix_dims(dynamic, {"n": 2})
    assert _io(fixed) == ["x: float32[2, 4]", "y: float32[2, 2]"]


# --- infer_shapes ---------------------------------------------------------------------------

def test_infer_shapes_transformer_relates_dims_to_the_inputs(transformer):
    shaped = infer_shapes(transformer.model)
    stages = {s["stage"]: s for s in shaped.lineage[-1].details["stages"]}
    assert stages["before"]["typed"] == 0
    assert stages["onnx"]["typed"] == stages["onnx"]["intermediates"] == 271
    assert stages["onnx"]["unknown_dims"] > 0  # onnx only gets 'unk__1' for the sequence
    assert stages["symbolic"]["unknown_dims"] == 0
    assert _value_shapes(shaped)[ATTENTION + "MatMul_output_0"] == ["batch", 4, "sequence",
                                                        "sequence"]
    assert shaped.lineage[-1].details["verification"]["passed"] is True
    assert _io(shaped)[:2] == _io(transformer.model)[:2]  # the inputs never change


def test_infer_shapes_onnx_only(transformer):
    shaped = infer_shapes(transformer.model, symbolic=False)
    assert shaped.name == "text_transformer.shapes-onnx"
    assert [s["stage"] for s in shaped.lineage[-1].details["stages"]] == ["before", "onnx"]
    assert _value_shapes(shaped)[ATTENTION + "MatMul_output_0"][2].startswith("unk__")


def _custom_op_model(tmp_path):
    """A custom op on an input of unknown rank: ORT's symbolic inference raises on it."""
    model = make_model([helper.make_node("Mystery", ["x"], ["h"], domain="my.ops"),
                        helper.make_node("Relu", ["h"], ["y"])],
                       [("x", F, None)], [("y", F, None)], domains=["my.ops"])
    return save(model, tmp_path / "custom.onnx")


def test_infer_shapes_keeps_the_onnx_result_when_symbolic_fails(tmp_path):
    shaped = infer_shapes(_custom_op_model(tmp_path))
    details = shaped.lineage[-1].details
    assert details["stages"][-1]["stage"] == "symbolic"
    assert details["stages"][-1]["failed"].startswith("TypeError")
    # ORT cannot run the custom op at all, so there is nothing to verify against.
    assert "Mystery" in details["verification"]["skipped"]
    assert [n.op_type for n in shaped.proto.graph.node] == ["Mystery", "Relu"]


def test_incomplete_symbolic_inference_writes_nothing_to_the_current_folder(
        tmp_path, monkeypatch, transformer):
    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

    def give_up(self, *args, **kwargs):
        self.run_ = False
        return False

    monkeypatch.setattr(SymbolicShapeInference, "_infer_impl", give_up)
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the onnx result still verifies
        shaped = infer_shapes(transformer.model)
    assert shaped.lineage[-1].details["stages"][-1] == {
        "stage": "symbolic", "failed": "Incomplete symbolic shape inference"}
    assert list(tmp_path.iterdir()) == []  # ORT's own call leaves sym_shape_infer_temp.onnx
    assert isinstance(onnx.load(str(shaped.path)), onnx.ModelProto)
