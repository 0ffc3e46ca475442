"""Post-processing in the graph — softmax, top-k, labels, thresholds and NMS — equal to the
same steps in numpy, with fixed detection outputs."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

import onnxkit
from onnxkit.compose import NMS, with_postprocessing
from onnxkit.errors import ParameterError

LABELS = ["cat", "dog", "bird"]


def _fake_detector(anchors: int = 60, classes: int = 3, letterbox: bool = False
                   ) -> onnxkit.Model:
    """Boxes and scores straight from its inputs: NMS sees every case the feeds make."""
    f = TensorProto.FLOAT
    nodes = [helper.make_node("Identity", ["b"], ["boxes"]),
             helper.make_node("Sigmoid", ["s"], ["scores"])]
    ins = [helper.make_tensor_value_info("b", f, ["batch", anchors, 4]),
           helper.make_tensor_value_info("s", f, ["batch", anchors, classes])]
    outs = [helper.make_tensor_value_info("boxes", f, ["batch", anchors, 4]),
            helper.make_tensor_value_info("scores", f, ["batch", anchors, classes])]
    if letterbox:
        nodes.append(helper.make_node("Identity", ["l"], ["letterbox"]))
        ins.append(helper.make_tensor_value_info("l", f, [6]))
        outs.append(helper.make_tensor_value_info("letterbox", f, [6]))
    graph = helper.make_graph(nodes, "fake_detector", ins, outs)
    return onnxkit.load(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                                          ir_version=8))


def _feeds(batch: int = 3, anchors: int = 60, classes: int = 3, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 40, (batch, anchors, 2))
    wh = rng.uniform(4, 24, (batch, anchors, 2))
    return {"b": np.concatenate([xy, xy + wh], -1).astype(np.float32),
            "s": rng.normal(-0.5, 1.5, (batch, anchors, classes)).astype(np.float32)}


@pytest.mark.parametrize("options", [
    {"softmax": True, "top_k": 2, "labels": LABELS},
    {"softmax": True, "threshold": 0.6, "labels": LABELS},
    {"top_k": 3},
    {},
])
def test_classifier_outputs_equal_numpy(tiny, options):
    model = with_postprocessing(tiny, **options)
    check = model.lineage[-1].details["verification"]
    assert check["passed"] and all(check["equal"].values()), check
    out = onnxkit.run(model, {"x": np.random.default_rng(1).standard_normal((5, 4))
                              .astype(np.float32)})
    if "labels" in options:
        assert set(out["label"]) <= set(LABELS) | {""}


def test_binary_threshold_moves_the_decision(pipeline):
    """Two classes: class 1 once its probability reaches the threshold."""
    x = pipeline.inputs["features"]
    low = with_postprocessing(pipeline.model, output="probabilities", threshold=0.1,
                              labels=["malignant", "benign"], feeds={"features": x})
    high = with_postprocessing(pipeline.model, output="probabilities", threshold=0.9,
                               feeds={"features": x})
    p = onnxkit.run(pipeline.model, {"features": x})["probabilities"][:, 1]
    assert onnxkit.run(low, {"features": x})["class"].tolist() == (p >= 0.1).astype(int).tolist()
    assert onnxkit.run(high, {"features": x})["class"].sum() < \
        onnxkit.run(low, {"features": x})["class"].sum()
    assert "label" in onnxkit.run(low, {"features": x})


@pytest.mark.parametrize("nms", [
    NMS(iou=0.5, score=0.3, max_detections=20),
    NMS(iou=0.3, score=0.5, max_detections=50, class_agnostic=True),
    NMS(iou=0.6, score=0.2, max_detections=8, box_format="cxcywh"),
    NMS(score=0.9999, max_detections=5),  # nothing passes: all padding
], ids=["per-class", "agnostic", "cxcywh", "none"])
def test_nms_equals_the_numpy_reference(nms):
    feeds = _feeds()
    model = with_postprocessing(_fake_detector(), nms=nms, labels=LABELS, feeds=feeds)
    check = model.lineage[-1].details["verification"]
    assert check["passed"], check
    out = onnxkit.run(model, feeds)
    m = nms.max_detections
    assert out["boxes"].shape == (3, m, 4) and out["classes"].shape == (3, m)
    for b, n in enumerate(out["count"]):
        assert (out["classes"][b, n:] == -1).all() and (out["labels"][b, n:] == "").all()
        assert (np.diff(out["scores"][b, :n]) <= 0).all()  # best first


def test_some_images_fill_up_and_others_do_not():
    feeds = _feeds(batch=2)
    feeds["s"][1] = -10.0  # the second image: nothing above the threshold
    model = with_postprocessing(_fake_detector(), nms=NMS(score=0.3, max_detections=10),
                                feeds=feeds)
    assert onnxkit.run(model, feeds)["count"].tolist() == [10, 0]


def test_letterboxed_boxes_come_back_onto_the_image():
    feeds = {**_feeds(batch=1), "l": np.array([0.5, 0.5, 8, 0, 30, 60], np.float32)}
    model = with_postprocessing(_fake_detector(letterbox=True), nms=NMS(score=0.2),
                                feeds=feeds)
    assert model.lineage[-1].details["verification"]["passed"]
    out = onnxkit.run(model, feeds)
    n = out["count"][0]
    boxes = out["boxes"][0, :n]
    assert (boxes >= 0).all() and (boxes[:, [0, 2]] <= 60).all() and (boxes[:, [1, 3]] <= 30).all()
    assert "letterbox" not in out  # consumed by NMS


def test_wrong_outputs_and_options_are_refused(tiny):
    with pytest.raises(ParameterError, match="labels"):
        with_postprocessing(tiny, labels=["a", "b"])
    with pytest.raises(ParameterError, match="top_k"):
        with_postprocessing(tiny, top_k=4)
    with pytest.raises(ParameterError, match="no output 'boxes'"):
        with_postprocessing(tiny, nms=NMS())
    with pytest.raises(ParameterError, match="classifiers"):
        with_postprocessing(_fake_detector(), nms=NMS(), softmax=True)
    with pytest.raises(ParameterError, match="iou"):
        NMS(iou=1.5)
