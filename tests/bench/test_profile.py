"""profile() and placement(): ORT's profiler, read per node, op type and provider."""

from __future__ import annotations

import pytest

import onnxkit
from onnxkit.errors import ParameterError


def test_profile_of_the_transformer(transformer):
    p = onnxkit.profile(transformer.model, transformer.inputs, runs=3, warmup=1)
    assert p.runs == 3 and p.providers == ("CPUExecutionProvider",)
    assert "MatMul" in p.by_op and "Softmax" in p.by_op
    assert sum(n.share for n in p.nodes) == pytest.approx(1.0)
    assert p.total_ms == pytest.approx(sum(v["mean_ms"] for v in p.by_op.values()))
    assert [n.mean_ms for n in p.top(5)] == sorted((n.mean_ms for n in p.nodes), reverse=True)[:5]
    assert all(n.provider == "CPUExecutionProvider" for n in p.nodes)
    assert p.to_dict()["runs"] == 3 and "MatMul" in repr(p)
    assert "<table" in p._repr_html_()
    assert list(p.plot().data[0].y) == list(p.by_op)


def test_profile_rejects_bad_counts(tiny):
    with pytest.raises(ParameterError, match="runs"):
        onnxkit.profile(tiny, runs=0)
    with pytest.raises(ParameterError, match="warmup"):
        onnxkit.profile(tiny, warmup=-1)


def test_placement(digits):
    placed = onnxkit.placement(digits.model, providers="cpu")
    assert placed.counts == {"CPUExecutionProvider": len(placed.nodes)}
    assert placed.graph_node_count == len(digits.model.proto.graph.node)
    assert 0 < len(placed.nodes) <= placed.graph_node_count + 2  # fusions, layout reorders
    assert placed.fallbacks == ()
    assert placed.to_dict()["counts"] == placed.counts
    assert "CPUExecutionProvider" in repr(placed) and "<table" in placed._repr_html_()
    assert placed.plot().data
