"""``Study.best``: the variant to ship under limits on accuracy, error and agreement, or the
reference when no variant is better beyond the measurement's spread."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from onnxkit.base import Params
from onnxkit.errors import ParameterError
from onnxkit.results import Result, html_table
from onnxkit.study import _render as render
from onnxkit.study._pick import pick
from onnxkit.study._render import value

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from onnxkit.study._study import Study, Variant

REFERENCE = "reference"
SPEED = ("p50_ms", "p90_ms", "speedup")  # columns where "better" must beat the noise
LOWER_IS_BETTER = ("p50_ms", "p90_ms", "load_ms", "size_mb", "size_ratio", "peak_mem_mb",
                   "max_abs_err")
HIGHER_IS_BETTER = ("speedup", "cosine", "agreement", "accuracy", "metric")
BEST_BY = LOWER_IS_BETTER + HIGHER_IS_BETTER  # the columns Study.best can rank by
# (parameter, limit, row -> its figure, +1 when the limit is a maximum, -1 a minimum)
Limit = tuple[str, float, Callable[["Variant"], "float | None"], int]


@dataclass(frozen=True)
class Choice(Result):
    """What :meth:`Study.best` answers: the variant to ship (possibly the reference) and why.

    It reads like the variant it names (``choice.name``, ``choice.model``, ``choice.speedup``,
    ``choice.score``...); ``why`` says how it was chosen, in a sentence. Shown in a notebook,
    it marks the choice in the study's table and Pareto chart (``plot()``)."""

    variant: Variant
    why: str
    study: Study = field(compare=False, repr=False)  # what it was chosen from, to draw it in

    @property
    def keeps_reference(self) -> bool:
        return self.variant.name == REFERENCE

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.variant, name)

    def to_dict(self) -> dict[str, Any]:
        return {"choice": self.variant.name, "why": self.why, "variant": self.variant.to_dict()}

    def __repr__(self) -> str:
        return f"Choice '{self.variant.name}': {self.why}"

    def _repr_html_(self) -> str:
        return html_table(("choice", self.variant.name), [("why", self.why)]) + \
            render.html(self.study, chosen=self.variant.name)

    def plot(self) -> go.Figure:
        """The study's Pareto chart with the chosen variant marked."""
        return render.pareto_figure(self.study, chosen=self.variant.name)


def choose(study: Study, *, max_accuracy_drop: float | None, max_error: float | None,
           min_agreement: float | None, by: str, min_speedup: float) -> Choice:
    """See :meth:`onnxkit.Study.best`."""
    arg = Params("Study.best")
    arg.one_of(by, BEST_BY, "by")
    arg.number(min_speedup, "min_speedup", low=1.0)
    limits = _limits(study, max_accuracy_drop, max_error, min_agreement)
    candidates = [r for r in study.rows() if r.name != REFERENCE]
    if not candidates:
        raise ParameterError("Study.best: the study has no variants yet; add(name, model) some "
                             "first.")
    portable = [r for r in candidates if not r.diverges]  # same outputs on every platform
    ok = [r for r in portable if all(_within(get(r), limit, sign)
                                     for _, limit, get, sign in limits)]
    if not ok:
        return _keep(study, _none_qualifies(candidates, limits) if portable
                     else _diverging(candidates))
    if by in SPEED:
        return _fastest(study, ok, min_speedup, candidates)
    sign = -1 if by in HIGHER_IS_BETTER else 1
    ranked = [(sign * v, r) for r in ok
              if (v := value(study, r, by)) is not None and not math.isnan(v)]
    if not ranked:
        raise ParameterError(f"Study.best(by={by!r}): no variant within the limits has a {by} "
                             "figure; pick another column.")
    chosen = min(ranked, key=lambda kr: kr[0])[1]
    return Choice(chosen, f"the best {by} ({_figure(study, chosen, by)}) of the {len(ok)} "
                          f"variant(s) within the limits{_left_out(candidates)}", study)


def _fastest(study: Study, ok: list[Variant], min_speedup: float,
             candidates: list[Variant]) -> Choice:
    """By :func:`~onnxkit.study._pick.pick`'s rule, confirmed with :meth:`Study.confirm`."""
    found = pick(ok, min_speedup=min_speedup, confirm=lambda r: study.confirm(r.name))
    if found.winner is None:
        return _keep(study, found.why + _left_out(candidates))
    return Choice(found.winner, found.why + _left_out(candidates), study)


def _left_out(candidates: list[Variant]) -> str:
    """The variants left out because they diverge on another platform, as a clause."""
    out = [f"'{r.name}' (diverges on {', '.join(r.diverges)})" for r in candidates
           if r.diverges]
    return f"; left out: {', '.join(out)}" if out else ""


def _keep(study: Study, why: str) -> Choice:
    return Choice(study[REFERENCE], f"keep the reference: {why}", study)


def _figure(study: Study, row: Variant, by: str) -> str:
    v = value(study, row, by)
    return "-" if v is None else f"{v:.4g}"


def _limits(study: Study, max_drop: float | None, max_error: float | None,
            min_agreement: float | None) -> list[Limit]:
    ref = study["reference"]
    limits: list[Limit] = []
    for label, limit, get, sign, available in (
            ("max_accuracy_drop", max_drop, lambda r: _drop(ref.score, r.score), 1, ref.score),
            ("max_error", max_error, lambda r: r.max_abs_err, 1, ref.max_abs_err),
            ("min_agreement", min_agreement, lambda r: r.agreement, -1, ref.agreement)):
        if limit is None:
            continue
        if not isinstance(limit, (int, float)) or isinstance(limit, bool):
            raise ParameterError(f"Study.best({label}=...) must be a number; got {limit!r}.")
        if available is None:
            what = {"max_accuracy_drop": "labels or a metric",
                    "max_error": "float outputs"}.get(label, "class scores or labels")
            raise ParameterError(f"Study.best({label}=...) needs {what}, and this study has "
                                 "none. Drop the limit, or build the Study with them.")
        limits.append((label, float(limit), get, sign))
    return limits


def _drop(ref: float | None, score: float | None) -> float | None:
    return None if ref is None or score is None else ref - score


def _within(figure: float | None, limit: float, sign: int) -> bool:
    return figure is not None and sign * figure <= sign * limit


def _diverging(candidates: list[Variant]) -> str:
    names = ", ".join(f"'{r.name}' on {', '.join(r.diverges)}" for r in candidates)
    return f"every variant's outputs diverge on another platform beyond tolerance ({names})"


def _none_qualifies(candidates: list[Variant], limits: list[Limit]) -> str:
    parts = []
    for label, limit, get, sign in limits:
        known = [(f, r.name) for r in candidates if (f := get(r)) is not None]
        if not known:
            parts.append(f"{label}={limit:g}: no variant has this figure")
            continue
        figure, name = min(known, key=lambda fn: sign * fn[0])
        parts.append(f"{label}={limit:g}: the best available is {figure:.4g} ('{name}')")
    return "no variant meets every limit (" + "; ".join(parts) + "); loosen a limit to see more"
