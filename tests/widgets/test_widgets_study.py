"""StudyPanel: driven from Python, read back through its traitlets and output area."""

from __future__ import annotations

import numpy as np
import pytest
from graphs import make_model, save
from onnx import TensorProto, helper, numpy_helper
from panel_helpers import click, run_code

import onnxkit
from onnxkit.errors import ParameterError
from onnxkit.widgets import Panel, StudyPanel
from onnxkit.widgets._study import variant_name

FAST = {"rounds": 1, "max_rounds": 1, "runs": 5}


@pytest.fixture(scope="module")
def labelled(tiny):
    """16 rows for tiny and, as labels, the reference's own classes (accuracy 1.0)."""
    data = onnxkit.random_inputs(tiny, batch=16, seed=1)["x"]
    return data, onnxkit.run(tiny, {"x": data})["y"].argmax(1)


@pytest.fixture(scope="module")
def other(tmp_path_factory):
    """Another model with tiny's signature (x: [batch, 4] -> y: [batch, 3]) that disagrees."""
    w = numpy_helper.from_array(np.random.default_rng(5).standard_normal((4, 3))
                                .astype(np.float32), "w")
    F = TensorProto.FLOAT
    proto = make_model([helper.make_node("Gemm", ["x", "w"], ["y"])], [("x", F, ["batch", 4])],
                       [("y", F, ["batch", 3])], [w])
    return onnxkit.load(save(proto, tmp_path_factory.mktemp("other") / "other.onnx"))


def _panel(model, **kwargs):
    panel = StudyPanel(model, **kwargs)
    panel.rounds, panel.max_rounds, panel.runs = FAST["rounds"], FAST["max_rounds"], FAST["runs"]
    return panel


def test_auto_builds_measures_and_prints_its_code(tiny, labelled):
    data, labels = labelled
    panel = _panel(tiny, data=data, labels=labels)
    assert isinstance(panel, Panel) and "help" in StudyPanel.class_traits()["runs"].metadata
    panel.recipes_control.value = ["ort-basic", "int8-dynamic"]
    assert panel.recipes == ["ort-basic", "int8-dynamic"] and panel.best_button.disabled
    study = panel.run()
    assert isinstance(study, onnxkit.Study) and panel.study is study is panel.result
    assert study.names == ["reference", "ort-basic", "int8-dynamic"]
    assert study.score_name == "accuracy" and study["reference"].score == 1.0
    assert panel.progress.value == panel.progress.max == 3  # two recipes, then measuring
    kinds = [set(o["data"]) for o in panel.output.outputs]
    assert "text/html" in kinds[0] and "application/vnd.plotly.v1+json" in kinds[1]
    assert not panel.best_button.disabled
    code = panel.to_code()
    assert "study = onnxkit.Study.auto(" in code and "labels=labels" in code
    again = run_code(code)["study"]
    assert again.names == study.names and again.settings == study.settings


def test_add_makes_the_study_then_best_under_a_limit(tiny, labelled, other):
    data, labels = labelled
    panel = _panel(tiny, data=data, labels=labels)
    fast = onnxkit.optimize(tiny, level="basic")
    panel.source = str(other.path)
    click(panel, panel.add_button)
    assert panel.error == "" and panel.study.names == ["reference", "other"]
    assert panel.study["other"].score < 0.9  # the limit below excludes it
    panel.source_control.value, panel.name_control.value = str(fast.path), "basic"
    click(panel, panel.add_button)
    assert panel.study.names == ["reference", "other", "basic"]

    panel.max_accuracy_drop = 0.0
    panel.by = "size_mb"
    click(panel, panel.best_button)
    assert panel.error == "" and panel.best.name == "basic" == panel.result.name
    code = panel.to_code()
    assert code.splitlines()[-1] == "best = study.best(max_accuracy_drop=0.0, by='size_mb')"
    namespace = run_code(code)
    assert namespace["study"].names == panel.study.names
    assert namespace["best"].name == "basic"


def test_best_keeping_the_reference_is_shown_and_panel_stays_usable(tiny, labelled, other):
    data, labels = labelled
    panel = _panel(tiny, data=data, labels=labels)
    panel.source = str(other.path)
    click(panel, panel.add_button)
    panel.max_accuracy_drop = 0.0
    click(panel, panel.best_button)
    assert panel.error == "" and panel.best.keeps_reference  # 'other' loses accuracy
    assert "no variant meets every limit" in panel.best.why
    assert "keep the reference" in panel.output.outputs[0]["data"]["text/plain"]
    assert not panel.busy and not panel.best_button.disabled
    panel.max_accuracy_drop, panel.by = 1.0, "size_mb"
    click(panel, panel.best_button)
    assert panel.error == "" and panel.best.name == "other"  # 12 weights against 67


def test_offer_adds_in_the_background_once(tiny):
    panel = _panel(tiny)
    assert panel.drop_control.disabled and "random inputs" in panel.hint.value
    fast = onnxkit.optimize(tiny, level="basic")
    panel.offer(fast)
    panel.offer(onnxkit.load(fast.path))  # the same file: not added twice
    panel.offer(tiny)  # the reference itself
    assert panel.wait(timeout=120)
    assert panel.error == "" and panel.study.names == ["reference", "opt-basic"]
    assert variant_name(fast, tiny) == "opt-basic"
    click(panel, panel.best_button)  # no labels: no accuracy limit
    # one timing round cannot tell a speedup from noise: the reference is kept, and why
    assert panel.best.keeps_reference and "beyond the noise" in panel.best.why
    assert "best = study.best()" in panel.to_code()


def test_bad_source_is_shown(tiny, tmp_path):
    panel = _panel(tiny)
    assert panel.add_button.disabled
    panel.source = str(tmp_path / "missing.onnx")
    click(panel, panel.add_button)
    assert panel.error and "missing.onnx" in panel.error and panel.study is None
    assert not panel.busy and not panel.add_button.disabled


def test_labels_need_data(tiny):
    with pytest.raises(ParameterError, match="data=None"):
        StudyPanel(tiny, labels=np.zeros(4))
