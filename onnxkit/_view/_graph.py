"""``graph_view``: a model's graph laid out here and drawn with plotly (no server needed).

The layout is computed once (see ``_graph_layout``); the result draws itself as a plotly
figure (hover for shapes and attributes) and as a plain SVG, so a saved notebook shows the
graph even where no JavaScript runs (GitHub, nbconvert's HTML), unlike Netron's IFrame.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from onnxkit._view._layout import Box, layout
from onnxkit.base import integer
from onnxkit.models import ModelLike, load
from onnxkit.results import Result

if TYPE_CHECKING:
    import plotly.graph_objects as go

DEFAULT_MAX_NODES = 400  # boxes a plotly figure and an SVG still draw and read well
LABELS_UP_TO = 150  # boxes beyond which labels are left to the hover text
ROW_PX, COL_PX = 46, 150  # the SVG's grid
# Colours by op type, most frequent type first (Tableau 20, darker tones first).
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
           "#17becf", "#bcbd22", "#7f7f7f", "#393b79", "#637939", "#8c6d31", "#843c39",
           "#7b4173", "#3182bd", "#e6550d", "#31a354", "#756bb1", "#636363")
IO_COLOUR = "#222222"


@dataclass(frozen=True)
class GraphView(Result):
    """A model's graph, laid out in rows by depth (inputs at the top), ready to draw.

    ``boxes`` are what is drawn: graph inputs and outputs, operators, and, when the graph was
    too big, groups of operators (``collapsed`` says how; ``note`` says it in a sentence).
    ``operators`` counts the graph's nodes (bodies of If/Loop/Scan are described in their
    node's hover text, not drawn). ``shown`` is the number of operator boxes drawn.
    """

    MAX_NODES: ClassVar[int] = DEFAULT_MAX_NODES  # drawn before groups are collapsed

    name: str
    boxes: tuple[Box, ...]
    edges: tuple[tuple[int, int], ...]
    operators: int
    shown: int
    collapsed: str | None
    shapes: str
    height: int

    @property
    def note(self) -> str:
        """What the drawing shows, in a sentence."""
        if self.collapsed is None:
            return f"{self.operators} operators, each drawn; shapes {self.shapes}."
        boxes = "1 box" if self.shown == 1 else f"{self.shown} boxes"
        return (f"{self.operators} operators drawn as {boxes} ({self.collapsed}); "
                "hover a group for what it holds.")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["edges"] = [list(e) for e in self.edges]
        d["note"] = self.note
        return d

    def __repr__(self) -> str:
        return f"GraphView '{self.name}': {self.note}"

    def plot(self) -> go.Figure:
        """The graph as a plotly figure: drag to pan, scroll to zoom, hover for details."""
        return _figure(self)

    def to_svg(self) -> str:
        """The graph as a standalone SVG (hover titles, no script), for static viewers."""
        return _svg(self)

    # A drawing: it shows through _repr_mimebundle_ alone (a table beside it would only repeat
    # its note).
    _repr_html_ = None  # type: ignore[assignment]

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        import plotly.io as pio

        # Live front ends pick plotly; nbconvert and GitHub fall back to the SVG.
        return {"application/vnd.plotly.v1+json": json.loads(pio.to_json(self.plot())),
                "image/svg+xml": self.to_svg(), "text/plain": repr(self)}


def graph_view(model: ModelLike, *, max_nodes: int | None = None, height: int | None = None
               ) -> GraphView:
    """Lay out a model's graph for drawing here, without a server (``view(backend="inline")``).

    Args:
        model: anything :func:`onnxkit.load` accepts.
        max_nodes: most operator boxes to draw (default 400). A bigger graph is collapsed:
            Constant nodes hidden, then straight chains merged, then nodes grouped by name
            scope, then each op type grouped within bands of rows, stopping at the first that
            fits. ``collapsed`` and ``note`` say which.
        height: figure height in pixels (default: from the number of rows, at most 900).

    Examples:
        >>> import onnxkit
        >>> g = onnxkit.graph_view(onnxkit.samples.tiny_model())
        >>> [(b.kind, b.label, b.row) for b in g.boxes][:3]
        [('input', 'x', 0), ('op', 'Gemm', 1), ('op', 'Relu', 2)]
        >>> g.collapsed is None, g.edges[:2]
        (True, ((0, 1), (1, 2)))
    """
    if max_nodes is None:
        max_nodes = DEFAULT_MAX_NODES
    integer(max_nodes, "graph_view", "max_nodes", fix="pass None for the default")
    handle = load(model)
    laid = layout(handle.proto, max_nodes)
    rows = max((b.row for b in laid.boxes), default=0) + 1
    return GraphView(
        name=handle.name, boxes=laid.boxes, edges=laid.edges, operators=laid.operators,
        shown=sum(b.kind in ("op", "group") for b in laid.boxes), collapsed=laid.collapsed,
        shapes=laid.shapes, height=height or min(900, max(300, 60 + 40 * rows)))


def _colours(view: GraphView) -> dict[str, str]:
    counts = Counter(b.op for b in view.boxes if b.kind in ("op", "group"))
    ops = sorted(counts, key=lambda o: (-counts[o], o))
    return {op: PALETTE[i % len(PALETTE)] for i, op in enumerate(ops)}


def _figure(view: GraphView) -> go.Figure:
    import plotly.graph_objects as go

    fig = go.Figure()
    ex: list[float | None] = []
    ey: list[float | None] = []
    for a, b in view.edges:
        ex += [view.boxes[a].x, view.boxes[b].x, None]
        ey += [-view.boxes[a].row, -view.boxes[b].row, None]
    fig.add_trace(go.Scatter(x=ex, y=ey, mode="lines", hoverinfo="skip", showlegend=False,
                             line={"width": 1, "color": "#b0b0b0"}))
    colours = _colours(view)
    labelled = len(view.boxes) <= LABELS_UP_TO
    for op, colour in [("input", IO_COLOUR), *colours.items(), ("output", IO_COLOUR)]:
        boxes = [b for b in view.boxes if b.op == op]
        if not boxes:
            continue
        io = op in ("input", "output")
        fig.add_trace(go.Scatter(
            x=[b.x for b in boxes], y=[-b.row for b in boxes], name=f"graph {op}" if io else op,
            mode="markers+text" if labelled else "markers", text=[b.label for b in boxes],
            textposition="middle right", textfont={"size": 10},
            hovertext=[_hover(b.detail) for b in boxes], hoverinfo="text",
            marker={"symbol": "diamond" if io else "square", "color": colour,
                    "size": [18 if b.kind == "group" else 12 for b in boxes],
                    "line": {"width": [2 if b.kind == "group" else 0 for b in boxes],
                             "color": "#000"}}))
    rows = max((b.row for b in view.boxes), default=0) + 1
    fits = max(3, (view.height - 100) // 40)  # rows shown at once; pan for the rest
    fig.update_layout(
        title={"text": f"{html.escape(view.name)}<br><sup>{html.escape(view.note)}</sup>"},
        height=view.height, dragmode="pan", hovermode="closest", plot_bgcolor="white",
        margin={"l": 10, "r": 10, "t": 70, "b": 10}, legend={"itemsizing": "constant"},
        xaxis={"visible": False},
        yaxis={"visible": False, "range": [-min(rows, fits) + 0.5, 0.5]})
    return fig


def _hover(detail: str) -> str:
    title, *rest = detail.split("\n")
    return "<br>".join([f"<b>{html.escape(title)}</b>", *map(html.escape, rest)])


def _svg(view: GraphView) -> str:
    colours = {**_colours(view), "input": IO_COLOUR, "output": IO_COLOUR}
    left = min((b.x for b in view.boxes), default=0.0)
    width = int((max((b.x for b in view.boxes), default=0.0) - left) * COL_PX) + COL_PX + 20
    rows = max((b.row for b in view.boxes), default=0) + 1
    height = rows * ROW_PX + 50

    def centre(b: Box) -> tuple[float, float]:
        return (b.x - left) * COL_PX + COL_PX / 2 + 10, b.row * ROW_PX + 60

    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
             f"viewBox='0 0 {width} {height}' font-family='sans-serif' font-size='11'>",
             f"<text x='10' y='18' font-size='13' font-weight='bold'>{html.escape(view.name)}"
             f"</text><text x='10' y='34' fill='#555'>{html.escape(view.note)}</text>"]
    for start, end in view.edges:
        (x1, y1), (x2, y2) = centre(view.boxes[start]), centre(view.boxes[end])
        parts.append(f"<line x1='{x1:.0f}' y1='{y1 + 11:.0f}' x2='{x2:.0f}' y2='{y2 - 11:.0f}' "
                     "stroke='#b0b0b0'/>")
    for b in view.boxes:
        x, y = centre(b)
        label = b.label if len(b.label) <= 20 else b.label[:19] + "…"
        border = " stroke='#000' stroke-width='2'" if b.kind == "group" else ""
        parts.append(
            f"<g><title>{html.escape(b.detail)}</title>"
            f"<rect x='{x - COL_PX / 2 + 8:.0f}' y='{y - 11:.0f}' width='{COL_PX - 16}' "
            f"height='22' rx='{11 if b.kind in ('input', 'output') else 3}' "
            f"fill='{colours[b.op]}'{border}/>"
            f"<text x='{x:.0f}' y='{y + 4:.0f}' fill='white' text-anchor='middle'>"
            f"{html.escape(label)}</text></g>")
    parts.append("</svg>")
    return "".join(parts)
