"""ConvertPanel driven from Python: namespace sources, files, code that reproduces it."""

from __future__ import annotations

import numpy as np
import pytest

import onnxkit
from onnxkit.widgets._convert import ConvertPanel, framework_of

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def namespace():
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    torch.manual_seed(0)
    x, y = load_iris(return_X_y=True)
    return {"net": torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU()),
            "clf": LogisticRegression(max_iter=500).fit(x, y), "rows": x[:10],
            "numbers": [1, 2, 3], "_hidden": torch.nn.Linear(1, 1)}


def test_finds_convertible_objects(namespace):
    panel = ConvertPanel(namespace)
    assert panel.candidates == ["clf", "net"]
    assert framework_of(namespace["rows"]) is None


def test_torch_from_shapes_and_code_that_runs(namespace):
    panel = ConvertPanel(namespace)
    panel.source, panel.inputs = "net", "2,4"
    conversion = panel.run()
    assert conversion and conversion.exporter in ("dynamo", "torchscript")
    assert onnxkit.summarize(conversion.model).inputs[0].shape[0] == "batch"
    code = panel.to_code()
    assert "onnxkit.convert.from_torch(" in code and "dynamic_batch=True" in code
    scope = dict(namespace)
    exec(code, scope)
    assert scope["conversion"] and scope["conversion"].model.path == conversion.model.path


def test_sklearn_with_a_variable_as_inputs(namespace):
    panel = ConvertPanel(namespace)
    panel.source, panel.inputs = "clf", "rows"
    conversion = panel.run()
    assert conversion and conversion.exporter == "skl2onnx"
    assert "from_sklearn(clf, rows)" in panel.to_code()


def test_torch_options_reach_the_kernel(namespace):
    panel = ConvertPanel(namespace)
    panel.source, panel.inputs, panel.exporter = "net", "3,4", "torchscript"
    panel.dynamic_batch, panel.opset = False, 17
    conversion = panel.run()
    params = conversion.model.lineage[-1].params
    assert params["exporter"] == "torchscript" and params["opset"] == 17
    assert params["dynamic_batch"] is False


def test_errors_are_shown_not_raised_from_the_button(namespace):
    panel = ConvertPanel(namespace)
    panel.source, panel.inputs = "numbers", "2,4"
    panel.convert_button.click()
    assert panel.wait(timeout=60)
    assert "not a torch module" in panel.error
    assert not panel.busy and not panel.convert_button.disabled
    panel.source, panel.inputs = "net", ""
    with pytest.raises(onnxkit.errors.ParameterError, match="needs example inputs"):
        panel.run()
    panel.dynamic_axes = "nonsense"
    panel.inputs = "2,4"
    with pytest.raises(onnxkit.errors.ParameterError, match="input:axis=name"):
        panel.run()


def test_file_source(tmp_path):
    script = tmp_path / "model.py"
    script.write_text("import torch\nnet = torch.nn.Linear(3, 2)\n")
    panel = ConvertPanel({})
    panel.source, panel.inputs = f"{script}:net", "1,3"
    assert panel.run()
    assert "load_source(" in panel.to_code()
    assert np.asarray(panel.candidates).size == 0
