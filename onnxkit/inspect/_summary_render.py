"""How a :class:`~onnxkit.ModelSummary` draws itself: HTML sections, plotly charts, tables.

Rendering only reads the summary's fields; nothing here looks at the model again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from onnxkit.base import one_of
from onnxkit.results import fmt_bytes, fmt_count, html_table

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

    from onnxkit.inspect._summary import ModelSummary

_DOC_CHARS = 300  # a doc string longer than this is cut in the overview
_BAR_PX = 22  # height of one bar in the charts


def html(s: ModelSummary) -> str:
    """Every section side by side: overview, IO, operators, parameters, weights, files."""
    parts = [_overview(s), _io(s), _operators(s), _parameters(s)]
    if s.largest_initializers:
        parts.append(_initializers(s))
    if s.external_data:
        parts.append(html_table(
            ("file", "size"),
            ((f.location, fmt_bytes(f.size_bytes)) for f in s.external_data),
            caption="external data"))
    return "<div style='display:flex;gap:24px;flex-wrap:wrap'>" + "".join(parts) + "</div>"


def _overview(s: ModelSummary) -> str:
    doc = s.doc_string if len(s.doc_string) <= _DOC_CHARS else s.doc_string[:_DOC_CHARS] + "…"
    rows: list[tuple[str, Any]] = [
        ("size", fmt_bytes(s.size_bytes)),
        ("nodes", s.node_count),
        ("parameters", f"{s.parameter_count:,} in {s.initializer_count} initializers "
                       f"({fmt_bytes(s.parameter_bytes)})"),
        ("IR version", s.ir_version),
        ("opsets", ", ".join(f"{d} {v}" for d, v in s.opsets.items())),
        ("producer", s.producer or "-"),
    ]
    if s.functions:
        rows.append(("functions", ", ".join(s.functions)))
    if doc:
        rows.append(("doc", doc))
    rows += [(f"metadata: {k}", v) for k, v in s.metadata.items()]
    return html_table(("", ""), rows, caption=s.name)


def _io(s: ModelSummary) -> str:
    rows: list[tuple[Any, ...]] = [
        (kind, t.name, t.dtype, "?" if t.shape is None else f"[{', '.join(map(str, t.shape))}]")
        for kind, ts in (("input", s.inputs), ("output", s.outputs)) for t in ts]
    if s.symbolic_dims:
        rows.append(("symbolic dims", ", ".join(s.symbolic_dims), "", ""))
    return html_table(("", "name", "dtype", "shape"), rows, caption="inputs and outputs")


def _operators(s: ModelSummary) -> str:
    total = max(s.node_count, 1)
    rows = ((op, n, f"{n / total:.0%}") for op, n in s.op_counts.items())
    return html_table(("op", "nodes", "share"), rows, caption="operators")


def _parameters(s: ModelSummary) -> str:
    total = max(s.parameter_count, 1)
    rows = ((op, f"{n:,}", f"{n / total:.1%}") for op, n in s.parameters_by_op.items())
    return html_table(("read by", "parameters", "share"), rows,
                         caption="parameters by op type")


def _initializers(s: ModelSummary) -> str:
    external = any(t.external for t in s.largest_initializers)
    rows = [(t.name, t.dtype, list(t.shape), f"{t.elements:,}", fmt_bytes(t.size_bytes),
             t.used_by, *([t.external or "-"] if external else []))
            for t in s.largest_initializers]
    headers = ("name", "dtype", "shape", "elements", "size", "read by",
               *(["stored in"] if external else []))
    caption = f"largest initializers ({len(rows)} of {s.initializer_count})"
    return html_table(headers, rows, caption=caption)


def figure(s: ModelSummary, kind: str | None) -> go.Figure:
    """Operators (count) and parameter share by op type, side by side or alone."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    kinds = _check(kind, ("operators", "parameters"), "plot(kind=...)")
    ops = list(s.op_counts)
    owners = list(s.parameters_by_op)
    total = max(s.parameter_count, 1)
    bars = {
        "operators": go.Bar(x=[s.op_counts[o] for o in ops], y=ops, orientation="h",
                            name="nodes", hovertemplate="%{y}: %{x} nodes<extra></extra>"),
        "parameters": go.Bar(x=[100 * s.parameters_by_op[o] / total for o in owners], y=owners,
                             orientation="h", name="parameters",
                             text=[fmt_count(s.parameters_by_op[o]) for o in owners],
                             hovertemplate="%{y}: %{x:.1f}% (%{text})<extra></extra>"),
    }
    titles = {"operators": f"operators ({s.node_count} nodes)",
              "parameters": f"parameter share ({fmt_count(s.parameter_count)})"}
    # The right chart's op names sit between the two: leave them room.
    gap = min(0.45, 0.06 + 0.011 * max(map(len, owners or [""])))
    fig = make_subplots(rows=1, cols=len(kinds), subplot_titles=[titles[k] for k in kinds],
                        horizontal_spacing=gap if len(kinds) == 2 else 0.1)
    for col, k in enumerate(kinds, start=1):
        fig.add_trace(bars[k], row=1, col=col)
        fig.update_yaxes(autorange="reversed", row=1, col=col)
        fig.update_xaxes(title_text="count" if k == "operators" else "% of parameters",
                         row=1, col=col)
    rows = max(len(ops) if "operators" in kinds else 0,
               len(owners) if "parameters" in kinds else 0)
    fig.update_layout(title=f"{s.name}", showlegend=False,
                      height=max(250, _BAR_PX * rows + 120),
                      margin={"l": 10, "r": 10, "t": 70, "b": 10})
    return fig


def dataframe(s: ModelSummary, table: str | None) -> pd.DataFrame:
    """``operators`` (nodes and parameters per op type), ``initializers`` or ``io``."""
    import pandas as pd

    which = _check(table, ("operators", "initializers", "io"), "table(kind=...)")[0]
    if which == "initializers":
        return pd.DataFrame([t.to_dict() for t in s.largest_initializers],
                            columns=["name", "dtype", "shape", "elements", "size_bytes",
                                     "used_by", "external"])
    if which == "io":
        return pd.DataFrame(
            [{"kind": kind, **t.to_dict()}
             for kind, ts in (("input", s.inputs), ("output", s.outputs)) for t in ts],
            columns=["kind", "name", "dtype", "shape"])
    keys = list(dict.fromkeys([*s.op_counts, *s.parameters_by_op]))
    total = max(s.parameter_count, 1)
    return pd.DataFrame({
        "op": keys,
        "nodes": [s.op_counts.get(k, 0) for k in keys],
        "parameters": [s.parameters_by_op.get(k, 0) for k in keys],
        "parameter_share": [s.parameters_by_op.get(k, 0) / total for k in keys],
    })


def _check(value: str | None, allowed: tuple[str, ...], where: str) -> tuple[str, ...]:
    """``None`` means all of ``allowed`` (a plot) or the first one (a table)."""
    if value is None:
        return allowed
    return (one_of(value, allowed, f"ModelSummary.{where.split('(')[0]}",
                   where.split("(")[1].split("=")[0], fix="pass one of them, or None"),)
