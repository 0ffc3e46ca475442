"""What :func:`onnxkit.quantize.tune` found: every candidate, and the one to ship."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from onnxkit.bench import Speedup
from onnxkit.models import Model, load
from onnxkit.quantize import Preflight
from onnxkit.results import Result, html_table
from onnxkit.study._labels import place_labels
from onnxkit.study._pick import pick
from onnxkit.study._render import axis_range

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go


@dataclass(frozen=True)
class Candidate(Result):
    """One model :func:`tune` tried: its recipe, its speedup over the float model (paired
    within interleaved rounds, with its 95% interval), and its error and score on the data
    (the same figures as :class:`~onnxkit.Study`'s, from :func:`onnxkit.evaluate`)."""

    recipe: str
    params: dict[str, Any]
    model: str  # the file ('' when the recipe failed)
    size_bytes: int
    p50_ms: float | None = None
    speedup: Speedup | None = None  # None when the recipe failed
    max_abs_err: float | None = None
    cosine: float | None = None
    agreement: float | None = None
    score: float | None = None
    meets: bool = False  # within the accuracy (or error) budget
    error: str = ""  # why the recipe failed
    # with tune(platforms=...): platform -> "" (same outputs there) or how they diverge
    platforms: dict[str, str] = field(default_factory=dict)

    @property
    def diverges(self) -> list[str]:
        """The platforms where its outputs differ from this machine's beyond tolerance."""
        return [p for p, why in self.platforms.items() if why]

    @property
    def name(self) -> str:
        return self.recipe

    @property
    def verdict(self) -> str:
        return "failed" if self.speedup is None else self.speedup.verdict

    @property
    def code(self) -> str:
        """The onnxkit call that builds this candidate from ``model`` (and ``calibration``)."""
        first, _, then = self.recipe.partition(" + ")
        source = recipe_call(first, self.params, "model")
        return recipe_call(then, {}, source) if then else source


def recipe_call(recipe: str, params: dict[str, Any], model: str) -> str:
    """Python source for one of tune's recipes applied to the expression ``model``."""
    if recipe.startswith("static"):
        extra = ", format='qoperator'" if recipe == "static-qoperator" else ""
        if params.get("exclude"):
            extra += f", exclude={params['exclude']!r}"
        return f"onnxkit.quantize.static({model}, calibration, per_channel=True{extra})"
    return {"dynamic": f"onnxkit.quantize.dynamic({model})",
            "int4": f"onnxkit.quantize.weight_only({model})",
            "fp16": f"onnxkit.to_fp16({model})",
            "fused": f"onnxkit.fuse_transformer({model})",
            "pruned-25": f"onnxkit.prune.structured({model}, {params.get('ratio', 0.25)})"
            }.get(recipe, f"{model}  # {recipe}")


@dataclass(frozen=True)
class TuningResult(Result):
    """The search's answer (``best``; None means keep the float model), ``why``, and the
    trail of every candidate in the order tried."""

    reference: Model
    best: Model | None
    why: str
    candidates: tuple[Candidate, ...]
    preflight: Preflight
    reference_score: float | None
    max_accuracy_drop: float | None
    max_error: float | None
    seconds: float
    stopped: str  # "tried every recipe", "time budget spent", "cancelled"
    winner: Candidate | None = field(default=None, repr=False)

    @classmethod
    def of(cls, reference: Model, trail: list[Candidate], checks: Preflight,
           ref_score: float | None, max_drop: float | None, max_error: float | None,
           seconds: float, stopped: str, min_speedup: float = 1.05,
           confirm: Callable[[Candidate], Speedup] | None = None) -> TuningResult:
        """The answer, by :meth:`onnxkit.Study.best`'s rule (:func:`onnxkit.study._pick.pick`),
        among the candidates within the budget; ``confirm`` times the pick again."""
        within = [c for c in trail if c.meets and not c.diverges]
        found = pick(within, min_speedup=min_speedup, confirm=confirm,
                     reference="the float model")
        apart = [f"'{c.recipe}' (diverges on {', '.join(c.diverges)})" for c in trail
                 if c.meets and c.diverges]
        left_out = f"; left out: {', '.join(apart)}" if apart else ""
        if found.winner is None:
            why = "keep the float model: " + (
                "no candidate met the budget" if not within else found.why) + left_out
            return cls(reference, None, why, tuple(trail), checks, ref_score, max_drop,
                       max_error, seconds, stopped)
        winner = found.winner
        return cls(reference, load(winner.model), f"'{winner.recipe}': {found.why}{left_out}",
                   tuple(trail), checks, ref_score, max_drop, max_error, seconds, stopped,
                   winner)

    def table(self) -> pd.DataFrame:
        import pandas as pd

        none = dict.fromkeys(("speedup", "speedup_low", "speedup_high"))
        rows = [{"recipe": c.recipe, "meets": c.meets,
                 **(none if c.speedup is None else c.speedup.columns()),
                 "verdict": c.verdict, "p50_ms": c.p50_ms, "score": c.score,
                 "max_abs_err": c.max_abs_err, "size_mb": c.size_bytes / 1e6,
                 "note": c.error or "; ".join(filter(None, [
                     ", ".join(f"{k}={v}" for k, v in c.params.items()),
                     *(f"diverges on {p}: {why}" for p, why in c.platforms.items() if why)]))}
                for c in self.candidates]
        return pd.DataFrame(rows)

    def plot(self) -> go.Figure:
        """The trail: speedup (x, with its interval) against score or error (y); the budget
        is the dashed line, the winner circled."""
        import plotly.graph_objects as go

        done = [(c, c.speedup) for c in self.candidates if c.speedup is not None]
        by_error = self.max_error is not None or self.reference_score is None
        ys = [c.max_abs_err if by_error else c.score for c, _ in done]
        line = self.max_error if by_error else (self.reference_score or 0) - (
            self.max_accuracy_drop or 0)
        x_range = axis_range([1.0, *(s.low for _, s in done), *(s.high for _, s in done)])
        y_range = axis_range([y for y in [*ys, line] if y is not None])
        names = [c.recipe for c, _ in done]
        winner = [self.winner.recipe] if self.winner is not None else []
        texts, places = place_labels(
            names, [s.median for _, s in done], [y if y is not None else 0.0 for y in ys],
            x_range=x_range or [0, 1], y_range=y_range or [0, 1], first=winner)
        fig = go.Figure(go.Scatter(
            x=[s.median for _, s in done], y=ys, mode="markers+text", hovertext=names,
            text=texts, textposition=places, cliponaxis=False,
            marker={"color": ["#2a9d8f" if c.meets else "#e76f51" for c, _ in done],
                    "size": 10},
            error_x={"type": "data", "symmetric": False,
                     "array": [s.high - s.median for _, s in done],
                     "arrayminus": [s.median - s.low for _, s in done]},
            name="candidates"))
        fig.add_hline(y=line, line_dash="dash", annotation_text="budget")
        fig.add_vline(x=1.0, line_dash="dot", annotation_text="float32")
        if self.winner is not None and self.winner.speedup is not None:
            fig.add_trace(go.Scatter(x=[self.winner.speedup.median], y=[
                self.winner.max_abs_err if by_error else self.winner.score], mode="markers",
                marker={"size": 22, "symbol": "circle-open", "color": "black"}, name="best"))
        fig.update_layout(title=f"tuning '{self.reference.name}': {self.why}",
                          xaxis={"title": "speedup vs float32 (95% interval)",
                                 "range": x_range},
                          yaxis={"title": "max abs error" if by_error else "score",
                                 "range": y_range})
        return fig

    def to_dict(self) -> dict[str, Any]:
        return {"reference": str(self.reference.path), "best": None if self.best is None
                else str(self.best.path), "why": self.why, "stopped": self.stopped,
                "seconds": self.seconds, "reference_score": self.reference_score,
                "preflight": self.preflight.to_dict(),
                "candidates": [c.to_dict() for c in self.candidates]}

    def __repr__(self) -> str:
        lines = [f"TuningResult for '{self.reference.name}': {self.why} ({len(self.candidates)}"
                 f" candidates, {self.seconds:.0f} s, {self.stopped})"]
        for c in self.candidates:
            speed = "failed" if c.speedup is None else str(c.speedup)
            score = "" if c.score is None else f", score {c.score:.4f}"
            apart = "".join(f", diverges on {p}" for p in c.diverges)
            lines.append(f"  {'ok ' if c.meets and not c.diverges else '-- '}{c.recipe}: "
                         f"{speed}{score}{apart}{', ' + c.error[:80] if c.error else ''}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = [(c.recipe, "yes" if c.meets else "no", "-" if c.speedup is None else
                 str(c.speedup),
                 "-" if c.score is None else f"{c.score:.4f}",
                 "-" if c.max_abs_err is None else f"{c.max_abs_err:.3g}",
                 f"{c.size_bytes / 1e6:.3f}", c.error[:120]) for c in self.candidates]
        return html_table(("recipe", "in budget", "speedup [95%]", "score", "max abs err",
                           "MB", "error"), rows, bad=[r[1] == "no" for r in rows],
                          caption=f"tuning '{self.reference.name}': {self.why}")
