"""OptimizePanel: driven from Python, read back through its traitlets and output area."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from graphs import make_model, save
from onnx import TensorProto, helper, numpy_helper
from panel_helpers import click, run_code

import onnxkit
from onnxkit.errors import ParameterError, UnsupportedModelError
from onnxkit.widgets import OptimizePanel, Panel


def test_run_optimizes_and_shows_both_summaries(tiny):
    panel = OptimizePanel(tiny)
    assert isinstance(panel, Panel) and "help" in OptimizePanel.class_traits()["level"].metadata
    panel.level_control.value = "basic"
    assert panel.level == "basic"
    result = panel.run()
    assert result.name == "tiny.opt-basic" and panel.optimized is result is panel.result
    assert panel.error == "" and panel.status.value == "done"
    before, after = panel.summaries
    assert isinstance(before, onnxkit.ModelSummary) and before.name == "tiny"
    assert after.name == "tiny.opt-basic" and after.path == str(result.path)
    html = panel.comparison.value
    assert "original" in html and "tiny.opt-basic" in html and "outputs verified" in html
    code = panel.to_code()
    assert code.splitlines()[-1] == \
        "optimized = onnxkit.optimize_pipeline(model, level='basic', simplify=True)"
    again = run_code(code)["optimized"]
    assert again.path == result.path and again.lineage[-1].params == result.lineage[-1].params


def test_steps_chain_slim_then_fp16(tiny):
    panel = OptimizePanel(tiny)
    panel.level, panel.fp16 = "disable", True
    result = panel.run()
    assert result.name == "tiny.slim.fp16"
    assert [s.op for s in result.lineage[-2:]] == ["optimize", "to_fp16"]
    assert panel.progress.value == panel.progress.max == 3
    html = panel.comparison.value
    assert "optimize" in html and "to_fp16" in html
    code = panel.to_code()
    assert code.splitlines()[-1] == \
        "optimized = onnxkit.optimize_pipeline(model, level=None, simplify=True, fp16=True)"
    assert run_code(code)["optimized"].path == result.path


def _attention(folder):
    """Self-attention in miniature: softmax(x W x^T) x, a Softmax feeding a MatMul."""
    F = TensorProto.FLOAT
    w = numpy_helper.from_array(np.eye(8, dtype=np.float32) * 0.5, "w")
    nodes = [helper.make_node("MatMul", ["x", "w"], ["q"]),
             helper.make_node("Transpose", ["x"], ["xt"], perm=[0, 2, 1]),
             helper.make_node("MatMul", ["q", "xt"], ["scores"]),
             helper.make_node("Softmax", ["scores"], ["p"], axis=-1),
             helper.make_node("MatMul", ["p", "x"], ["y"])]
    proto = make_model(nodes, [("x", F, ["batch", 4, 8])], [("y", F, ["batch", 4, 8])], [w])
    return onnxkit.load(save(proto, folder / "attention.onnx"))


def test_fusion_only_when_the_graph_has_attention(tiny, tmp_path):
    plain = OptimizePanel(tiny)
    assert not plain.fusable and plain.fuse_control.disabled
    plain.fuse = True
    assert "does not apply" in plain.hint.value
    panel = OptimizePanel(_attention(tmp_path))
    assert panel.fusable and not panel.fuse_control.disabled
    assert panel.model_type_control.disabled
    panel.fuse, panel.level = True, "basic"
    assert not panel.model_type_control.disabled
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the fused model may be slower: the lineage says so
        result = panel.run()
    assert result.name == "attention.fused-bert.opt-basic"
    assert [s.op for s in result.lineage] == ["fuse_transformer", "optimize"]
    assert "fuse_transformer" in panel.comparison.value and "speedup" in panel.comparison.value
    code = panel.to_code()
    assert "onnxkit.optimize_pipeline(model, fuse='bert', level='basic', simplify=True)" in code


def test_nothing_chosen_then_usable(tiny):
    panel = OptimizePanel(tiny)
    panel.level, panel.simplify = "disable", False
    assert panel.optimize_button.disabled and "choose" in panel.hint.value
    with pytest.raises(ParameterError, match="nothing to do"):
        panel.run()
    assert panel.error.startswith("ParameterError") and not panel.busy
    panel.simplify = True
    assert not panel.optimize_button.disabled
    click(panel, panel.optimize_button)
    assert panel.error == "" and panel.optimized.name == "tiny.slim"


def test_kernel_refusal_is_shown(tiny):
    panel = OptimizePanel(onnxkit.to_fp16(tiny))
    panel.level, panel.simplify, panel.fp16 = "disable", False, True
    click(panel, panel.optimize_button)
    assert panel.error.startswith("UnsupportedModelError") and "already float16" in panel.error
    assert panel.error in panel.output.outputs[0]["text"]
    assert panel.status.value == "failed" and panel.optimized is None
    assert not panel.busy and not panel.optimize_button.disabled
    with pytest.raises(UnsupportedModelError):
        panel.run()


def test_cancel_between_steps(tiny):
    panel = OptimizePanel(tiny)
    panel.level, panel.fp16 = "basic", True

    def press_cancel(change):
        if change["new"] == 1:
            panel.cancel()

    panel.progress.observe(press_cancel, "value")
    click(panel, panel.optimize_button)
    assert panel.error.startswith("Cancelled") and panel.status.value == "cancelled"
    assert panel.optimized is None and not panel.busy
    panel.progress.unobserve(press_cancel, "value")
    assert panel.run().name == "tiny.opt-basic.fp16"
