"""``Study.best``: the best variant under limits on accuracy, error and agreement."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from onnxkit.errors import ParameterError
from onnxkit.study._render import value

if TYPE_CHECKING:
    from onnxkit.study._study import Study, Variant

LOWER_IS_BETTER = ("p50_ms", "p90_ms", "load_ms", "size_mb", "size_ratio", "peak_mem_mb",
                   "max_abs_err")
HIGHER_IS_BETTER = ("speedup", "cosine", "agreement", "accuracy", "metric")
BEST_BY = LOWER_IS_BETTER + HIGHER_IS_BETTER  # the columns Study.best can rank by
# (parameter, limit, row -> its figure, +1 when the limit is a maximum, -1 a minimum)
Limit = tuple[str, float, Callable[["Variant"], "float | None"], int]


def choose(study: Study, *, max_accuracy_drop: float | None, max_error: float | None,
         min_agreement: float | None, by: str) -> Variant:
    """See :meth:`onnxkit.Study.best`."""
    if by not in LOWER_IS_BETTER + HIGHER_IS_BETTER:
        raise ParameterError(f"Study.best(by=...) must be one of "
                             f"{list(LOWER_IS_BETTER + HIGHER_IS_BETTER)}; got {by!r}.")
    limits = _limits(study, max_accuracy_drop, max_error, min_agreement)
    candidates = [r for r in study.rows() if r.name != "reference"]
    if not candidates:
        raise ParameterError("Study.best: the study has no variants yet; add(name, model) some "
                             "first.")
    ok = [r for r in candidates if all(_within(get(r), limit, sign)
                                       for _, limit, get, sign in limits)]
    sign = -1 if by in HIGHER_IS_BETTER else 1
    ranked = [(sign * v, r) for r in ok
              if (v := value(study, r, by)) is not None and not math.isnan(v)]
    if not ranked:
        raise ParameterError(_none_qualifies(candidates, limits, by, bool(ok)))
    return min(ranked, key=lambda kr: kr[0])[1]


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


def _none_qualifies(candidates: list[Variant], limits: list[Limit], by: str, some_ok: bool
                    ) -> str:
    if some_ok:
        return (f"Study.best(by={by!r}): no variant within the limits has a {by} figure; pick "
                "another column.")
    parts = []
    for label, limit, get, sign in limits:
        known = [(f, r.name) for r in candidates if (f := get(r)) is not None]
        if not known:
            parts.append(f"{label}={limit:g}: no variant has this figure")
            continue
        figure, name = min(known, key=lambda fn: sign * fn[0])
        parts.append(f"{label}={limit:g}: the best available is {figure:.4g} ('{name}')")
    return ("Study.best: no variant meets every limit; " + "; ".join(parts)
            + ". Loosen a limit, or keep the reference.")
