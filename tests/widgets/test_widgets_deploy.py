"""DeployPanel: driven from Python, read back through its traitlets and output area."""

from __future__ import annotations

import pytest
from panel_helpers import click, run_code

import onnxkit
from onnxkit import deploy
from onnxkit.errors import ParameterError, WorkspaceError
from onnxkit.widgets import DeployPanel, Panel


def test_bundle_verify_and_code(tiny, tmp_path):
    folder = tmp_path / "bundle"
    panel = DeployPanel(tiny, folder=str(folder))
    assert isinstance(panel, Panel) and "help" in DeployPanel.class_traits()["labels"].metadata
    panel.labels_control.value = "cat, dog , bird"
    result = panel.run()
    assert isinstance(result, deploy.Bundle) and panel.bundled is result is panel.result
    assert result.path == folder and result.manifest["postprocess"]["labels"] == \
        ["cat", "dog", "bird"]
    assert panel.error == "" and "text/html" in panel.output.outputs[0]["data"]
    click(panel, panel.verify_button)
    assert isinstance(panel.result, deploy.BundleCheck) and bool(panel.result)
    code = panel.to_code()
    assert "labels=['cat', 'dog', 'bird']" in code
    assert "check = onnxkit.deploy.verify(" in code and str(folder) in code
    assert "overwrite=True" in code  # the folder holds this bundle now: replaced as pasted
    namespace = run_code(code)
    assert namespace["bundle"].manifest["postprocess"] == result.manifest["postprocess"]
    assert bool(namespace["check"])


def test_default_folder_is_in_the_workspace(tiny):
    panel = DeployPanel(tiny)
    assert panel.folder == str(onnxkit.workspace().root / "bundles" / "tiny")


def test_refusal_is_shown_and_panel_stays_usable(tiny, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    panel = DeployPanel(tiny, folder=str(tmp_path / "mine"))
    click(panel, panel.bundle_button)
    assert panel.error.startswith("WorkspaceError") and "not empty" in panel.error
    assert panel.error in panel.output.outputs[0]["text"] and panel.bundled is None
    assert not panel.busy and not panel.bundle_button.disabled
    panel.overwrite = True  # still not a bundle: never deleted
    with pytest.raises(WorkspaceError, match="not an onnxkit bundle"):
        panel.run()
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    panel.folder_control.value = str(tmp_path / "fresh")
    click(panel, panel.bundle_button)
    assert panel.error == "" and panel.bundled.path == tmp_path / "fresh"
    click(panel, panel.bundle_button)  # overwrite: a previous bundle may be replaced
    assert panel.error == ""


def test_threshold_text_and_bad_labels(tiny, tmp_path):
    panel = DeployPanel(tiny, folder=str(tmp_path / "b"))
    panel.threshold_control.value = "0.5"
    assert panel.threshold == 0.5
    panel.threshold_control.value = "half"
    assert panel.threshold == 0.5 and panel.threshold_control.value == "0.5"
    assert "not a number" in panel.status.value
    panel.threshold_control.value = ""
    assert panel.threshold is None
    panel.labels = "a, b"
    with pytest.raises(ParameterError, match="2 labels but output 'y' has 3 classes"):
        panel.run()
    assert panel.error.startswith("ParameterError")
    panel.verify_button.click()
    assert panel.wait(timeout=60) and "is not a folder" in panel.error


def test_ort_format(tiny):
    panel = DeployPanel(tiny)
    panel.optimization_control.value = "runtime"
    click(panel, panel.ort_button)
    result = panel.result
    assert isinstance(result, deploy.OrtConversion) and bool(result), panel.error
    assert result.path.name.startswith("tiny.runtime") and result.path.suffix == ".ort"
    code = panel.to_code()
    assert code.splitlines()[-1] == \
        "ort_model = onnxkit.deploy.to_ort_format(model, optimization='runtime')"
    assert run_code(code)["ort_model"].path == result.path
