"""graph_view(): the graph laid out in Python, drawn by plotly and as SVG, collapsed when big."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import onnx
import pytest
from graphs import make_model
from onnx import TensorProto, helper, numpy_helper

import onnxkit
from onnxkit import GraphView, graph_view
from onnxkit.errors import ParameterError

F = TensorProto.FLOAT


def chain_model(n: int) -> onnx.ModelProto:
    """x -> (Add b, Relu) x n/2 -> y: one straight chain of n nodes."""
    nodes, prev = [], "x"
    for i in range(n // 2):
        nodes += [helper.make_node("Add", [prev, "b"], [f"a{i}"], name=f"add{i}"),
                  helper.make_node("Relu", [f"a{i}"], [f"r{i}"], name=f"relu{i}")]
        prev = f"r{i}"
    nodes[-1].output[0] = "y"
    return make_model(nodes, [("x", F, ["n", 8])], [("y", F, ["n", 8])],
                      [numpy_helper.from_array(np.ones(8, np.float32), "b")])


def ladder_model(n: int) -> onnx.ModelProto:
    """Residual blocks h = h + Relu(h), n/2 of them: no straight chain to merge."""
    nodes, prev = [], "x"
    for i in range(n // 2):
        nodes += [helper.make_node("Relu", [prev], [f"r{i}"], name=f"relu{i}"),
                  helper.make_node("Add", [prev, f"r{i}"], [f"h{i}"], name=f"add{i}")]
        prev = f"h{i}"
    nodes[-1].output[0] = "y"
    return make_model(nodes, [("x", F, ["n", 8])], [("y", F, ["n", 8])])


def operators_drawn(g: GraphView) -> int:
    return sum(b.size for b in g.boxes if b.kind in ("op", "group"))


def test_tiny_layout_is_exact(tiny):
    g = graph_view(tiny)
    assert [(b.kind, b.label, b.row, b.x) for b in g.boxes] == [
        ("input", "x", 0, 0.0), ("op", "Gemm", 1, 0.0), ("op", "Relu", 2, 0.0),
        ("op", "Gemm", 3, 0.0), ("output", "y", 4, 0.0)]
    assert g.edges == ((0, 1), (1, 2), (2, 3), (3, 4))
    assert (g.operators, g.shown, g.collapsed, g.shapes) == (3, 3, None, "inferred")
    assert g.boxes[1].detail.splitlines() == [
        "Gemm  fc1", "inputs:", "  x: float32[batch, 4]", "  w1: float32[4, 8]  (weight)",
        "  b1: float32[8]  (weight)", "outputs:", "  h: float32[batch, 8]"]
    assert g == graph_view(tiny)  # deterministic
    assert json.loads(json.dumps(g.to_dict()))["note"] == g.note


def test_hover_has_shapes_and_attributes(digits):
    g = graph_view(digits.model)
    conv = next(b for b in g.boxes if b.op == "Conv")
    assert "kernel_shape = [3, 3]" in conv.detail
    assert "float32[batch, 16, 8, 8]" in conv.detail
    fig = g.plot()
    by_name = {t.name: t for t in fig.data if t.name}
    assert {"graph input", "graph output", "Conv", "Relu", "Gemm"} <= set(by_name)
    assert by_name["Conv"].hovertext[0].startswith("<b>Conv")
    assert "kernel_shape = [3, 3]" in by_name["Conv"].hovertext[0]
    colours = [t.marker.color for t in fig.data if t.name in digits_ops(g)]
    assert len(set(colours)) == len(colours)  # one colour per op type
    edges = fig.data[0]
    assert edges.mode == "lines" and len(edges.x) == 3 * len(g.edges)


def digits_ops(g: GraphView) -> set[str]:
    return {b.op for b in g.boxes if b.kind == "op"}


def test_rows_follow_topological_depth_not_file_order():
    nodes = [helper.make_node("Neg", ["a"], ["y"], name="last"),
             helper.make_node("Relu", ["x"], ["a"], name="first")]
    g = graph_view(make_model(nodes, [("x", F, [2])], [("y", F, [2])]))
    assert {b.label: b.row for b in g.boxes} == {"x": 0, "Relu": 1, "Neg": 2, "y": 3}


def test_subgraphs_are_described_and_their_reads_drawn():
    branch = lambda op, name: helper.make_graph(  # noqa: E731
        [helper.make_node(op, ["x"], [name])], name, [], [helper.make_tensor_value_info(name, F,
                                                                                        [2])])
    model = make_model(
        [helper.make_node("If", ["cond"], ["y"], then_branch=branch("Relu", "a"),
                          else_branch=branch("Neg", "b"), name="if")],
        [("cond", TensorProto.BOOL, []), ("x", F, [2])], [("y", F, [2])])
    g = graph_view(model)
    labels = [b.label for b in g.boxes]
    assert labels == ["cond", "x", "If", "y"]
    assert (1, 2) in g.edges  # the branches read x from the outer graph
    assert "then_branch = subgraph, 1 nodes (not drawn)" in g.boxes[2].detail


def test_svg_and_mime_bundle_show_without_javascript(digits):
    g = graph_view(digits.model)
    svg = ET.fromstring(g.to_svg())
    ns = "{http://www.w3.org/2000/svg}"
    assert len(svg.findall(f".//{ns}g/{ns}title")) == len(g.boxes)
    assert len(svg.findall(f"{ns}line")) == len(g.edges)
    bundle = g._repr_mimebundle_()
    assert set(bundle) == {"application/vnd.plotly.v1+json", "image/svg+xml", "text/plain"}
    assert bundle["text/plain"].startswith("GraphView 'digits_cnn': 9 operators")


def test_a_3000_node_chain_collapses_to_one_box():
    g = graph_view(chain_model(3000))
    assert g.operators == 3000 and g.collapsed == "chains merged"
    assert [b.kind for b in g.boxes] == ["input", "group", "output"]
    group = g.boxes[1]
    assert group.size == 3000 and "Add ×1500, Relu ×1500" in group.detail
    assert "drawn as 1 box (chains merged)" in g.note
    assert g.plot().data and ET.fromstring(g.to_svg()) is not None


def test_a_3000_node_ladder_is_grouped_in_bands():
    g = graph_view(ladder_model(3000))
    assert g.collapsed.startswith("each op type grouped within bands of")
    assert 0 < g.shown <= GraphView.MAX_NODES
    assert operators_drawn(g) == 3000  # every node is in exactly one box
    assert f"3000 operators drawn as {g.shown} boxes" in repr(g)
    small = graph_view(ladder_model(3000), max_nodes=50)
    assert small.shown <= 50 and operators_drawn(small) == 3000
    assert len(small.plot().data) >= 3


def test_transformer_collapse_steps(transformer):
    full = graph_view(transformer.model)
    assert full.collapsed is None and full.shown == 272
    constants = sum(b.op == "Constant" for b in full.boxes)
    no_constants = graph_view(transformer.model, max_nodes=272 - constants)
    assert no_constants.collapsed == "Constant nodes hidden"
    assert no_constants.shown == 272 - constants
    assert all(b.op != "Constant" for b in no_constants.boxes)
    scoped = graph_view(transformer.model, max_nodes=30)
    assert scoped.collapsed.startswith("Constant nodes hidden, grouped by name scope (level ")
    assert scoped.shown <= 30
    assert any(b.label.startswith("model/bert/embeddings") for b in scoped.boxes)
    assert operators_drawn(scoped) == 272 - constants


def test_shapes_fall_back_to_declared_ones(tiny, monkeypatch):
    def fail(*args, **kwargs):
        raise onnx.shape_inference.InferenceError("boom")

    monkeypatch.setattr(onnx.shape_inference, "infer_shapes", fail)
    g = graph_view(tiny)
    assert g.shapes.startswith("declared only (shape inference failed: boom")
    assert "h: ?" in g.boxes[1].detail and "x: float32[batch, 4]" in g.boxes[1].detail


@pytest.mark.parametrize("value", [0, -1, 2.5, True, "10"])
def test_bad_max_nodes(tiny, value):
    with pytest.raises(ParameterError, match="max_nodes"):
        graph_view(tiny, max_nodes=value)


def test_inline_view_of_bytes_and_protos(tiny):
    g = graph_view(tiny.path.read_bytes())
    assert g.shown == 3 and onnxkit.load(tiny.proto).name.split("-")[0] == "tiny"
