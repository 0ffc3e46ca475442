"""Rendering a :class:`~onnxkit.Study`: its table, text and HTML reprs, and the Pareto chart.

Nothing here measures: every figure comes from the rows the Study computed in ``add``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from onnxkit.results import fmt_bytes, html_table
from onnxkit.study._labels import place_labels

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

    from onnxkit.study._study import Study, Variant

MB = 1e6
# column -> (text header, format); the score columns are added per study
_FORMATS = {"size_mb": ("size MB", "{:.3f}"), "size_ratio": ("size x", "{:.2f}"),
            "p50_ms": ("p50 ms", "{:.3f}"), "p90_ms": ("p90 ms", "{:.3f}"),
            "speedup": ("speedup [95%]", "{:.2f}x"), "speedup_low": ("low", "{:.2f}x"),
            "speedup_high": ("high", "{:.2f}x"), "load_ms": ("load ms", "{:.1f}"),
            "peak_mem_mb": ("peak MB", "{:.1f}"), "max_abs_err": ("max abs err", "{:.3g}"),
            "cosine": ("cosine", "{:.6f}"), "agreement": ("agreement", "{:.2%}"),
            "accuracy": ("accuracy", "{:.2%}"), "accuracy_drop": ("acc. drop", "{:+.2%}"),
            "metric": ("metric", "{:.4g}"), "metric_drop": ("metric drop", "{:+.4g}")}


def value(study: Study, row: Variant, column: str) -> float | None:
    """A row's figure for a table column (None when the study does not have it)."""
    ref = study["reference"]
    score = study.score_name
    if column in ("accuracy", "metric"):
        return row.score if column == score else None
    if column in ("accuracy_drop", "metric_drop"):
        ok = column == f"{score}_drop" and row.score is not None and ref.score is not None
        return ref.score - row.score if ok else None  # type: ignore[operator]
    derived = {"size_mb": lambda: row.size_bytes / MB,
               "size_ratio": lambda: row.size_bytes / ref.size_bytes,
               "peak_mem_mb": lambda: None if row.peak_mem_bytes is None
               else row.peak_mem_bytes / MB}
    speed = row.speedup.columns()
    if column in speed:
        return speed[column]
    return derived[column]() if column in derived else getattr(row, column)


def columns(study: Study) -> list[str]:
    score = study.score_name
    extra = [score, f"{score}_drop"] if score else []
    return ["size_mb", "size_ratio", "p50_ms", "p90_ms", "speedup", "speedup_low",
            "speedup_high", "load_ms", "peak_mem_mb", "max_abs_err", "cosine", "agreement",
            *extra]


def dataframe(study: Study) -> pd.DataFrame:
    import pandas as pd

    cols = columns(study)
    records = [{"variant": r.name, **{c: value(study, r, c) for c in cols}, "verdict":
                r.verdict if r.name != "reference" else "", "note": r.note}
               for r in study.rows()]
    records += [{"variant": name, "note": f"failed: {why}"}
                for name, why in study.failures.items()]
    frame = pd.DataFrame.from_records(records, columns=["variant", *cols, "verdict", "note"])
    frame[cols] = frame[cols].astype(float)
    return frame.set_index("variant")


def _cell(study: Study, row: Variant, column: str) -> str:
    if column == "speedup" and row.name != "reference":  # with its interval
        return str(row.speedup)
    v = value(study, row, column)
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) \
        else _FORMATS[column][1].format(v)


_TEXT_COLUMNS = ("size_mb", "size_ratio", "p50_ms", "speedup", "peak_mem_mb", "max_abs_err",
                 "agreement")


def _caption(study: Study) -> str:
    s = study.settings
    labelled = {"accuracy": " with labels", "metric": " with a metric"}.get(
        study.score_name or "", "")
    runs = f"{s['runs']} runs" if s["runs"] else "~100 ms of runs (3 at least)"
    why = {"separated": "the fastest separated from the reference",
           "budget": "time budget spent", "rounds": "round limit"}.get(s["stopped"], "")
    rows = ("rows of random inputs: errors only, no accuracy" if s["random_data"]
            else "data rows")
    return (f"Study of '{study.reference.name}': {len(study) - 1} variant(s) vs the reference "
            f"({s['data_rows']} {rows}{labelled}; latency: batch {s['latency_batch']}, "
            f"{s['rounds']} interleaved rounds x {runs} ({why}), threads "
            f"{s['threads'] or 'default'}, {s['providers']}; speedup: median of per-round "
            "ratios [95% interval])")


def text(study: Study) -> str:
    cols = [*_TEXT_COLUMNS, *([study.score_name] if study.score_name else [])]
    header = ["variant"] + [_FORMATS[c][0] for c in cols]
    body = [[r.name] + [_cell(study, r, c) for c in cols] for r in study.rows()]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    lines = [_caption(study)]
    for line in [header, *body]:
        lines.append("  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                      for i, (c, w) in enumerate(zip(line, widths))))
    lines += [f"  note: {r.name}: {r.note}" for r in study.rows() if r.note]
    lines += [f"  failed: {name}: {why}" for name, why in study.failures.items()]
    lines += [f"  not applicable: {name}: {why}" for name, why in study.skipped.items()]
    return "\n".join(lines)


def html(study: Study, chosen: str | None = None) -> str:
    """The study's table; the ``chosen`` variant's name marked with a star."""
    cols = [c for c in columns(study) if c not in ("speedup_low", "speedup_high")]
    rows = [[f"★ {r.name} (chosen)" if r.name == chosen else r.name]
            + [_cell(study, r, c) for c in cols] + [r.note] for r in study.rows()]
    rows += [[name] + ["-"] * len(cols) + [f"failed: {why}"]
             for name, why in study.failures.items()]
    rows += [[name] + ["-"] * len(cols) + [f"not applicable: {why}"]
             for name, why in study.skipped.items()]
    bad = [False] * len(study) + [True] * len(study.failures) + [False] * len(study.skipped)
    return html_table(["variant"] + [_FORMATS[c][0] for c in cols] + ["note"], rows,
                         caption=_caption(study), bad=bad)


def describe(row: Variant) -> str:
    parts = [f"size {fmt_bytes(row.size_bytes)}", f"p50 {row.p50_ms:.3f} ms",
             f"speedup {row.speedup} ({row.verdict})"]
    if row.max_abs_err is not None:
        parts.append(f"max abs err {row.max_abs_err:.3g}")
    if row.agreement is not None:
        parts.append(f"agreement {row.agreement:.2%}")
    if row.score is not None:
        parts.append(f"score {row.score:.4g}")
    return ", ".join(parts)


def pareto_front(points: list[tuple[str, float, float]], *, higher_is_better: bool
                 ) -> list[str]:
    """Names of the points no other point beats on both x (lower) and y, by increasing x.

    Examples:
        >>> pareto_front([("a", 1, 0.9), ("b", 2, 0.95), ("c", 3, 0.94)], higher_is_better=True)
        ['a', 'b']
    """
    sign = 1 if higher_is_better else -1
    front, best_y = [], -math.inf
    for name, _, y in sorted(points, key=lambda p: (p[1], -sign * p[2])):
        if sign * y > best_y:
            front.append(name)
            best_y = sign * y
    return front


def pareto_figure(study: Study, chosen: str | None = None) -> go.Figure:
    """Latency vs score (or error); the ``chosen`` variant (``Study.best``) ringed."""
    import plotly.graph_objects as go

    score = study.score_name
    y_col = score or "max_abs_err"
    rows = [r for r in study.rows() if value(study, r, y_col) is not None]
    points = [(r.name, r.p50_ms, float(value(study, r, y_col))) for r in rows]  # type: ignore
    front = pareto_front(points, higher_is_better=score is not None)
    by_name = {name: (x, y) for name, x, y in points}
    names, xs, ys = [p[0] for p in points], [p[1] for p in points], [p[2] for p in points]
    sizes = [r.size_bytes / MB for r in rows]
    sizeref = 2 * max(sizes, default=1) / 40 ** 2
    ref_ms = study["reference"].p50_ms
    # the speedup interval, as latencies: the reference's p50 over the interval's ends
    plus = [max(ref_ms / r.speedup.low - r.p50_ms, 0) for r in rows]
    minus = [max(r.p50_ms - ref_ms / r.speedup.high, 0) for r in rows]
    x_range = axis_range([*(x + d for x, d in zip(xs, plus)), *(x - d for x, d in zip(xs, minus))])
    y_range = axis_range(ys)
    texts, places = place_labels(
        names, xs, ys, x_range=x_range or [0, 1], y_range=y_range or [0, 1],
        radii=[max(math.sqrt(s / 2 / sizeref), 3) for s in sizes], first=[chosen or "", *front])
    fig = go.Figure(go.Scatter(
        x=xs, y=ys, mode="markers+text", name="variants",
        error_x={"type": "data", "symmetric": False, "array": plus, "arrayminus": minus},
        text=texts, textposition=places, cliponaxis=False,  # labels may reach into the margin
        marker={"size": sizes, "sizemode": "area", "sizemin": 6, "sizeref": sizeref,
                "color": ["#e76f51" if n in front else "#8d99ae" for n in names]},
        customdata=list(zip(names, sizes)),
        hovertemplate="%{customdata[0]}<br>p50 %{x:.3f} ms<br>%{y:.4g}<br>size "
                      "%{customdata[1]:.3f} MB<extra></extra>"))
    fig.add_trace(go.Scatter(
        x=[by_name[n][0] for n in front], y=[by_name[n][1] for n in front],
        mode="lines", name="Pareto front", line={"dash": "dash", "color": "#e76f51"},
        hoverinfo="skip"))
    if chosen in by_name:
        fig.add_trace(go.Scatter(
            x=[by_name[chosen][0]], y=[by_name[chosen][1]], mode="markers",
            name=f"chosen: {chosen}", hoverinfo="skip",
            marker={"symbol": "star-open", "size": 22, "line": {"width": 2},
                    "color": "#2a9d8f"}))
    label = {"accuracy": "accuracy (higher is better)", "metric": "metric (higher is better)"}
    crowded = "; crowded points named on hover" if "" in texts else ""
    fig.update_layout(
        title={"text": f"{study.reference.name}: latency vs {y_col}<br><sup>marker area: model "
                       f"size; whiskers: 95% speedup interval; front: {', '.join(front)}"
                       f"{crowded}</sup>"},
        xaxis={"title": "p50 latency (ms)", "range": x_range},
        yaxis={"title": label.get(y_col, "max abs error vs the reference (lower is better)"),
               "range": y_range},
        legend={"orientation": "h", "y": -0.2})
    return fig


def axis_range(values: list[float]) -> list[float] | None:
    """The data's span with room for the labels above and below: 15% of it each side, or 1%
    of the value when every point is equal (plotly's own range, padded for the marker areas,
    ran accuracy past 1.5).

    Examples:
        >>> [round(v, 4) for v in axis_range([0.9, 0.95])]
        [0.8925, 0.9575]
    """
    if not values:
        return None
    low, high = min(values), max(values)
    room = 0.15 * (high - low) or 0.01 * (abs(high) or 1.0)
    return [low - room, high + room]
