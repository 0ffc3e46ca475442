"""optimize() and fuse_transformer(): smaller graphs, same outputs, measured fusion."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from graphs import make_model, save
from onnx import TensorProto, helper

import onnxkit
from onnxkit.errors import ParameterError


@pytest.mark.parametrize("level", ["basic", "extended", "all", None])
def test_levels_keep_outputs_and_record_lineage(transformer, level):
    before = transformer.model.path.read_bytes()
    out = onnxkit.optimize(transformer.model, level=level)
    step = out.lineage[-1]
    assert step.op == "optimize" and step.params["level"] == level
    assert step.details["verification"]["passed"]
    assert step.details["nodes_after"] < step.details["nodes_before"] == 272
    assert step.details["portable"] == (level in ("basic", None))
    assert out.name == f"text_transformer.{'opt-' + level if level else 'slim'}"
    assert transformer.model.path.read_bytes() == before  # the source is untouched
    result = onnxkit.compare(transformer.model, out, transformer.inputs, rtol=1e-4, atol=1e-5)
    assert result, repr(result)


def test_constant_subgraphs_are_folded(tmp_path):
    # The weight is computed at run time: ConstantOfShape(shape) * 0.5.
    F = TensorProto.FLOAT
    shape = onnx.numpy_helper.from_array(np.array([4, 3], np.int64), "shape")
    nodes = [helper.make_node("ConstantOfShape", ["shape"], ["ones"],
                              value=helper.make_tensor("v", F, [1], [1.0])),
             helper.make_node("Mul", ["ones", "half"], ["w"]),
             helper.make_node("MatMul", ["x", "w"], ["y"])]
    half = onnx.numpy_helper.from_array(np.array(0.5, np.float32), "half")
    model = save(make_model(nodes, [("x", F, ["n", 4])], [("y", F, ["n", 3])], [shape, half]),
                 tmp_path / "computed.onnx")
    out = onnxkit.optimize(model, level=None)
    assert [n.op_type for n in out.proto.graph.node] == ["MatMul"]
    assert out.lineage[-1].details["op_changes"]["ConstantOfShape"] == [1, 0]
    x = np.ones((2, 4), np.float32)
    assert np.allclose(onnxkit.run(out, {"x": x})["y"], 2.0)


def test_ort_all_level_fuses_for_the_cpu(digits):
    out = onnxkit.optimize(digits.model, level="all", simplify=False)
    ops = {n.op_type for n in out.proto.graph.node}
    assert ops & {"FusedConv", "FusedGemm", "ReorderInput", "ReorderOutput"}
    assert onnxkit.compare(digits.model, out, digits.inputs)


def test_bad_arguments(tiny):
    bad = r"optimize\(level=...\) must be one of 'basic', 'extended', 'layout', 'all'; got 'max'"
    with pytest.raises(ParameterError, match=bad):
        onnxkit.optimize(tiny, level="max")
    with pytest.raises(ParameterError, match="would do nothing"):
        onnxkit.optimize(tiny, level=None, simplify=False)
    with pytest.raises(ParameterError, match="model_type"):
        onnxkit.fuse_transformer(tiny, model_type="resnet")


def test_fusion_reads_the_geometry_is_measured_and_warns_only_beyond_the_spread(transformer):
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fused = onnxkit.fuse_transformer(transformer.model, rounds=3, max_rounds=3)
    d = fused.lineage[-1].details
    assert (d["num_heads"], d["hidden_size"]) == (4, 64)  # read from the graph
    assert d["fused"].get("Attention") == 2 and d["attention"].startswith("fused 2 attention")
    assert d["verification"]["passed"]
    assert d["p50_before_ms"] > 0 and d["p50_after_ms"] > 0
    assert d["speedup_low"] <= d["speedup"] <= d["speedup_high"]
    slower = [w for w in caught if issubclass(w.category, onnxkit.FusionSlowerWarning)]
    assert bool(slower) == (d["speedup_verdict"] == "slower")


def test_dynamo_attention_is_recognised_and_an_unmatched_fusion_is_said():
    import hf_models

    from onnxkit.transforms import attention_geometry

    exported = onnxkit.convert.from_torch(hf_models.bert(layers=1, hidden=64),
                                  hf_models.text_inputs(), exporter="dynamo",
                                  outputs=["logits"]).model
    assert onnxkit.has_attention(exported)  # Softmax -> IsNaN/Where -> MatMul
    assert attention_geometry(exported) == (2, 64)
    d = onnxkit.fuse_transformer(exported, timed=False).lineage[-1].details
    assert d["fused"] and "Attention" not in d["fused"]
    assert "did not match this export" in d["attention"]


def test_a_fusion_that_crashes_inside_onnxruntime_is_named():
    import hf_models

    gpt2 = onnxkit.convert.from_torch(hf_models.gpt2(), hf_models.text_inputs(mask=False),
                              exporter="dynamo", outputs=["logits"]).model
    with pytest.raises(onnxkit.errors.UnsupportedModelError,
                       match=r"gpt2 fusion failed on .* with IndexError"):
        onnxkit.fuse_transformer(gpt2, model_type="gpt2", timed=False)
