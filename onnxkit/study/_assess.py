"""``assess``: a quantized model beside its float model — size, speed, error, accuracy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from onnxkit.base import graph_inputs, integer
from onnxkit.bench import Speedup, measure_models
from onnxkit.errors import InputError
from onnxkit.models import ModelLike, load
from onnxkit.results import Result, fmt_bytes, html_table
from onnxkit.runtime import validate_feeds
from onnxkit.study._measure import quality

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

LATENCY_BATCH = 1  # rows of the data each timed run takes, unless batch= says otherwise


@dataclass(frozen=True)
class AssessedModel(Result):
    """One row of :class:`QuantAssessment`: errors over every output vs the float model's,
    the score (accuracy with labels), and ``speedup``: the float model's time over this one's,
    paired within interleaved rounds, with its 95% interval."""

    name: str
    path: str
    size_bytes: int
    p50_ms: float
    speedup: Speedup
    max_abs_err: float | None
    cosine: float | None
    agreement: float | None
    score: float | None

    @property
    def verdict(self) -> str:
        """``"faster"``/``"slower"`` than the float model beyond the spread, else
        ``"indistinguishable"`` (see :func:`onnxkit.bench.speed_verdict`)."""
        return self.speedup.verdict


@dataclass(frozen=True)
class QuantAssessment(Result):
    """Result of :func:`assess`: the float model first, then each quantized variant."""

    rows: tuple[AssessedModel, ...]

    def table(self) -> pd.DataFrame:
        """One row per model (the float model first), with size and p50 ratios to it."""
        import pandas as pd

        frame = pd.DataFrame([{**r.to_dict(), **r.speedup.columns()}
                              for r in self.rows]).set_index("name")
        base = self.rows[0]
        frame["size_ratio"] = frame["size_bytes"] / base.size_bytes
        frame["p50_ratio"] = frame["p50_ms"] / base.p50_ms
        frame["verdict"] = [r.verdict if i else "" for i, r in enumerate(self.rows)]
        return frame.drop(columns="path")

    def __repr__(self) -> str:
        base = self.rows[0]
        lines = ["QuantAssessment (ratios vs the float model)"]
        for r in self.rows:
            acc = f", accuracy {r.score:.2%}" if r.score is not None else ""
            top1 = f", top-1 agreement {r.agreement:.2%}" if r.agreement is not None else ""
            lines.append(f"  {r.name}: size {r.size_bytes / base.size_bytes:.2f}x, p50 "
                         f"{r.p50_ms:.3f} ms, speedup {r.speedup}, max abs err "
                         f"{_pct(r.max_abs_err, 3)}{top1}{acc}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        base = self.rows[0]
        return html_table(
            ("model", "size", "size ratio", "p50 ms", "speedup [95%]", "max abs err", "cosine",
             "top-1 agreement", "accuracy"),
            ((r.name, fmt_bytes(r.size_bytes), f"{r.size_bytes / base.size_bytes:.2f}",
              f"{r.p50_ms:.3f}", str(r.speedup), _pct(r.max_abs_err, 3),
              _pct(r.cosine, 6), _pct(r.agreement), _pct(r.score)) for r in self.rows),
            caption="quantized vs float (speedup: median of interleaved rounds, 95% interval)")

    def plot(self) -> go.Figure:
        """Size and p50 latency relative to the float model (1.0 = unchanged)."""
        import plotly.graph_objects as go

        base = self.rows[0]
        names = [r.name for r in self.rows]
        fig = go.Figure([
            go.Bar(name="size ratio", x=names, y=[r.size_bytes / base.size_bytes
                                                  for r in self.rows]),
            go.Bar(name="p50 latency ratio", x=names, y=[r.p50_ms / base.p50_ms
                                                         for r in self.rows])])
        if all(r.score is not None for r in self.rows):
            for r in self.rows:
                fig.add_annotation(x=r.name, y=0, text=f"acc {r.score:.1%}", showarrow=False,
                                   yshift=-10)
        fig.update_layout(barmode="group", title="quantized vs float (lower is better)",
                          yaxis_title="ratio to the float model")
        return fig


def _pct(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def assess(float_model: ModelLike, quantized: ModelLike | Sequence[ModelLike],
           data: Mapping[str, np.ndarray] | np.ndarray, *, labels: np.ndarray | None = None,
           threads: int | None = None, batch: int = LATENCY_BATCH, rounds: int = 5,
           max_rounds: int = 30, runs: int | None = None, budget_s: float = 20.0,
           cluster: Any = None) -> QuantAssessment:
    """Measure quantized variants beside the float model on the same data.

    Every model is timed in the same interleaved rounds (:func:`onnxkit.bench.measure`),
    so a change in machine load hits them alike; each speedup carries its 95% interval.

    Args:
        data: feeds (or one array for a single-input model); all rows are used for error and
            accuracy, the first ``batch`` rows (default 1) for latency.
        labels: true classes of ``data``'s rows, for accuracy (first output's argmax, or the
            first output itself when it holds labels).
        rounds, max_rounds, runs, budget_s: the timing: at least ``rounds`` rounds, more until
            the fastest separates from the float model, ``max_rounds`` or ``budget_s``.
        cluster: an :func:`onnxkit.cluster.connect` cluster: the error and accuracy are then
            computed on its workers, with the same figures as here (:func:`onnxkit.evaluate`
            over every output). Latency is measured here.
    """

    reference = load(float_model)
    variants: list[Any] = ([quantized] if not isinstance(quantized, (list, tuple))
                           else list(quantized))
    models = [reference] + [load(q) for q in variants]
    feeds = validate_feeds(graph_inputs(reference.proto.graph), data)
    if labels is not None and len(labels) != len(next(iter(feeds.values()))):
        raise InputError(f"assess: {len(labels)} labels for "
                         f"{len(next(iter(feeds.values())))} rows of data; they must match.")
    rows_per_run = integer(batch, "assess", "batch")
    timing, _ = measure_models(
        {str(i): m for i, m in enumerate(models)}, {k: v[:rows_per_run] for k, v in feeds.items()},
        threads=threads, where="assess", min_rounds=rounds, max_rounds=max_rounds, runs=runs,
        budget_s=budget_s)
    rows = []
    for i, model in enumerate(models):
        q = quality(model, reference, feeds, labels=labels, cluster=cluster)
        rows.append(AssessedModel(model.name, str(model.path), model.size_bytes,
                                  timing.percentile(str(i), 50), timing.speedup(str(i)),
                                  q.max_abs_err, q.cosine, q.agreement, q.score))
    return QuantAssessment(tuple(rows))
