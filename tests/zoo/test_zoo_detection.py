"""The zoo's detectors: transformers' DETR and YOLOS (tiny configs, random weights, built here)
through convert -> check -> NMS in the graph (compose.with_postprocessing), each stage's outcome
in the zoo's table. Their heads give boxes as (cx, cy, w, h) in 0..1 and class logits with a
"no object" class last: the wrapper scales the boxes to pixels and drops that class, as the
transformers post-processor does, so the graph ends in what NMS takes."""

from __future__ import annotations

import numpy as np
import pytest
from zoo_table import record

import onnxkit
from onnxkit.compose import NMS, with_postprocessing

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

SIZE, QUERIES, CLASSES = 64, 10, ("square", "circle", "triangle")


def _yolos():
    config = transformers.YolosConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        image_size=[SIZE, SIZE], patch_size=16, num_detection_tokens=QUERIES,
        num_labels=len(CLASSES))
    return transformers.YolosForObjectDetection(config)


def _detr():
    backbone = transformers.ResNetConfig(num_channels=3, embedding_size=8, hidden_sizes=[8, 16],
                                         depths=[1, 1], layer_type="basic",
                                         out_features=["stage2"])
    config = transformers.DetrConfig(
        use_timm_backbone=False, backbone_config=backbone, use_pretrained_backbone=False,
        d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64,
        num_queries=QUERIES, num_labels=len(CLASSES))
    return transformers.DetrForObjectDetection(config)


class Boxes(torch.nn.Module):
    """A DETR-family detector's outputs as NMS takes them: ``boxes`` (cx, cy, w, h in
    pixels) and ``scores`` (class probabilities without "no object")."""

    def __init__(self, net):
        super().__init__()
        self.net = net.eval()

    def forward(self, pixel_values):
        out = self.net(pixel_values=pixel_values)
        return out.pred_boxes * SIZE, out.logits.softmax(-1)[..., :-1]


@pytest.mark.parametrize("name, build", [("detr", _detr), ("yolos", _yolos)])
def test_detector_converts_and_takes_nms_in_its_graph(name, build):
    torch.manual_seed(0)
    module = Boxes(build())
    example = (torch.rand(2, 3, SIZE, SIZE),)
    # TorchScript: 2-3 s each here, dynamo 9-18 s (both convert and verify; the zoo's other
    # models run both exporters, these are here for what follows the conversion)
    conversion = onnxkit.convert.from_torch(module, example, exporter="torchscript",
                                            input_names=["pixel_values"],
                                            output_names=["boxes", "scores"],
                                            dynamic_batch=True)
    assert conversion, repr(conversion)
    record(name, "convert", f"ok {conversion.exporter} [2x3x{SIZE}x{SIZE}]")
    report = onnxkit.check(conversion.model)
    assert report, repr(report)
    record(name, "check", "ok")
    feeds = {"pixel_values": np.random.default_rng(0).random((4, 3, SIZE, SIZE), np.float32)}
    # random weights score every class near 1/4: a low threshold keeps several boxes to suppress
    nms = NMS(iou=0.5, score=0.2, max_detections=5, box_format="cxcywh")
    model = with_postprocessing(conversion.model, nms=nms, labels=list(CLASSES), feeds=feeds)
    check = model.lineage[-1].details["verification"]
    assert check["passed"] and check["detections"] > 0, check  # the numpy NMS agrees
    out = onnxkit.run(model, feeds)
    assert out["boxes"].shape == (4, 5, 4) and (out["count"] <= 5).all()
    for b, n in enumerate(out["count"]):
        boxes = out["boxes"][b, :n]
        assert (boxes[:, 2:] >= boxes[:, :2]).all()  # corners now, x1 <= x2 and y1 <= y2
        assert set(out["labels"][b, :n]) <= set(CLASSES)
    record(name, "nms", f"ok ({check['detections']} detections, numpy NMS equal)")
