"""Where a chart's point labels go: each beside its point where it covers no other label and
no marker, tried in a fixed order of places; a label with no free place is left off the chart
(its name stays in the hover text). Placed for the smallest plot area a panel shows, so a
wider figure only has more room."""

from __future__ import annotations

from collections.abc import Sequence

PLOT_PX = (520.0, 300.0)  # width, height of the plot area the labels are placed for
CHAR_PX, LINE_PX = 7.0, 15.0  # a label's width per character and its height (12 px font)
GAP_PX = 3.0  # between a marker and its label
SPILL_PX = (60.0, 30.0)  # how far past the plot area a label may reach (cliponaxis off)
PLACES = ("top center", "bottom center", "middle right", "middle left",
          "top right", "bottom right", "top left", "bottom left")
Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels, y up


def place_labels(names: Sequence[str], xs: Sequence[float], ys: Sequence[float], *,
                 x_range: Sequence[float], y_range: Sequence[float],
                 radii: Sequence[float] | None = None, first: Sequence[str] = ()
                 ) -> tuple[list[str], list[str]]:
    """Each point's label text ("" when left off) and plotly ``textposition``. Names in
    ``first`` are placed before the others (then by increasing x); ``radii`` are the markers'
    in pixels (default 5).

    Examples:
        >>> place_labels(["a", "b"], [1.0, 1.01], [0.5, 0.5], x_range=[0, 2], y_range=[0, 1])
        (['a', 'b'], ['top center', 'bottom center'])
        >>> texts, _ = place_labels(["p"] * 40, [1.0] * 40, [0.5] * 40, x_range=[0, 2],
        ...                         y_range=[0, 1])
        >>> texts.count("p")  # one point's label in each of the eight places, no more
        8
    """
    width, height = PLOT_PX
    scale_x = width / ((x_range[1] - x_range[0]) or 1.0)
    scale_y = height / ((y_range[1] - y_range[0]) or 1.0)
    centres = [((x - x_range[0]) * scale_x, (y - y_range[0]) * scale_y) for x, y in zip(xs, ys)]
    radii = list(radii) if radii is not None else [5.0] * len(names)
    taken: list[Box] = [(cx - r, cy - r, cx + r, cy + r) for (cx, cy), r in zip(centres, radii)]
    texts, places = [""] * len(names), ["top center"] * len(names)
    for i in sorted(range(len(names)), key=lambda i: (names[i] not in first, centres[i][0])):
        size = (CHAR_PX * len(names[i]), LINE_PX)
        for place in PLACES:
            box = _box(place, centres[i], radii[i] + GAP_PX, size)
            others = taken[:i] + taken[i + 1:]  # its own marker is beside it by construction
            if _inside(box, width, height) and not any(_overlap(box, t) for t in others):
                texts[i], places[i] = names[i], place
                taken.append(box)
                break
    return texts, places


def _box(place: str, centre: tuple[float, float], offset: float, size: tuple[float, float]
         ) -> Box:
    (cx, cy), (w, h) = centre, size
    vertical, horizontal = place.split()
    y0 = {"top": cy + offset, "bottom": cy - offset - h, "middle": cy - h / 2}[vertical]
    x0 = {"center": cx - w / 2, "right": cx + offset, "left": cx - offset - w}[horizontal]
    return x0, y0, x0 + w, y0 + h


def _inside(box: Box, width: float, height: float) -> bool:
    spill_x, spill_y = SPILL_PX
    return (box[0] >= -spill_x and box[2] <= width + spill_x and box[1] >= -spill_y
            and box[3] <= height + spill_y)


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
