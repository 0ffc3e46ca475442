"""``NMS``: a detector's boxes and class scores to fixed outputs (boxes, scores, classes,
count) with ONNX's NonMaxSuppression in the graph, and the same in numpy as its reference."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from onnx import TensorProto, helper

from onnxkit.compose._graph import Builder
from onnxkit.errors import ParameterError

BoxFormat = Literal["xyxy", "cxcywh"]
RAW_BOXES, RAW_SCORES, LETTERBOX = "raw_boxes", "raw_scores", "raw_letterbox"


@dataclass(frozen=True)
class NMS:
    """Non-maximum suppression over a detector's outputs ``boxes: [batch, anchors, 4]`` and
    ``scores: [batch, anchors, classes]`` (their names: ``boxes=``, ``scores=``).

    Per image (and per class unless ``class_agnostic``), boxes scoring above ``score`` are
    kept greedily by score while their IoU with a kept one is at most ``iou``; the best
    ``max_detections`` of the image come out, padded: ``boxes: float32[batch, max, 4]``
    (x1, y1, x2, y2), ``scores: [batch, max]``, ``classes: int64[batch, max]`` (-1 where
    padded), ``count: int64[batch]``. A letterboxed model's boxes are mapped back onto the
    original image (and clipped to it) first.

    Examples:
        >>> nms = NMS(iou=0.45, score=0.3, max_detections=10)
        >>> found = nms.reference(np.array([[[0, 0, 10, 10], [1, 1, 10, 10]]], np.float32),
        ...                       np.array([[[0.9], [0.8]]], np.float32))
        >>> found["count"], found["scores"][0, :2]
        (array([1]), array([0.9, 0. ], dtype=float32))
    """

    iou: float = 0.5
    score: float = 0.25
    max_detections: int = 100
    class_agnostic: bool = False
    boxes: str = "boxes"
    scores: str = "scores"
    box_format: BoxFormat = "xyxy"

    def __post_init__(self) -> None:
        if not 0 <= self.iou <= 1:
            raise ParameterError(f"NMS(iou=...) must be within 0..1; got {self.iou!r}.")
        if not isinstance(self.max_detections, int) or self.max_detections < 1:
            raise ParameterError("NMS(max_detections=...) must be a positive int; got "
                                 f"{self.max_detections!r}.")
        if self.box_format not in ("xyxy", "cxcywh"):
            raise ParameterError("NMS(box_format=...) must be 'xyxy' or 'cxcywh'; got "
                                 f"{self.box_format!r}.")

    # --- the reference ----------------------------------------------------------------------

    def reference(self, boxes: np.ndarray, scores: np.ndarray,
                  letterbox: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """What the graph computes, in numpy: greedy NMS image by image."""
        boxes = _xyxy(np.asarray(boxes, np.float32), self.box_format)
        if letterbox is not None:
            boxes = _unletterboxed(boxes, letterbox)
        n, m = len(boxes), self.max_detections
        out = {"boxes": np.zeros((n, m, 4), np.float32), "scores": np.zeros((n, m), np.float32),
               "classes": np.full((n, m), -1, np.int64), "count": np.zeros(n, np.int64)}
        for b in range(n):
            kept = self._one(boxes[b], np.asarray(scores[b], np.float32))[:m]
            out["count"][b] = len(kept)
            for j, (s, c, i) in enumerate(kept):
                out["boxes"][b, j], out["scores"][b, j], out["classes"][b, j] = boxes[b, i], s, c
        return out

    def _one(self, boxes: np.ndarray, scores: np.ndarray) -> list[tuple[float, int, int]]:
        if self.class_agnostic:
            per_class = [(scores.max(axis=1), scores.argmax(axis=1))]
        else:
            per_class = [(scores[:, c], np.full(len(scores), c)) for c in range(scores.shape[1])]
        found: list[tuple[float, int, int]] = []
        for s, cls in per_class:
            order = [i for i in np.argsort(-s, kind="stable") if s[i] > self.score]
            kept: list[int] = []
            for i in order:
                if len(kept) == self.max_detections:
                    break
                if all(_iou(boxes[i], boxes[k]) <= self.iou for k in kept):
                    kept.append(i)
            found += [(float(s[i]), int(cls[i]), int(i)) for i in kept]
        return sorted(found, key=lambda t: -t[0])


def _xyxy(boxes: np.ndarray, fmt: str) -> np.ndarray:
    if fmt == "xyxy":
        return boxes
    centre, half = boxes[..., :2], boxes[..., 2:] / 2
    return np.concatenate([centre - half, centre + half], axis=-1)


def _unletterboxed(boxes: np.ndarray, row: np.ndarray) -> np.ndarray:
    sy, sx, top, left, height, width = (np.float32(v) for v in row)
    out = (boxes - np.array([left, top, left, top], np.float32)) / np.array([sx, sy, sx, sy],
                                                                             np.float32)
    return np.minimum(np.maximum(out, 0), np.array([width, height, width, height], np.float32))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two corner boxes, corners in either order (as ONNX Runtime reads them)."""
    a = np.array([min(a[0], a[2]), min(a[1], a[3]), max(a[0], a[2]), max(a[1], a[3])])
    b = np.array([min(b[0], b[2]), min(b[1], b[3]), max(b[0], b[2]), max(b[1], b[3])])
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


# --- the graph ------------------------------------------------------------------------------

def nms_graph(b: Builder, nms: NMS, *, letterbox: bool, labels: list[str] | None
              ) -> tuple[list, list]:
    """NMS nodes from ``raw_boxes``/``raw_scores`` (and ``raw_letterbox``) into ``b``; the
    graph's inputs and outputs."""
    boxes, scores = RAW_BOXES, RAW_SCORES
    if nms.box_format == "cxcywh":
        centre = b.node("Slice", [boxes, b.const([0]), b.const([2]), b.const([2])])
        half = b.node("Div", [b.node("Slice", [boxes, b.const([2]), b.const([4]),
                                               b.const([2])]), b.const(np.float32(2))])
        boxes = b.node("Concat", [b.node("Sub", [centre, half]), b.node("Add", [centre, half])],
                       axis=2)
    if letterbox:
        pick = lambda idx: b.node("Gather", [LETTERBOX, b.const(idx)], axis=0)  # noqa: E731
        boxes = b.node("Div", [b.node("Sub", [boxes, pick([3, 2, 3, 2])]), pick([1, 0, 1, 0])])
        boxes = b.node("Min", [b.node("Max", [boxes, b.const(np.float32(0))]),
                               pick([5, 4, 5, 4])])
    by_class = b.node("Transpose", [scores], perm=[0, 2, 1])  # [batch, classes, anchors]
    if nms.class_agnostic:
        cls_of = b.node("ArgMax", [scores], axis=2, keepdims=0)  # [batch, anchors]
        by_class = b.node("ReduceMax", [by_class, b.const([1])], keepdims=1)
    sel = b.node("NonMaxSuppression", [boxes, by_class, b.const([nms.max_detections]),
                                       b.const(np.array([nms.iou], np.float32)),
                                       b.const(np.array([nms.score], np.float32))])
    col = lambda i: b.node("Gather", [sel, b.const(i)], axis=1)  # noqa: E731
    image_anchor = col([0, 2])
    score = b.node("GatherND", [by_class, sel])  # [selected]
    cls = b.node("GatherND", [cls_of, image_anchor]) if nms.class_agnostic else \
        b.node("Squeeze", [col([1]), b.const([1])])
    box = b.node("GatherND", [boxes, image_anchor])  # [selected, 4]
    # Rank each image's selections by score: a [batch, selected] table, -inf off the image.
    images = b.node("Slice", [b.node("Shape", [scores]), b.const([0]), b.const([1])])
    rows = b.node("Unsqueeze", [b.node("Range", [b.const(0), b.node("Squeeze", [images]),
                                                 b.const(1)]), b.const([1])])
    mine = b.node("Equal", [b.node("Unsqueeze", [b.node("Squeeze", [col([0]), b.const([1])]),
                                                 b.const([0])]), rows])
    table = b.node("Where", [mine, b.node("Unsqueeze", [score, b.const([0])]),
                             b.const(np.float32(-np.inf))])
    found = b.node("Slice", [b.node("Shape", [sel]), b.const([0]), b.const([1])])
    k = b.node("Min", [found, b.const([nms.max_detections])])
    best = helper.make_node("TopK", [table, k], ["top_values", "top_index"], axis=1)
    b.nodes.append(best)
    valid = b.node("Not", [b.node("IsInf", ["top_values"], detect_positive=0)])
    pad = b.node("Concat", [b.const([0]), b.node("Sub", [b.const([nms.max_detections]), k])],
                 axis=0)

    def padded(x: str, fill: object, out: str, extra: bool = False) -> str:
        keep = b.node("Unsqueeze", [valid, b.const([2])]) if extra else valid
        x = b.node("Where", [keep, x, b.const(fill)])
        return b.node("Pad", [x, pad, b.const(fill), b.const([1])], out=out)

    padded(b.node("Gather", [box, "top_index"], axis=0), np.float32(0), "boxes", extra=True)
    padded("top_values", np.float32(0), "scores")
    classes = padded(b.node("Gather", [cls, "top_index"], axis=0), np.int64(-1), "classes")
    b.node("ReduceSum", [b.node("Cast", [valid], to=TensorProto.INT64), b.const([1])],
           out="count", keepdims=0)
    inputs = [helper.make_tensor_value_info(RAW_BOXES, TensorProto.FLOAT, ["batch", "anchors", 4]),
              helper.make_tensor_value_info(RAW_SCORES, TensorProto.FLOAT,
                                            ["batch", "anchors", "classes"])]
    if letterbox:
        inputs.append(helper.make_tensor_value_info(LETTERBOX, TensorProto.FLOAT, [6]))
    m = nms.max_detections
    outputs = [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, ["batch", m, 4]),
               helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", m]),
               helper.make_tensor_value_info("classes", TensorProto.INT64, ["batch", m]),
               helper.make_tensor_value_info("count", TensorProto.INT64, ["batch"])]
    if labels is not None:
        names = b.const(np.array(list(labels) + [""], dtype=object))  # -1 reads the blank
        b.node("Gather", [names, classes], out="labels", axis=0)
        outputs.append(helper.make_tensor_value_info("labels", TensorProto.STRING,
                                                     ["batch", m]))
    return inputs, outputs
