"""The detector sample: a small one-stage detector (a grid of cells, each predicting one box,
its objectness and class) trained on synthetic scenes — squares, circles and triangles drawn
on noise — with its boxes decoded inside the exported graph."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from onnxkit.base import cache_key, cached_bytes, require, user_cache
from onnxkit.compose import ImagePrep
from onnxkit.samples._builders import BUILT_WITH, Sample, _cached, _export

CLASSES = ("square", "circle", "triangle")
SCENE = (96, 128)  # height, width of the scenes (not square: letterboxing shows)
INPUT, STRIDE = 64, 8  # the network sees 64x64 letterboxed images, one cell per 8x8 pixels
PREP = ImagePrep(letterbox=INPUT, layout="nhwc")


@dataclass(frozen=True, repr=False)  # Sample's repr: the arrays are not for reading
class DetectionSample(Sample):
    """A detector with held-out scenes: ``images`` (uint8 NHWC, as a camera gives them),
    their true ``truths`` (boxes in image pixels, classes), the ``classes``' names and the
    ``prep`` that made ``inputs`` from the images."""

    images: np.ndarray
    truths: tuple[tuple[np.ndarray, np.ndarray], ...]
    classes: tuple[str, ...]
    prep: ImagePrep


def detector() -> DetectionSample:
    """A 5-layer CNN detector trained on synthetic scenes (about a minute, once per machine).

    Input ``image: float32[batch, 3, 64, 64]`` (letterboxed, pixels scaled to 0..1); outputs
    ``boxes: float32[batch, 64, 4]`` (x1, y1, x2, y2 in input pixels) and ``scores:
    float32[batch, 64, 3]`` (objectness times class probability). ``images``: 200 held-out
    96x128 scenes with 1 to 4 shapes each. Put ``prep`` and ``compose.NMS`` around it for a
    model that takes the camera's uint8 images and returns the detections.
    """
    model = _cached("detector", 1, _build_detector)
    images, truths = scenes(200, seed=1)
    return DetectionSample("detector", model, {"image": PREP.reference(images)[0]}, None,
                           "shape detection on synthetic 96x128 scenes (3 classes)",
                           images, tuple(truths), CLASSES, PREP)


def scenes(n: int, *, seed: int) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """``n`` scenes (uint8 ``[n, 96, 128, 3]``) and their true boxes and classes."""
    rng = np.random.default_rng(seed)
    height, width = SCENE
    images = np.clip(rng.normal(rng.uniform(60, 190, (n, 1, 1, 3)), 30,
                                (n, height, width, 3)), 0, 255).astype(np.uint8)
    truths = []
    for image in images:
        boxes, classes, cells = [], [], set()
        for _ in range(int(rng.integers(1, 5))):
            box, cls = _draw(image, rng, boxes)
            if box is None or _cell(box) in cells:
                continue
            cells.add(_cell(box))
            boxes.append(box)
            classes.append(cls)
        truths.append((np.array(boxes, np.float32).reshape(-1, 4), np.array(classes, np.int64)))
    return images, truths


def _cell(box: np.ndarray) -> tuple[int, int]:
    """The network's grid cell of the box's centre (scene to letterboxed input: x 0.5,
    y 0.5 + 16 pixels of padding)."""
    cx, cy = (box[0] + box[2]) / 4, (box[1] + box[3]) / 4 + 8
    return int(cy // STRIDE), int(cx // STRIDE)


def _draw(image: np.ndarray, rng: np.random.Generator, placed: list) -> tuple[Any, int]:
    """One shape drawn where it overlaps no placed box; its tight box (None if no room)."""
    height, width = image.shape[:2]
    size = int(rng.integers(16, 40))
    x, y = int(rng.integers(0, width - size)), int(rng.integers(0, height - size))
    box = np.array([x, y, x + size, y + size], np.float32)
    if any(_overlap(box, p) for p in placed):
        return None, 0
    cls = int(rng.integers(0, len(CLASSES)))
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    half = size / 2
    mask = {0: np.ones((size, size), bool),
            1: (xx - half) ** 2 + (yy - half) ** 2 <= half ** 2,
            2: np.abs(xx - half) <= yy / 2}[cls]
    colour = rng.integers(0, 256, 3)
    while np.abs(colour - image[y:y + size, x:x + size].mean((0, 1))).max() < 80:
        colour = rng.integers(0, 256, 3)  # visible against the background
    image[y:y + size, x:x + size][mask] = colour
    rows, cols = np.nonzero(mask)
    return np.array([x + cols.min(), y + rows.min(), x + cols.max() + 1, y + rows.max() + 1],
                    np.float32), cls


def _overlap(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1]))


# --- the network ----------------------------------------------------------------------------

def _network() -> Any:
    torch = require("torch", purpose="The detector sample")
    from torch import nn

    class GridDetector(nn.Module):
        """Conv blocks down to an 8x8 grid; each cell: box offsets, size, objectness, classes."""

        def __init__(self) -> None:
            super().__init__()
            layers, width = [], 3
            for out, stride in ((16, 2), (32, 2), (64, 2), (64, 1)):
                layers += [nn.Conv2d(width, out, 3, stride, 1), nn.BatchNorm2d(out), nn.ReLU()]
                width = out
            self.body = nn.Sequential(*layers, nn.Conv2d(width, 5 + len(CLASSES), 1))
            cells = INPUT // STRIDE
            gy, gx = torch.meshgrid(torch.arange(cells), torch.arange(cells), indexing="ij")
            self.register_buffer("grid", torch.stack([gx, gy], -1).reshape(1, -1, 2).float())

        def raw(self, x: Any) -> Any:  # [batch, cells, 5 + classes]
            out = self.body(x)
            return out.flatten(2).transpose(1, 2)

        def forward(self, x: Any) -> tuple[Any, Any]:
            p = self.raw(x)
            centre = (self.grid + torch.sigmoid(p[..., :2])) * STRIDE
            size = torch.exp(p[..., 2:4].clamp(-4, 4)) * STRIDE
            boxes = torch.cat([centre - size / 2, centre + size / 2], -1)
            scores = torch.sigmoid(p[..., 4:5]) * torch.softmax(p[..., 5:], -1)
            return boxes, scores

    return GridDetector()


def _targets(truths: list, rows: np.ndarray) -> dict[str, Any]:
    """Per cell: is there an object, its offsets in the cell, log size, class."""
    import torch

    cells = INPUT // STRIDE
    n = len(truths)
    obj = np.zeros((n, cells * cells), np.float32)
    box = np.zeros((n, cells * cells, 4), np.float32)
    cls = np.zeros((n, cells * cells), np.int64)
    sy, sx, top, left = rows[:4]
    for i, (boxes, classes) in enumerate(truths):
        for b, c in zip(boxes, classes):
            x1, x2 = b[[0, 2]] * sx + left
            y1, y2 = b[[1, 3]] * sy + top
            cx, cy = (x1 + x2) / 2 / STRIDE, (y1 + y2) / 2 / STRIDE
            k = int(cy) * cells + int(cx)
            obj[i, k], cls[i, k] = 1, c
            box[i, k] = [cx - int(cx), cy - int(cy), np.log((x2 - x1) / STRIDE),
                         np.log((y2 - y1) / STRIDE)]
    return {k: torch.from_numpy(v) for k, v in (("obj", obj), ("box", box), ("cls", cls))}


def _loss(raw: Any, t: dict[str, Any]) -> Any:
    import torch.nn.functional as F

    pos = t["obj"] > 0
    loss = F.binary_cross_entropy_with_logits(raw[..., 4], t["obj"], pos_weight=raw.new_tensor(4.0))
    loss = loss + F.binary_cross_entropy_with_logits(raw[..., :2][pos], t["box"][..., :2][pos])
    loss = loss + F.smooth_l1_loss(raw[..., 2:4][pos], t["box"][..., 2:][pos])
    return loss + F.cross_entropy(raw[..., 5:][pos], t["cls"][pos])


def _trained() -> Any:
    """The trained network; its weights come from the user's cache after the first time."""
    torch = require("torch", purpose="The detector sample")
    torch.manual_seed(0)
    net = _network()
    key = cache_key(sources=Path(__file__).parent.glob("*.py"), libraries=BUILT_WITH,
                    extra="detector_torch")
    weights = cached_bytes(user_cache("samples") / f"detector_torch-{key}.pt",
                           lambda: _weights(net))
    net.load_state_dict(torch.load(io.BytesIO(weights)))
    return net.eval()


def _weights(net: Any, *, scenes_n: int = 3000, epochs: int = 14, batch: int = 64) -> bytes:
    import torch

    images, truths = scenes(scenes_n, seed=0)
    x, rows = PREP.reference(images)
    x, targets = torch.from_numpy(x), _targets(truths, rows)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a small net: more threads only fight on two busy cores
    try:
        generator = torch.Generator().manual_seed(0)
        optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=3e-3, total_steps=epochs * -(-scenes_n // batch))
        net.train()
        for _ in range(epochs):
            order = torch.randperm(scenes_n, generator=generator)
            for start in range(0, scenes_n, batch):
                idx = order[start:start + batch]
                optimizer.zero_grad()
                _loss(net.raw(x[idx]), {k: v[idx] for k, v in targets.items()}).backward()
                optimizer.step()
                schedule.step()
    finally:
        torch.set_num_threads(threads)
    buffer = io.BytesIO()
    torch.save(net.eval().state_dict(), buffer)
    return buffer.getvalue()


def _build_detector() -> onnx.ModelProto:
    import torch

    return _export(_trained(), (torch.zeros(2, 3, INPUT, INPUT),), ["image"],
                   ["boxes", "scores"], {"image": {0: "batch"}, "boxes": {0: "batch"},
                                         "scores": {0: "batch"}})
