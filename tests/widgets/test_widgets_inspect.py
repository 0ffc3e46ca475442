"""InspectPanel: driven from Python, read back through its traitlets and output area."""

from __future__ import annotations

import logging
import urllib.request

import pytest
from graphs import relu_model, save
from panel_helpers import click

import onnxkit
from onnxkit import GraphView, NetronView, stop_views
from onnxkit.errors import InvalidModelError
from onnxkit.widgets import InspectPanel, Panel


@pytest.fixture(autouse=True)
def no_server_left():
    yield
    assert stop_views() == 0, "a test left a Netron server running"


def _kinds(panel):
    return [set(o.get("data", {})) for o in panel.output.outputs]


def test_picker_lists_given_model_samples_and_folder_files(tmp_path, tiny):
    save(relu_model(), tmp_path / "b.onnx")
    save(relu_model(), tmp_path / "a.onnx")
    (tmp_path / "notes.txt").write_text("not a model")
    panel = InspectPanel(tiny, folder=tmp_path)
    assert isinstance(panel, Panel) and "help" in InspectPanel.class_traits()["source"].metadata
    labels = [label for label, _ in panel.picker.options]
    assert labels == ["tiny (given)", "sample: tiny_model", "sample: digits_cnn",
                      "sample: text_transformer", "sample: sklearn_pipeline",
                      "file: a.onnx", "file: b.onnx"]
    assert panel.source == str(tiny.path) == panel.picker.value
    assert InspectPanel(folder=tmp_path).source == "sample:tiny_model"


def test_run_summarizes_and_prints_its_code(digits):
    panel = InspectPanel(digits.model)
    summary = panel.run()
    assert isinstance(summary, onnxkit.ModelSummary) and panel.result is summary
    assert panel.model == digits.model and panel.error == ""
    assert _kinds(panel) == [{"text/plain", "text/html"},
                             {"application/vnd.plotly.v1+json", "text/plain"}]
    code = panel.to_code()
    assert code.splitlines()[-1] == "summary = onnxkit.summarize(model)"
    namespace: dict = {}
    exec(code, namespace)
    assert namespace["summary"] == summary


def test_samples_load_through_the_kernel(tmp_path):
    panel = InspectPanel(folder=tmp_path)
    panel.picker.value = "sample:digits_cnn"
    assert panel.source == "sample:digits_cnn"
    assert panel.run().name == "digits_cnn"
    assert "model = onnxkit.samples.digits_cnn().model" in panel.to_code()
    panel.source = "sample:tiny_model"
    panel.run()
    code = panel.to_code()
    assert "model = onnxkit.samples.tiny_model()\n" in code and "digits" not in code


def test_graph_button_draws_inline(transformer):
    panel = InspectPanel(transformer.model)
    panel.max_nodes_control.value = 40
    assert panel.max_nodes == 40
    click(panel, panel.graph_button)
    graph = panel.result
    assert isinstance(graph, GraphView) and panel.error == ""
    assert graph.shown <= 40 and graph.collapsed
    # The drawing appears once (plotly); its repr says what was collapsed.
    assert _kinds(panel) == [{"text/plain"}, {"application/vnd.plotly.v1+json", "text/plain"}]
    assert "operators drawn as" in panel.output.outputs[0]["data"]["text/plain"]
    assert "graph = onnxkit.view(model, backend='inline', max_nodes=40)" in panel.to_code()
    if hasattr(onnxkit, "view"):  # once exported, the printed code runs as is
        namespace: dict = {}
        exec(panel.to_code(), namespace)
        assert namespace["graph"] == graph


def test_netron_buttons_start_replace_and_stop_servers(tiny):
    panel = InspectPanel(tiny)
    assert panel.stop_button.disabled
    panel.height_control.value = 450
    click(panel, panel.netron_button)
    first = panel.result
    assert isinstance(first, NetronView) and first.running and panel.netron is first
    shown = panel.output.outputs[0]["data"]["text/html"]
    assert first.height == 450 and "<iframe" in shown
    assert "<b>Stop Netron</b> ends it" in shown and ".stop()" not in shown  # the button, in view
    with urllib.request.urlopen(first.local_url + "data/tiny.onnx", timeout=10) as r:
        assert r.read() == tiny.path.read_bytes()
    assert not panel.stop_button.disabled
    click(panel, panel.netron_button)  # a second view replaces the first
    second = panel.netron
    assert second is not first and second.running and not first.running
    click(panel, panel.stop_button)
    assert not second.running and panel.netron is None and panel.stop_button.disabled
    assert panel.to_code().splitlines()[-4:] == [
        "netron = onnxkit.view(model, height=450)", "netron.stop()",
        "netron = onnxkit.view(model, height=450)", "netron.stop()"]
    click(panel, panel.netron_button)
    running = panel.netron
    panel.close()  # closing the panel stops its server
    assert not running.running


def test_a_broken_file_is_shown_not_raised(tmp_path, caplog):
    panel = InspectPanel(folder=tmp_path)
    broken = tmp_path / "broken.onnx"  # written after the panel listed the folder
    broken.write_bytes(b"\x08\x01garbage")
    panel.source = str(broken)
    assert panel.picker.value == str(broken) and panel.picker.label == "file: broken.onnx"
    with caplog.at_level(logging.ERROR, logger="onnxkit.widgets"):
        click(panel, panel.summarize_button)
    assert panel.error.startswith("InvalidModelError") and panel.status.value == "failed"
    assert panel.result is None and not panel.busy
    with pytest.raises(InvalidModelError):
        panel.run()
    click(panel, panel.netron_button)  # a file Netron cannot open starts no server
    assert panel.error.startswith("InvalidModelError") and panel.netron is None
