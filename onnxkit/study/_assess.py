"""``assess``: a quantized model beside its float model — size, speed, error, accuracy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from onnxkit.base import graph_inputs, integer
from onnxkit.errors import InputError
from onnxkit.models import ModelLike, load
from onnxkit.results import Result, fmt_bytes, html_table
from onnxkit.runtime import (
    accuracy,
    compare,
    evaluate,
    measure_models,
    run,
    speed_verdict,
    validate_feeds,
)

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

LATENCY_BATCH = 1  # rows of the data each timed run takes, unless batch= says otherwise


@dataclass(frozen=True)
class AssessedModel(Result):
    """One row of :class:`QuantAssessment`; errors are of the first output, vs the float model;
    ``speedup`` is the float model's time over this one's (median of interleaved rounds) and
    ``speedup_low``/``speedup_high`` its 95% interval."""

    name: str
    path: str
    size_bytes: int
    p50_ms: float
    max_abs: float
    cosine: float | None
    top1_agreement: float | None
    accuracy: float | None
    speedup: float = 1.0
    speedup_low: float = 1.0
    speedup_high: float = 1.0
    speedup_confidence: float = 0.95  # what the interval covers (less with under 6 rounds)

    @property
    def verdict(self) -> str:
        """``"faster"``/``"slower"`` than the float model beyond the spread, else
        ``"indistinguishable"`` (see :func:`onnxkit.runtime.speed_verdict`)."""
        return speed_verdict(self.speedup_low, self.speedup_high, self.speedup_confidence)


@dataclass(frozen=True)
class QuantAssessment(Result):
    """Result of :func:`assess`: the float model first, then each quantized variant."""

    rows: tuple[AssessedModel, ...]

    def table(self) -> pd.DataFrame:
        """One row per model (the float model first), with size and p50 ratios to it."""
        import pandas as pd

        frame = pd.DataFrame([r.to_dict() for r in self.rows]).set_index("name")
        base = self.rows[0]
        frame["size_ratio"] = frame["size_bytes"] / base.size_bytes
        frame["p50_ratio"] = frame["p50_ms"] / base.p50_ms
        frame["verdict"] = [r.verdict if i else "" for i, r in enumerate(self.rows)]
        return frame.drop(columns="path")

    def __repr__(self) -> str:
        base = self.rows[0]
        lines = ["QuantAssessment (ratios vs the float model)"]
        for r in self.rows:
            acc = f", accuracy {r.accuracy:.2%}" if r.accuracy is not None else ""
            top1 = f", top-1 agreement {r.top1_agreement:.2%}" if r.top1_agreement is not None \
                else ""
            lines.append(f"  {r.name}: size {r.size_bytes / base.size_bytes:.2f}x, p50 "
                         f"{r.p50_ms:.3f} ms, speedup {_speed(r)}, max abs err "
                         f"{r.max_abs:.3g}{top1}{acc}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        base = self.rows[0]
        return html_table(
            ("model", "size", "size ratio", "p50 ms", "speedup [95%]", "max abs err", "cosine",
             "top-1 agreement", "accuracy"),
            ((r.name, fmt_bytes(r.size_bytes), f"{r.size_bytes / base.size_bytes:.2f}",
              f"{r.p50_ms:.3f}", _speed(r), f"{r.max_abs:.3g}",
              _pct(r.cosine, 6), _pct(r.top1_agreement), _pct(r.accuracy)) for r in self.rows),
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
        if all(r.accuracy is not None for r in self.rows):
            for r in self.rows:
                fig.add_annotation(x=r.name, y=0, text=f"acc {r.accuracy:.1%}", showarrow=False,
                                   yshift=-10)
        fig.update_layout(barmode="group", title="quantized vs float (lower is better)",
                          yaxis_title="ratio to the float model")
        return fig


def _speed(r: AssessedModel) -> str:
    return f"{r.speedup:.2f}x [{r.speedup_low:.2f}, {r.speedup_high:.2f}]"


def _pct(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def assess(float_model: ModelLike, quantized: ModelLike | Sequence[ModelLike],
           data: Mapping[str, np.ndarray] | np.ndarray, *, labels: np.ndarray | None = None,
           threads: int | None = None, batch: int = LATENCY_BATCH, rounds: int = 5,
           max_rounds: int = 30, runs: int | None = None, budget_s: float = 20.0,
           cluster: Any = None) -> QuantAssessment:
    """Measure quantized variants beside the float model on the same data.

    Every model is timed in the same interleaved rounds (:func:`onnxkit.runtime.measure`),
    so a change in machine load hits them alike; each speedup carries its 95% interval.

    Args:
        data: feeds (or one array for a single-input model); all rows are used for error and
            accuracy, the first ``batch`` rows (default 1) for latency.
        labels: true classes of ``data``'s rows, for accuracy (first output's argmax, or the
            first output itself when it holds labels).
        rounds, max_rounds, runs, budget_s: the timing: at least ``rounds`` rounds, more until
            the fastest separates from the float model, ``max_rounds`` or ``budget_s``.
        cluster: an :func:`onnxkit.cluster.connect` cluster: the error and accuracy are then
            computed on its workers (:func:`onnxkit.evaluate`; the error is over every float
            output, not only the first). Latency is measured here.
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
    for i, (model, quality) in enumerate(zip(models, _qualities(reference, models, feeds,
                                                                  labels, cluster))):
        fast = timing.speedup(str(i))
        rows.append(AssessedModel(
            name=model.name, path=str(model.path), size_bytes=model.size_bytes,
            p50_ms=timing.percentile(str(i), 50), **quality,
            speedup=fast.median, speedup_low=fast.low, speedup_high=fast.high,
            speedup_confidence=fast.confidence))
    return QuantAssessment(tuple(rows))


def _qualities(reference: Any, models: list[Any], feeds: dict[str, np.ndarray], labels: Any,
               cluster: Any) -> list[dict[str, Any]]:
    """Error of each model's outputs vs the float model's, and accuracy: here (the first
    output), or on the cluster."""
    if cluster is not None:
        found = [evaluate(m, feeds, labels=labels, reference=reference, cluster=cluster)
                 for m in models]
        return [{"max_abs": e.max_abs_err or 0.0, "cosine": e.cosine,
                 "top1_agreement": e.agreement, "accuracy": e.score} for e in found]
    expected = run(reference, feeds)
    out = []
    for model in models:
        outputs = run(model, feeds)
        diff = compare(expected, outputs, rtol=0, atol=0).outputs[0]
        first = next(iter(outputs.values()))
        out.append({"max_abs": diff.max_abs or 0.0, "cosine": diff.cosine,
                    "top1_agreement": diff.argmax_agreement,
                    "accuracy": None if labels is None else accuracy(first, labels)})
    return out

