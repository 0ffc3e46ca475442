"""Chart labels: none covers another or a marker; the chosen and the front are named first."""

from __future__ import annotations

import numpy as np

from onnxkit.study._labels import PLOT_PX, _box, _overlap, place_labels

# the crowd of the Study tab's screenshot: ten variants within 0.03 ms, all at one accuracy
NAMES = ["reference", "ort-basic", "ort-all", "slim", "fp16", "opt-basic",
         "opt-basic.uint8-static-qdq", "opt-basic.uint8-static-qdq-excl1-edc290", "picked",
         "pruned-25", "int8-dynamic"]
XS = [0.063, 0.066, 0.072, 0.062, 0.078, 0.062, 0.078, 0.086, 0.086, 0.060, 0.160]
YS = [0.9844] * 9 + [0.9219, 0.9844]
RANGES = {"x_range": [0.03, 0.23], "y_range": [0.912, 0.994]}


def _boxes(texts, places, radius=5.0):
    width, height = PLOT_PX
    scale = (width / 0.2, height / 0.082)
    out = []
    for text, place, x, y in zip(texts, places, XS, YS):
        if text:
            centre = ((x - 0.03) * scale[0], (y - 0.912) * scale[1])
            out.append(_box(place, centre, radius + 3, (7.0 * len(text), 15.0)))
    return out


def test_a_crowd_gets_labels_that_do_not_overlap():
    texts, places = place_labels(NAMES, XS, YS, **RANGES, first=["reference", "pruned-25"])
    boxes = _boxes(texts, places)
    assert all(not _overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert {"reference", "pruned-25", "int8-dynamic"} <= set(texts)  # first, and the loner
    assert "" in texts  # the crowd cannot all be named: the rest stay in the hover


def test_labels_keep_off_the_markers():
    texts, places = place_labels(NAMES, XS, YS, **RANGES)
    width, height = PLOT_PX
    centres = [((x - 0.03) * width / 0.2, (y - 0.912) * height / 0.082) for x, y in zip(XS, YS)]
    markers = [(cx - 5, cy - 5, cx + 5, cy + 5) for cx, cy in centres]
    for box in _boxes(texts, places):
        assert not any(_overlap(box, m) for m in markers), texts


def test_spread_points_are_all_named():
    xs = list(np.linspace(0.1, 1.0, 6))
    texts, _ = place_labels([f"v{i}" for i in range(6)], xs, [0.5] * 6, x_range=[0, 1.1],
                            y_range=[0, 1])
    assert texts == [f"v{i}" for i in range(6)]
