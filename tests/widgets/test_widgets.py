"""onnxkit.widgets: panels driven from Python (no browser), read back through their traitlets."""

from __future__ import annotations

import logging
import subprocess
import sys

import numpy as np
import pytest
from graphs import relu_model, save
from panel_helpers import click, texts

import onnxkit
from onnxkit import quantize
from onnxkit.errors import ParameterError, UnsupportedModelError
from onnxkit.widgets import Panel, QuantizePanel

ROWS = 64


@pytest.fixture
def digits_panel(digits):
    return QuantizePanel(digits.model, digits.inputs["image"][:ROWS], digits.labels[:ROWS])


def _idle(panel):
    assert not panel.busy
    assert panel.cancel_button.disabled
    assert not panel.quantize_button.disabled


def test_is_a_panel_and_import_stays_cheap(digits_panel):
    assert isinstance(digits_panel, Panel)
    assert "help" in QuantizePanel.class_traits()["method"].metadata
    code = "import sys, onnxkit; assert 'ipywidgets' not in sys.modules, 'ipywidgets imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_static_run_assesses_against_float(digits_panel):
    assert digits_panel.mode == "static"
    result = digits_panel.run()
    assert isinstance(result, quantize.QuantAssessment) and digits_panel.result is result
    assert len(result.rows) == 2 and result.rows[1].name.startswith("digits_cnn.uint8-static-qdq")
    assert all(r.score is not None and r.score > 0.9 for r in result.rows)
    assert digits_panel.error == ""
    step = digits_panel.quantized.lineage[-1]
    assert step.op == "quantize.static" and step.params["method"] == "minmax"
    assert step.details["calibration_feeds"] == 4
    kinds = [set(o["data"]) for o in digits_panel.output.outputs]
    assert "text/html" in kinds[0] and "application/vnd.plotly.v1+json" in kinds[1]
    assert not digits_panel.debug_button.disabled  # a static QDQ result can be debugged
    assert digits_panel.requantize_button.disabled  # nothing selected to exclude


def test_dynamic_without_calibration_uses_random_inputs(transformer):
    panel = QuantizePanel(transformer.model)
    assert panel.mode == "dynamic"
    result = panel.run()
    assert [r.name for r in result.rows] == ["text_transformer", "text_transformer.int8-dynamic"]
    assert all(r.score is None for r in result.rows)
    assert panel.quantized.lineage[-1].params["per_channel"] is False  # dynamic default
    assert panel.debug_button.disabled  # not a static QDQ model
    assert "data = onnxkit.random_inputs(model, batch=8)" in panel.to_code()


def test_int4_weight_only(transformer):
    panel = QuantizePanel(transformer.model)
    panel.mode = "int4"
    result = panel.run()
    assert len(result.rows) == 2 and result.rows[1].name == "text_transformer.int4-b32"
    assert panel.quantized.lineage[-1].op == "quantize.weight_only"


def test_static_with_dict_calibration(transformer):
    feeds = {k: v[:16] for k, v in transformer.inputs.items()}
    panel = QuantizePanel(transformer.model, feeds, transformer.labels[:16])
    panel.per_channel = False
    result = panel.run()
    assert len(result.rows) == 2 and result.rows[1].score is not None
    assert panel.quantized.lineage[-1].details["calibration_feeds"] == 1
    namespace: dict = {}
    exec(panel.to_code(), namespace)
    assert namespace["quantized"].lineage[-1].params == panel.quantized.lineage[-1].params


def test_controls_are_linked_and_follow_the_mode(digits_panel):
    digits_panel.method_control.value = "entropy"
    digits_panel.format_control.value = "qoperator"
    digits_panel.samples_control.value = 32
    assert (digits_panel.method, digits_panel.format, digits_panel.samples) == \
        ("entropy", "qoperator", 32)
    digits_panel.mode = "dynamic"
    assert digits_panel.mode_control.value == "dynamic"
    assert digits_panel.method_control.disabled and digits_panel.samples_control.disabled
    assert not digits_panel.per_channel_control.disabled
    digits_panel.mode = "int4"
    assert digits_panel.per_channel_control.disabled
    digits_panel.mode = "static"
    assert not digits_panel.method_control.disabled
    digits_panel.run()
    params = digits_panel.quantized.lineage[-1].params
    assert (params["method"], params["format"], params["samples"]) == ("entropy", "qoperator", 32)
    assert digits_panel.debug_button.disabled  # QOperator results cannot be debugged


def test_button_runs_in_background(digits_panel):
    states = []
    digits_panel.observe(lambda change: states.append(change["new"]), "busy")
    click(digits_panel, digits_panel.quantize_button)
    assert states == [True, False]
    assert isinstance(digits_panel.result, quantize.QuantAssessment)
    assert len(digits_panel.result.rows) == 2 and digits_panel.error == ""
    assert digits_panel.status.value == "done"
    _idle(digits_panel)


@pytest.mark.parametrize("case", ["int4 without linear layers", "static without calibration"])
def test_failure_is_shown_not_raised(digits, case, caplog, tmp_path):
    if case == "int4 without linear layers":
        relu = save(relu_model(), tmp_path / "relu.onnx")
        panel = QuantizePanel(relu, np.ones((ROWS, 3), np.float32))
        panel.mode = "int4"
        expected, words = UnsupportedModelError, "has none"
    else:
        panel = QuantizePanel(digits.model)
        panel.mode = "static"
        expected, words = ParameterError, "needs calibration data"
        assert panel.quantize_button.disabled and "calibration" in panel.hint.value
    with caplog.at_level(logging.ERROR, logger="onnxkit.widgets"):
        click(panel, panel.quantize_button)
    assert panel.error.startswith(expected.__name__) and words in panel.error
    assert panel.error in texts(panel)
    assert panel.result is None and panel.status.value == "failed"
    assert any(r.exc_info and r.exc_info[0] is expected for r in caplog.records)
    assert not panel.busy and panel.cancel_button.disabled
    with pytest.raises(expected, match=words):  # scripts see the exception
        panel.run()


def test_cancel_during_calibration(digits_panel):
    # The first progress report (batch 1 of 4) presses Cancel: deterministic, and it goes
    # through the kernel's progress callback like the button does.
    def press_cancel(change):
        if change["new"] == 1:
            digits_panel.cancel()

    digits_panel.progress.observe(press_cancel, "value")
    click(digits_panel, digits_panel.quantize_button)
    assert digits_panel.error.startswith("Cancelled") and "1/4" in digits_panel.error
    assert digits_panel.error in texts(digits_panel)
    assert digits_panel.status.value == "cancelled"
    assert digits_panel.result is None and digits_panel.quantized is None
    _idle(digits_panel)
    digits_panel.progress.unobserve(press_cancel, "value")
    assert isinstance(digits_panel.run(), quantize.QuantAssessment)  # the cancel was cleared


def test_debug_then_requantize_with_exclusions(digits_panel):
    digits_panel.run()
    first = digits_panel.quantized
    click(digits_panel, digits_panel.debug_button)
    errors = digits_panel.result
    assert isinstance(errors, quantize.LayerErrors) and digits_panel.error == ""
    assert digits_panel.candidates == errors.worst(10) and len(digits_panel.candidates) >= 2
    assert list(digits_panel.exclusions.options) == digits_panel.candidates
    assert digits_panel.requantize_button.disabled

    selection = tuple(digits_panel.candidates[:2])
    digits_panel.exclusions.value = selection
    assert digits_panel.exclude == list(selection)
    assert not digits_panel.requantize_button.disabled
    click(digits_panel, digits_panel.requantize_button)
    assert digits_panel.error == ""
    step = digits_panel.quantized.lineage[-1]
    assert step.op == "quantize.static" and step.params["exclude"] == list(selection)
    names = [r.name for r in digits_panel.result.rows]
    assert names == ["digits_cnn", first.name, digits_panel.quantized.name]
    _idle(digits_panel)

    code = digits_panel.to_code()
    assert "onnxkit.quantize.debug(model, quantized, calibration)" in code
    assert f"exclude={list(selection)!r}" in code
    namespace: dict = {}
    exec(code, namespace)
    assert namespace["quantized"].lineage[-1].params == step.params
    assert [r.name for r in namespace["assessment"].rows] == names


def test_to_code_saves_arrays_once_and_runs(digits, digits_panel):
    assert "import onnxkit" in digits_panel.to_code()  # runnable before any action
    digits_panel.run()
    code = digits_panel.to_code()
    assert code == digits_panel.to_code()
    assert f'model = onnxkit.load(r"{digits.model.path}")' in code
    saved = onnxkit.workspace().root / "arrays"
    assert str(saved) in code and len(list(saved.glob("*.npy"))) >= 2
    namespace: dict = {}
    exec(code, namespace)
    assert np.array_equal(namespace["calibration"], digits.inputs["image"][:ROWS])
    assert np.array_equal(namespace["labels"], digits.labels[:ROWS])
    assert namespace["quantized"].lineage[-1].params == digits_panel.quantized.lineage[-1].params
    assert len(namespace["assessment"].rows) == 2


def test_labels_need_calibration(digits):
    with pytest.raises(ParameterError, match="calibration=None"):
        QuantizePanel(digits.model, labels=digits.labels)
