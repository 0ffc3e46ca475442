"""summarize(): facts read from the proto, right for real exported models."""

from __future__ import annotations

import json
import math

import onnx
import pytest
from graphs import external_model, make_model
from onnx import TensorProto, helper

import onnxkit


def test_transformer_summary(transformer):
    s = onnxkit.summarize(transformer.model)
    assert s.name == "text_transformer"
    assert [(t.name, t.dtype, t.shape) for t in s.inputs] == [
        ("input_ids", "int64", ("batch", "sequence")),
        ("attention_mask", "int64", ("batch", "sequence")),
    ]
    assert [(t.name, t.dtype, t.shape) for t in s.outputs] == [("logits", "float32", ("batch", 2))]
    assert s.opsets == {"ai.onnx": 17}
    assert s.producer.startswith("pytorch")
    assert s.op_counts["Softmax"] == 2 and s.op_counts["LayerNormalization"] == 5
    assert s.node_count == sum(s.op_counts.values()) == len(transformer.model.proto.graph.node)
    expected = sum(math.prod(t.dims) for t in transformer.model.proto.graph.initializer)
    assert s.parameter_count == expected > 100_000
    assert s.size_bytes == transformer.model.path.stat().st_size


def test_sklearn_pipeline_summary(pipeline):
    s = onnxkit.summarize(pipeline.model)
    assert s.opsets["ai.onnx.ml"] >= 1
    assert "ai.onnx.ml.LinearClassifier" in s.op_counts
    assert [t.name for t in s.outputs] == ["label", "probabilities"]
    assert s.inputs[0].shape == ("?", 30)  # unknown (unnamed) dims read as "?"
    assert s.parameter_count == 30 * 2 + 2 * 30 + 2  # scaler offsets+scales, coefficients


def test_subgraph_nodes_are_counted():
    F, B = TensorProto.FLOAT, TensorProto.BOOL
    branch = lambda op, name: helper.make_graph(  # noqa: E731
        [helper.make_node(op, ["x"], [name])], name, [],
        [helper.make_tensor_value_info(name, F, [2])])
    model = make_model(
        [helper.make_node("If", ["cond"], ["y"], then_branch=branch("Relu", "a"),
                          else_branch=branch("Neg", "b"))],
        [("cond", B, []), ("x", F, [2])], [("y", F, [2])])
    s = onnxkit.summarize(model)
    assert s.op_counts == {"If": 1, "Neg": 1, "Relu": 1}
    assert s.node_count == 3


def test_metadata_doc_and_external_data(tmp_path):
    path = external_model(tmp_path)
    proto = onnx.load_model(str(path), load_external_data=False)
    proto.doc_string = "a doc"
    onnx.helper.set_model_props(proto, {"author": "me"})
    onnx.save_model(proto, str(path))
    s = onnxkit.summarize(path)
    assert s.doc_string == "a doc" and s.metadata == {"author": "me"}
    assert [(f.location, f.size_bytes) for f in s.external_data] == [("weights.bin", 32)]
    assert s.parameter_count == 8


def test_renderings_do_not_recompute(digits):
    s = onnxkit.summarize(digits.model)
    d = s.to_dict()
    assert json.loads(json.dumps(d))["inputs"][0]["shape"] == ["batch", 1, 8, 8]
    text = repr(s)
    assert "digits_cnn" in text and "image: float32[batch, 1, 8, 8]" in text
    html = s._repr_html_()
    assert "<table" in html and "Conv" in html
    fig = s.plot()
    assert list(fig.data[0].y) == list(s.op_counts)
    assert list(fig.data[0].x) == list(s.op_counts.values())


# --- sections: parameters by op type, largest initializers, symbolic dims, renderings -------

def test_parameters_by_op_type_add_up(digits, transformer, pipeline):
    for sample in (digits, transformer, pipeline):
        s = onnxkit.summarize(sample.model)
        assert sum(s.parameters_by_op.values()) == s.parameter_count
        assert list(s.parameters_by_op.values()) == sorted(s.parameters_by_op.values(),
                                                           reverse=True)
    s = onnxkit.summarize(digits.model)
    assert s.parameters_by_op == {"Gemm": 33482, "Conv": 4800}
    assert s.parameter_bytes == 4 * s.parameter_count  # all float32
    assert onnxkit.summarize(pipeline.model).parameters_by_op == {
        "ai.onnx.ml.LinearClassifier": 62, "ai.onnx.ml.Scaler": 60}


def test_largest_initializers(digits, transformer):
    s = onnxkit.summarize(digits.model)
    top = s.largest_initializers[0]
    assert (top.name, top.dtype, top.shape, top.elements, top.size_bytes, top.used_by,
            top.external) == ("8.weight", "float32", (64, 512), 32768, 131072, "Gemm", None)
    assert len(s.largest_initializers) == s.initializer_count == 8
    s = onnxkit.summarize(transformer.model)
    sizes = [t.size_bytes for t in s.largest_initializers]
    assert sizes == sorted(sizes, reverse=True) and len(sizes) == 10 < s.initializer_count
    assert s.largest_initializers[0].used_by == "Gather"  # the token embedding


def test_unread_weights_and_sub_byte_sizes():
    int4 = helper.make_tensor("packed", TensorProto.INT4, [3], [1, 2, 3])
    unused = helper.make_tensor("unused", TensorProto.FLOAT16, [2, 2], [0.0] * 4)
    model = make_model([helper.make_node("Identity", ["x"], ["y"])],
                       [("x", TensorProto.FLOAT, [1])],
                       [("y", TensorProto.FLOAT, [1]), ("packed", TensorProto.INT4, [3])],
                       [int4, unused])
    s = onnxkit.summarize(model)
    assert s.parameters_by_op == {"(unused)": 4, "(graph output)": 3}
    sizes = {t.name: (t.size_bytes, t.used_by) for t in s.largest_initializers}
    assert sizes == {"unused": (8, "(unused)"), "packed": (2, "(graph output)")}
    assert s.parameter_bytes == 10


def test_external_initializers_are_marked(tmp_path):
    s = onnxkit.summarize(external_model(tmp_path))
    assert [(t.name, t.external, t.used_by) for t in s.largest_initializers] == [
        ("w", "weights.bin", "MatMul")]
    html = s._repr_html_()
    assert "external data" in html and "stored in" in html and "weights.bin" in html


def test_symbolic_dims_and_html_sections(transformer):
    s = onnxkit.summarize(transformer.model)
    assert s.symbolic_dims == ("batch", "sequence")
    html = s._repr_html_()
    for caption in ("text_transformer", "inputs and outputs", "operators",
                    "parameters by op type", "largest initializers (10 of"):
        assert f">{caption}" in html, caption
    assert "symbolic dims" in html and "batch, sequence" in html


def test_html_escapes_metadata(tmp_path):
    model = make_model([helper.make_node("Relu", ["x"], ["y"])],
                       [("x", TensorProto.FLOAT, [1])], [("y", TensorProto.FLOAT, [1])])
    onnx.helper.set_model_props(model, {"note": "<script>alert(1)</script>"})
    html = onnxkit.summarize(model)._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_plots_of_operators_and_parameter_share(digits):
    s = onnxkit.summarize(digits.model)
    both = s.plot()
    assert [t.name for t in both.data] == ["nodes", "parameters"]
    params = s.plot("parameters")
    assert len(params.data) == 1 and list(params.data[0].y) == ["Gemm", "Conv"]
    assert [round(x, 1) for x in params.data[0].x] == [87.5, 12.5]
    assert list(s.plot("operators").data[0].x) == list(s.op_counts.values())
    with pytest.raises(onnxkit.errors.ParameterError, match="plot\\(kind=...\\)"):
        s.plot("pie")


def test_tables(digits):
    s = onnxkit.summarize(digits.model)
    ops = s.table()
    assert list(ops.columns) == ["op", "nodes", "parameters", "parameter_share"]
    assert ops.set_index("op").loc["Gemm", "parameters"] == 33482
    assert ops["nodes"].sum() == s.node_count and ops["parameters"].sum() == s.parameter_count
    weights = s.table("initializers")
    assert weights["name"].iloc[0] == "8.weight" and len(weights) == 8
    io = s.table("io")
    assert io.to_dict("records") == [
        {"kind": "input", "name": "image", "dtype": "float32", "shape": ["batch", 1, 8, 8]},
        {"kind": "output", "name": "logits", "dtype": "float32", "shape": ["batch", 10]}]
    with pytest.raises(onnxkit.errors.ParameterError, match=r"table\(kind=...\)"):
        s.table("weights")
    with pytest.warns(DeprecationWarning, match=r"\.table\(kind\)"):
        assert s.to_dataframe("io").equals(io)  # the old name, for one release
    assert json.loads(json.dumps(s.to_dict()))["largest_initializers"][0]["shape"] == [64, 512]
