"""ComposePanel: a pipeline grown step by step from Python, read back through its traitlets,
its graph view and its code; and its tab in the Workbench."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from panel_helpers import click, run_code

import onnxkit
from onnxkit.errors import ParameterError
from onnxkit.widgets import ComposePanel, Panel, Workbench


def test_steps_grow_the_graph_and_the_code_does_it_again(digits):
    panel = ComposePanel(digits.model)
    assert isinstance(panel, Panel) and "help" in ComposePanel.class_traits()["step"].metadata
    assert "image: float32[batch, 1, 8, 8]" in panel.graph_view.value
    panel.step_control.value = "image"
    panel.controls["resize"].value = "8, 8"
    raw = panel.run()
    assert [str(t) for t in onnxkit.summarize(raw).inputs] == ["image: uint8[height, width, 1]"]
    panel.step, panel.softmax, panel.top_k = "postprocess", True, 2
    panel.labels = ", ".join(str(d) for d in range(10))
    post = panel.run()
    assert panel.current is post is panel.made is panel.result
    assert [s.op for s in post.lineage[-2:]] == ["with_preprocessing", "with_postprocessing"]
    assert panel.history == ["preprocess: image: verified", "postprocess: verified"]
    view = panel.graph_view.value
    assert "uint8[height, width, 1]" in view and "label: string[batch]" in view
    image = (digits.inputs["image"][0, 0] * 16).astype(np.uint8)[:, :, None]
    out = onnxkit.run(post, {"image": image})
    assert out["label"][0] == str(out["class"][0]) and out["top_labels"].shape == (1, 2)
    code = panel.to_code()
    assert "onnxkit.compose.ImagePrep(resize=(8, 8))" in code
    assert run_code(code)["composed"].path == post.path  # the same file: the same steps


def test_undo_goes_back_one_step(tiny):
    panel = ComposePanel(tiny)
    assert panel.undo_button.disabled  # nothing to undo yet
    panel.softmax = True
    first = panel.run()
    panel.labels = "a, b, c"
    panel.run()
    click(panel, panel.undo_button)
    assert panel.current is first and len(panel.history) == 1 and panel.error == ""
    assert "labels" not in panel.to_code().splitlines()[-1]


def test_ensemble_and_chain_with_another_model(tiny):
    fp16 = onnxkit.to_fp16(tiny, keep_io_types=True)
    panel = ComposePanel(tiny, others=[tiny, fp16])
    assert panel.controls["partner"].options == (str(fp16.path),)  # not the graph itself
    panel.step, panel.partner, panel.how = "ensemble", str(fp16.path), "vote"
    voted = panel.run()
    assert [o.name for o in onnxkit.summarize(voted).outputs] == ["votes", "class"]
    assert run_code(panel.to_code())["composed"].path == voted.path
    first, second = onnxkit.compose.split(tiny, at=["a"])
    chained = ComposePanel(first, others=[second])
    chained.step, chained.partner, chained.io_map = "chain", str(second.path), "a:a"
    whole = chained.run()
    feeds = onnxkit.random_inputs(tiny, batch=2)
    np.testing.assert_allclose(onnxkit.run(whole, feeds)["y"], onnxkit.run(tiny, feeds)["y"],
                               rtol=1e-5, atol=1e-6)
    assert run_code(chained.to_code())["composed"].path == whole.path


def test_split_shows_its_stages_and_offers_cut_points(tiny):
    panel = ComposePanel(tiny)
    panel.step = "split"
    assert panel.controls["at"].placeholder == "h, a"  # from compose.cut_points
    panel.at = "a"
    stages = panel.run()
    assert list(stages) == ["stage 1", "stage 2"] and tuple(stages.values()) == panel.stages
    assert panel.made is panel.stages[0] and panel.current == tiny
    assert "stage 2" in panel.graph_view.value
    assert panel.to_code().splitlines()[-1] == "stages = onnxkit.compose.split(composed, at=['a'])"


def test_bad_settings_are_shown_by_name(tiny):
    panel = ComposePanel(tiny)
    panel.step, panel.at = "split", ""
    with pytest.raises(ParameterError, match="split at"):
        panel.run()
    panel.step, panel.resize = "image", "eight"
    click(panel, panel.add_button)
    assert "resize" in panel.error and panel.status.value == "failed"
    panel.step = "text"  # no tokenizer given
    assert panel.add_button.disabled and "tokenizer" in panel.needs.value


@pytest.fixture(scope="module")
def wordpiece(tmp_path_factory):
    """A WordPiece tokenizer trained here on Python's json sources (offline)."""
    tokenizers = pytest.importorskip("tokenizers")
    transformers = pytest.importorskip("transformers")
    folder = tmp_path_factory.mktemp("wordpiece")
    source = Path(json.__file__).read_text(encoding="utf-8").splitlines()
    trainer = tokenizers.BertWordPieceTokenizer(lowercase=True)
    trainer.train_from_iterator(source, vocab_size=300, min_frequency=2, limit_alphabet=100)
    trainer.save_model(str(folder))
    return transformers.BertTokenizer(vocab=str(folder / "vocab.txt"), model_max_length=64)


def test_text_step_with_a_tokenizer(transformer, wordpiece):
    pytest.importorskip("onnxruntime_extensions")
    panel = ComposePanel(transformer.model, tokenizer=wordpiece)
    panel.step = "text"
    model = panel.run()
    assert [str(t) for t in onnxkit.summarize(model).inputs] == ["text: string[1]"]
    code = panel.to_code()
    assert code.startswith("import transformers") and "BertTokenizer.from_pretrained" in code
    again = run_code(code)["composed"]  # the tokenizer read back from the workspace
    for text in ("json decodes a string", "", "Ünïcödé"):
        feed = {"text": np.array([text], object)}
        np.testing.assert_array_equal(onnxkit.run(again, feed)["logits"],
                                      onnxkit.run(model, feed)["logits"])


def test_the_workbench_tab_takes_the_composed_model(tiny):
    bench = Workbench(tiny, namespace={})
    compose = bench.panels["compose"]
    assert isinstance(compose, ComposePanel) and compose.others == [tiny]
    compose.softmax = True
    made = compose.run()
    assert made in bench.models and "with_postprocessing" in bench.to_code()
    assert compose.others == bench.models  # offered to chain and ensemble with
    bench.close()


def test_a_detector_gets_letterboxing_and_nms():
    detector = onnxkit.samples.detector()  # cached after its first build (tests/compose)
    panel = ComposePanel(detector.model)
    panel.step, panel.letterbox, panel.layout = "image", "64, 64", "nhwc"
    panel.run()
    panel.step, panel.nms, panel.score, panel.max_detections = "postprocess", True, 0.3, 10
    panel.labels = ", ".join(detector.classes)
    assert panel.controls["softmax"].disabled  # NMS has its own score threshold
    model = panel.run()
    assert panel.history == ["preprocess: image: verified", "postprocess: verified"]
    out = onnxkit.run(model, {"image": detector.images[:2]})
    assert out["boxes"].shape == (2, 10, 4) and set(out["labels"][0, :out["count"][0]]) <= \
        set(detector.classes)
    assert "NMS(iou=0.5, score=0.3, max_detections=10)" in panel.to_code()
    assert run_code(panel.to_code())["composed"].path == model.path
