"""``compare``: do two models (or a model and expected arrays) agree, output by output?"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx

from onnxkit.base import Params
from onnxkit.errors import ParameterError
from onnxkit.models import Model, load
from onnxkit.results import Result, html_table
from onnxkit.runtime import Feeds, Providers, random_inputs, run

if TYPE_CHECKING:
    import plotly.graph_objects as go

Outputs = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class OutputDiff(Result):
    """How one output of the candidate differs from the reference."""

    name: str
    passed: bool
    reason: str  # why it failed, "" when it passed
    shape: tuple[int, ...] | None
    max_abs: float | None = None
    max_rel: float | None = None
    mean_abs: float | None = None
    cosine: float | None = None
    argmax_agreement: float | None = None  # share of rows whose top class agrees
    mismatches: int = 0  # elements out of tolerance (or unequal, for exact outputs)
    nan_reference: int = 0
    nan_candidate: int = 0
    inf_reference: int = 0
    inf_candidate: int = 0


@dataclass(frozen=True)
class Comparison(Result):
    """Result of :func:`compare`: truthy only when every output is within tolerance."""

    reference: str
    candidate: str
    rtol: float
    atol: float
    outputs: tuple[OutputDiff, ...]

    def __bool__(self) -> bool:
        return all(o.passed for o in self.outputs)

    @property
    def failed(self) -> tuple[OutputDiff, ...]:
        return tuple(o for o in self.outputs if not o.passed)

    def to_dict(self) -> dict[str, Any]:
        return {"passed": bool(self), **super().to_dict()}

    def _rows(self) -> list[dict[str, Any]]:
        return [o.to_dict() for o in self.outputs]

    def __repr__(self) -> str:
        verdict = "passed" if self else f"FAILED ({len(self.failed)} of {len(self.outputs)})"
        lines = [f"Comparison {self.candidate} vs {self.reference} (rtol={self.rtol:g}, "
                 f"atol={self.atol:g}): {verdict}"]
        for o in self.outputs:
            mark = "ok  " if o.passed else "FAIL"
            lines.append(f"  {mark} {o.name}: {_describe(o)}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = [(o.name, "ok" if o.passed else "FAIL", o.reason or "", _fmt(o.max_abs),
                 _fmt(o.max_rel), _fmt(o.mean_abs), _fmt(o.cosine, 6),
                 _fmt(o.argmax_agreement, 4), o.mismatches,
                 f"{o.nan_reference}/{o.nan_candidate}") for o in self.outputs]
        verdict = "passed" if self else "FAILED"
        return html_table(
            ("output", "result", "why", "max abs", "max rel", "mean abs", "cosine",
             "argmax agree", "out of tol", "NaN ref/cand"), rows,
            caption=f"{self.candidate} vs {self.reference}: {verdict} "
                    f"(rtol={self.rtol:g}, atol={self.atol:g})",
            bad=(not o.passed for o in self.outputs))

    def plot(self) -> go.Figure:
        """Max absolute error per output (log scale), failures in red."""
        import plotly.graph_objects as go

        fig = go.Figure(go.Bar(
            x=[o.name for o in self.outputs], y=[o.max_abs or 0.0 for o in self.outputs],
            marker_color=["#2a9d8f" if o.passed else "#e63946" for o in self.outputs]))
        fig.update_layout(title=f"{self.candidate} vs {self.reference}: max abs error",
                          yaxis={"type": "log", "title": "max |candidate - reference|"})
        return fig


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def _describe(o: OutputDiff) -> str:
    if o.max_abs is None:  # exact outputs (labels, ints, strings)
        return o.reason or "equal"
    parts = [f"max abs {_fmt(o.max_abs)}", f"max rel {_fmt(o.max_rel)}"]
    if o.argmax_agreement is not None:
        parts.append(f"argmax agreement {o.argmax_agreement:.2%}")
    return (o.reason + "; " if o.reason else "") + ", ".join(parts)


def compare(reference: Any, candidate: Any, feeds: Feeds | None = None, *,
            rtol: float = 1e-3, atol: float = 1e-4, providers: Providers = None) -> Comparison:
    """Run both on the same feeds and compare every output of the reference.

    Args:
        reference: a model, or a dict of expected arrays (e.g. the source framework's outputs).
        candidate: a model, or a dict of arrays.
        feeds: inputs; default ``random_inputs`` of the first model given. Required when the
            reference is a dict and the candidate a model.
        rtol, atol: an element passes when ``|cand - ref| <= atol + rtol * |ref|``. Integer,
            bool and string outputs must match exactly.

    Examples:
        >>> import onnxkit
        >>> tiny = onnxkit.samples.tiny_model()
        >>> bool(onnxkit.compare(tiny, tiny))
        True
    """
    arg = Params("compare")
    rtol, atol = arg.number(rtol, "rtol", low=0), arg.number(atol, "atol", low=0)
    models = [x for x in (reference, candidate) if not isinstance(x, Mapping)]
    if feeds is None and models and isinstance(reference, Mapping):
        raise ParameterError("compare: the reference is a dict of arrays, so pass the feeds "
                             "that produced it (feeds=...).")
    if feeds is None and models:
        feeds = random_inputs(models[0])
    ref, ref_name = _outputs(reference, feeds, providers)
    cand, cand_name = _outputs(candidate, feeds, providers)
    diffs = tuple(_diff(name, ref[name], cand.get(name), rtol, atol) for name in ref)
    return Comparison(ref_name, cand_name, rtol, atol, diffs)


def _outputs(source: Any, feeds: Feeds | None, providers: Providers) -> tuple[Outputs, str]:
    if isinstance(source, Mapping):
        return {k: np.asarray(v) for k, v in source.items()}, "expected"
    if not isinstance(source, (str, bytes, Model, onnx.ModelProto)) and not hasattr(
            source, "__fspath__"):
        raise ParameterError(f"compare: reference and candidate are models or dicts of "
                             f"arrays; got {type(source).__name__}.")
    handle = load(source)
    return run(handle, feeds or {}, providers=providers), handle.name


def _diff(name: str, ref: np.ndarray, cand: np.ndarray | None, rtol: float, atol: float
          ) -> OutputDiff:
    if cand is None:
        return OutputDiff(name, False, "missing from the candidate", None)
    cand = np.asarray(cand)
    if ref.shape != cand.shape:
        return OutputDiff(name, False, f"shape {list(cand.shape)} != reference "
                          f"{list(ref.shape)}", ref.shape)
    dtype_note = "" if ref.dtype == cand.dtype else f"dtype {cand.dtype} != reference {ref.dtype}"
    if not (np.issubdtype(ref.dtype, np.number) and np.issubdtype(cand.dtype, np.number)) \
            or np.issubdtype(ref.dtype, np.integer) or ref.dtype == np.bool_:
        unequal = int((ref != cand).sum())
        differ = f"{unequal} element(s) differ" if unequal else ""
        reason = "; ".join(filter(None, [dtype_note, differ]))
        return OutputDiff(name, not reason, reason, ref.shape, mismatches=unequal)
    return _float_diff(name, ref.astype(np.float64), cand.astype(np.float64), rtol, atol,
                       dtype_note)


def _float_diff(name: str, ref: np.ndarray, cand: np.ndarray, rtol: float, atol: float,
                dtype_note: str) -> OutputDiff:
    nan_r, nan_c = int(np.isnan(ref).sum()), int(np.isnan(cand).sum())
    inf_r, inf_c = int(np.isinf(ref).sum()), int(np.isinf(cand).sum())
    finite = np.isfinite(ref) & np.isfinite(cand)
    err = np.abs(cand - ref)[finite]
    rel = err / np.maximum(np.abs(ref[finite]), np.finfo(np.float64).tiny)
    close = np.isclose(cand, ref, rtol=rtol, atol=atol, equal_nan=True)
    mismatches = int((~close).sum())
    reasons = [dtype_note]
    if nan_c > nan_r or inf_c > inf_r:
        reasons.append(f"{nan_c} NaN / {inf_c} Inf in the candidate vs {nan_r} / {inf_r}")
    if mismatches:
        reasons.append(f"{mismatches} element(s) out of tolerance")
    # float64: the squared norm of large float32 activations overflows
    flat_r, flat_c = ref[finite].astype(np.float64), cand[finite].astype(np.float64)
    norms = np.linalg.norm(flat_r) * np.linalg.norm(flat_c)
    cosine = float(flat_r @ flat_c / norms) if norms > 0 else (1.0 if err.size and not err.any()
                                                                else None)
    argmax = None
    if ref.ndim >= 2 and ref.shape[-1] > 1:  # class scores: does the top class agree?
        argmax = float((ref.argmax(-1) == cand.argmax(-1)).mean())
    reason = "; ".join(filter(None, reasons))
    return OutputDiff(
        name, not reason, reason, ref.shape,
        max_abs=float(err.max()) if err.size else 0.0,
        max_rel=float(rel.max()) if rel.size else 0.0,
        mean_abs=float(err.mean()) if err.size else 0.0, cosine=cosine, argmax_agreement=argmax,
        mismatches=mismatches, nan_reference=nan_r, nan_candidate=nan_c, inf_reference=inf_r,
        inf_candidate=inf_c)


def accuracy(predictions: np.ndarray, labels: Any) -> float:
    """Share of ``predictions`` (class labels, or class scores: their argmax) equal to
    ``labels``: what every accuracy figure in onnxkit is.

    Examples:
        >>> import numpy as np
        >>> from onnxkit.bench import accuracy
        >>> accuracy(np.array([[0.1, 0.9], [0.8, 0.2]]), np.array([1, 1]))
        0.5
    """
    predicted = predictions.argmax(-1) if predictions.ndim > 1 else predictions
    return float((predicted == np.asarray(labels)).mean())
