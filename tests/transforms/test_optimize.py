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


def test_fusion_is_measured_and_warns_when_slower(transformer):
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fused = onnxkit.fuse_transformer(transformer.model, num_heads=4, hidden_size=64,
                                         rounds=1, runs=5)
    d = fused.lineage[-1].details
    assert d["fused"].get("SkipLayerNormalization", 0) > 0
    assert d["verification"]["passed"]
    assert d["p50_before_ms"] > 0 and d["p50_after_ms"] > 0
    assert d["speedup"] == pytest.approx(d["p50_before_ms"] / d["p50_after_ms"])
    slower = [w for w in caught if issubclass(w.category, onnxkit.FusionSlowerWarning)]
    assert bool(slower) == (d["speedup"] < 1.0)
