"""Detection quality: mean average precision at an IoU threshold (PASCAL VOC's all-point
form), from a model with NMS in its graph, and a plot of boxes over an image."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from onnxkit.errors import InputError, ParameterError
from onnxkit.models import ModelLike, load
from onnxkit.results import Result, html_table
from onnxkit.runtime import run

Truth = tuple[np.ndarray, np.ndarray]  # (boxes [k, 4] x1 y1 x2 y2, classes [k])


@dataclass(frozen=True)
class DetectionScore(Result):
    """Average precision per class at ``iou`` and their mean (``map``), over ``images``."""

    model: str | None
    iou: float
    map: float
    per_class: dict[str, float]
    images: int
    objects: int
    detections: int

    def _rows(self) -> list[dict[str, Any]]:
        return [{"class": k, "AP": v} for k, v in self.per_class.items()]

    def __repr__(self) -> str:
        classes = ", ".join(f"{k} {v:.3f}" for k, v in self.per_class.items())
        return (f"DetectionScore of '{self.model}': mAP@{self.iou:g} {self.map:.3f} over "
                f"{self.images} images ({self.objects} objects, {self.detections} "
                f"detections); AP: {classes}")

    def _repr_html_(self) -> str:
        rows = [(f"AP {k}", f"{v:.3f}") for k, v in self.per_class.items()]
        return html_table((f"mAP@{self.iou:g}", f"{self.map:.3f}"),
                          [("images", self.images), ("objects", self.objects), *rows])


def mean_average_precision(detections: dict[str, np.ndarray], truths: Sequence[Truth], *,
                           iou: float = 0.5, classes: Sequence[str] | None = None,
                           model: str | None = None) -> DetectionScore:
    """mAP@``iou`` of ``detections`` (a model's NMS outputs: ``boxes``, ``scores``,
    ``classes``, ``count``, one row per image) against ``truths`` (per image: boxes and
    classes). A detection is right when it overlaps an unmatched true box of its class by
    more than ``iou``, matched best score first; AP is the area under the interpolated
    precision-recall curve; classes with no objects are left out of the mean.

    Examples:
        >>> import numpy as np
        >>> truth = [(np.array([[0, 0, 10, 10]], np.float32), np.array([0]))]
        >>> found = {"boxes": np.array([[[0, 0, 10, 11], [20, 20, 30, 30]]], np.float32),
        ...          "scores": np.array([[0.9, 0.8]], np.float32),
        ...          "classes": np.array([[0, 0]]), "count": np.array([2])}
        >>> mean_average_precision(found, truth).map
        1.0
    """
    if not 0 < iou < 1:
        raise ParameterError(f"mean_average_precision(iou=...) must be within 0..1; got {iou}.")
    count = np.asarray(detections["count"])
    if len(count) != len(truths):
        raise InputError(f"mean_average_precision: detections for {len(count)} images but "
                         f"truths for {len(truths)}; give one truth per image.")
    found: dict[int, list[tuple[float, bool]]] = {}
    objects: dict[int, int] = {}
    for b, (true_boxes, true_classes) in enumerate(truths):
        for c in np.asarray(true_classes).tolist():
            objects[c] = objects.get(c, 0) + 1
        n = int(count[b])
        _match(detections["boxes"][b, :n], detections["scores"][b, :n],
               detections["classes"][b, :n], np.asarray(true_boxes, np.float32),
               np.asarray(true_classes), iou, found)
    aps = {c: _average_precision(found.get(c, []), objects[c]) for c in sorted(objects)}
    names = {c: (classes[c] if classes is not None else str(c)) for c in aps}
    return DetectionScore(model=model, iou=iou, map=float(np.mean(list(aps.values()))),
                          per_class={names[c]: v for c, v in aps.items()},
                          images=len(truths), objects=sum(objects.values()),
                          detections=int(count.sum()))


def _match(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, true_boxes: np.ndarray,
           true_classes: np.ndarray, iou: float, found: dict[int, list[tuple[float, bool]]]
           ) -> None:
    used = np.zeros(len(true_boxes), bool)
    for i in np.argsort(-scores, kind="stable"):
        c = int(classes[i])
        overlaps = _ious(boxes[i], true_boxes)
        overlaps[(true_classes != c) | used] = -1
        j = int(np.argmax(overlaps)) if len(overlaps) else -1
        hit = j >= 0 and overlaps[j] > iou
        if hit:
            used[j] = True
        found.setdefault(c, []).append((float(scores[i]), hit))


def _ious(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    if not len(others):
        return np.zeros(0, np.float32)
    lo, hi = np.maximum(box[:2], others[:, :2]), np.minimum(box[2:], others[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
    area = lambda b: np.prod(b[..., 2:] - b[..., :2], axis=-1)  # noqa: E731
    return inter / np.maximum(area(box) + area(others) - inter, 1e-9)


def _average_precision(found: list[tuple[float, bool]], objects: int) -> float:
    if not found:
        return 0.0
    hits = np.array([h for _, h in sorted(found, key=lambda t: -t[0])], float)
    recall = np.concatenate([[0], np.cumsum(hits) / objects, [1]])
    precision = np.concatenate([[1], np.cumsum(hits) / np.arange(1, len(hits) + 1), [0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]  # the interpolated envelope
    return float(np.sum(np.diff(recall) * precision[1:]))


def evaluate_detector(model: ModelLike, images: np.ndarray, truths: Sequence[Truth], *,
                      input: str | None = None, iou: float = 0.5, batch: int = 32,
                      classes: Sequence[str] | None = None) -> DetectionScore:
    """Run a model with NMS in its graph over ``images`` (batches along the first axis, or
    one at a time for a single-image ``[height, width, channels]`` input) and score it with
    :func:`mean_average_precision`."""
    handle = load(model)
    name = input or handle.proto.graph.input[0].name
    single = len(handle.proto.graph.input[0].type.tensor_type.shape.dim) == 3
    step = 1 if single else batch
    parts = []
    for start in range(0, len(images), step):
        chunk = images[start] if single else images[start:start + step]
        parts.append(run(handle, {name: chunk}))
    joined = {k: np.concatenate([p[k] for p in parts]) for k in ("boxes", "scores", "classes",
                                                                  "count")}
    return mean_average_precision(joined, truths, iou=iou, classes=classes, model=handle.name)


def plot_detections(image: np.ndarray, detections: dict[str, np.ndarray], *, index: int = 0,
                    classes: Sequence[str] | None = None) -> Any:
    """A plotly figure of ``image`` (uint8 HWC) with the ``index``-th row of detections drawn
    over it, each box labelled with its class and score."""
    import plotly.graph_objects as go

    fig = go.Figure(go.Image(z=image))
    n = int(detections["count"][index])
    for box, score, c in zip(detections["boxes"][index, :n], detections["scores"][index, :n],
                             detections["classes"][index, :n]):
        x1, y1, x2, y2 = (float(v) for v in box)
        name = classes[int(c)] if classes is not None else str(int(c))
        fig.add_shape(type="rect", x0=x1, y0=y1, x1=x2, y1=y2, line={"color": "yellow"})
        fig.add_annotation(x=x1, y=y1, text=f"{name} {score:.2f}", showarrow=False,
                           yshift=8, font={"color": "yellow", "size": 10})
    fig.update_layout(width=420, height=340, margin={"l": 0, "r": 0, "t": 0, "b": 0})
    return fig
