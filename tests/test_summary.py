"""summarize(): facts read from the proto, right for real exported models."""

from __future__ import annotations

import json
import math

import onnx
from onnx import TensorProto, helper

import onnxkit
from conftest import external_model, make_model


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
