"""``evaluate``: a model over a data set in batches — accuracy or the user's metric, and the
error against a reference model — here, or on a cluster.

Each batch is reduced to a few sums where it runs (rows, correct answers, the metric times
rows, the largest error, dot products for the cosine, agreeing top-1 classes), so only those
travel back, and the result is the same however the batches were spread. Data can be
arrays (cut into batches), an iterator of batches (streamed: the driver holds a few at a
time), or a ``ray.data.Dataset``.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sized
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from onnxkit.base import graph_inputs, integer
from onnxkit.bench._compare import accuracy
from onnxkit.errors import InputError, ParameterError
from onnxkit.models import ModelLike, load
from onnxkit.results import Result
from onnxkit.runtime import Providers, create_session, resolve, run_session, validate_feeds

Metric = Callable[[dict[str, np.ndarray], Any], float]
Progress = Callable[[int, int | None], None]  # (batches done, total or None when unknown)
Batch = tuple[dict[str, np.ndarray], Any]  # (feeds, labels or None)


class Executor(Protocol):
    """What runs the batches elsewhere (:class:`onnxkit.cluster.Cluster` is one)."""

    def map_batches(self, task: Callable[..., dict[str, Any]], shared: dict[str, Any],
                    batches: Iterable[Batch], progress: Callable[[], None]
                    ) -> tuple[list[dict[str, Any]], dict[str, Any]]: ...


@dataclass(frozen=True)
class Evaluation(Result):
    """What :func:`evaluate` measured over every row of the data."""

    model: str
    rows: int
    batches: int
    score: float | None  # accuracy (with labels) or the metric (its row-weighted mean)
    score_name: str | None
    max_abs_err: float | None  # vs the reference, over every float output
    cosine: float | None  # the lowest over the float outputs
    agreement: float | None  # top-1 agreement with the reference (or equal labels)
    seconds: float
    where: str  # "local", or the cluster that ran it
    retried: int = 0  # batches run again after a worker died

    def __repr__(self) -> str:
        parts = [f"{self.rows} rows in {self.batches} batches, {self.seconds:.1f} s, "
                 f"{self.where}"]
        if self.score is not None:
            parts.append(f"{self.score_name} {self.score:.4g}")
        if self.max_abs_err is not None:
            parts.append(f"max abs err {self.max_abs_err:.3g}")
        if self.agreement is not None:
            parts.append(f"agreement {self.agreement:.2%}")
        if self.retried:
            parts.append(f"{self.retried} batch(es) retried")
        return f"Evaluation of '{self.model}': " + ", ".join(parts)


def evaluate(model: ModelLike, data: Any, *, labels: Any = None, metric: Metric | None = None,
             reference: ModelLike | None = None, batch: int = 256,
             providers: Providers = None, threads: int | None = None, cluster: Any = None,
             progress: Progress | None = None) -> Evaluation:
    """Run ``model`` over ``data`` in batches and reduce the outputs to figures.

    Args:
        data: a dict of arrays (or one array for a single-input model) whose rows are samples;
            an iterable of batches (dicts, arrays, or ``(feeds, labels)`` pairs), streamed; or
            a ``ray.data.Dataset`` (its columns named after the inputs).
        labels: the true class of each row (arrays data), or the label column's name (a
            ``ray.data.Dataset``): adds accuracy (argmax of the first output).
        metric: ``metric(outputs, labels) -> float`` per batch, higher is better; the result
            is its mean weighted by rows (so it must be a mean over rows, like accuracy).
        reference: a model to compare against on the same batches: max abs error, cosine and
            top-1 agreement of the outputs.
        batch: rows per batch when ``data`` holds arrays.
        cluster: ``None`` runs here; an :class:`onnxkit.cluster.Cluster` runs the batches on
            its workers (one session per worker, re-used across batches).
        progress: ``progress(done, total)`` after each batch (``total`` None when unknown); it
            may raise :class:`~onnxkit.errors.Cancelled` to stop.

    Examples:
        >>> import onnxkit
        >>> s = onnxkit.samples.digits_cnn()
        >>> e = onnxkit.evaluate(s.model, s.inputs["image"], labels=s.labels, batch=100)
        >>> e.rows, e.batches, e.score > 0.9
        (450, 5, True)
    """
    if metric is not None and not callable(metric):
        raise ParameterError("evaluate(metric=...) must be a function (outputs, labels) -> "
                             f"float; got {type(metric).__name__}.")
    integer(batch, "evaluate", "batch")
    handle = load(model)
    ref = load(reference) if reference is not None else None
    batches, total = _batches(handle, data, labels, batch)
    started = time.perf_counter()
    extra: dict[str, Any] = {"where": "local", "retried": 0}
    if cluster is None:
        parts = _run_here(handle, ref, batches, metric, providers, threads, progress, total)
    else:
        shared = {"model": _serialized(handle), "reference": _serialized(ref) if ref else None,
                  "metric": metric, "threads": threads}
        done = itertools.count(1)
        parts, extra = cluster.map_batches(
            batch_stats_remote, shared, batches,
            lambda: progress(next(done), total) if progress else None)
    if not parts:
        raise InputError("evaluate: the data hold no rows.")
    return _summary(handle.name, parts, score_name=_score_name(parts, metric),
                    seconds=time.perf_counter() - started, **extra)


def _score_name(parts: list[dict[str, Any]], metric: Metric | None) -> str | None:
    """What the score is: the metric, accuracy when every batch came with labels (arrays
    with ``labels=``, or ``(feeds, labels)`` pairs), else none."""
    if metric is not None:
        return "metric"
    labelled = sum(p["correct"] is not None for p in parts)
    if 0 < labelled < len(parts):
        raise InputError(f"evaluate: {labelled} of {len(parts)} batches came with labels; give "
                         "every batch its labels (a (feeds, labels) pair), or none.")
    return "accuracy" if labelled else None


# --- the data, in batches ---------------------------------------------------------------------

def _batches(model: Any, data: Any, labels: Any, size: int) -> tuple[Iterator[Batch], int | None]:
    inputs = graph_inputs(model.proto.graph)
    if _is_ray_dataset(data):
        return _from_dataset(data, labels, size), None
    if isinstance(data, (np.ndarray, Mapping)):
        arrays = validate_feeds(inputs, data)
        rows = len(next(iter(arrays.values())))
        if labels is not None and len(labels) != rows:
            raise InputError(f"evaluate: {len(labels)} labels for {rows} rows of data; there "
                             "must be one label per row.")
        starts = range(0, rows, size)
        return ((({k: v[i:i + size] for k, v in arrays.items()},
                  None if labels is None else np.asarray(labels)[i:i + size]) for i in starts),
                len(starts))
    if isinstance(data, Iterable) and not isinstance(data, (str, bytes)):
        if labels is not None:
            raise ParameterError("evaluate(labels=...) is for arrays; an iterable of batches "
                                 "carries its labels as (feeds, labels) pairs.")
        return (_checked(inputs, item, i) for i, item in enumerate(data)), \
            (len(data) if isinstance(data, Sized) else None)
    raise ParameterError(f"evaluate(data=...) must be arrays, an iterable of batches or a "
                         f"ray.data.Dataset; got {type(data).__name__}.")


def _checked(inputs: Any, item: Any, index: int) -> Batch:
    feeds, labels = item if isinstance(item, tuple) and len(item) == 2 else (item, None)
    try:
        return validate_feeds(inputs, feeds), labels
    except InputError as e:
        raise InputError(f"evaluate: batch {index}: {e}") from e


def _is_ray_dataset(data: Any) -> bool:
    return type(data).__module__.startswith("ray.data") and hasattr(data, "iter_batches")


def _from_dataset(dataset: Any, labels: Any, size: int) -> Iterator[Batch]:
    if labels is not None and not isinstance(labels, str):
        raise ParameterError("evaluate(labels=...) with a ray.data.Dataset is the name of its "
                             "label column.")
    for columns in dataset.iter_batches(batch_size=size, batch_format="numpy"):
        columns = dict(columns)
        label = columns.pop(labels) if labels is not None else None
        yield columns, label


# --- one batch, reduced to sums ------------------------------------------------------------

def batch_stats(outputs: dict[str, np.ndarray], expected: dict[str, np.ndarray] | None,
                labels: Any, metric: Metric | None) -> dict[str, Any]:
    """What one batch contributes: rows, correct answers, metric x rows, and per output the
    largest error, the dot products for the cosine and the agreeing rows."""
    first = next(iter(outputs.values()))
    rows = len(first) if np.ndim(first) else 1
    stats: dict[str, Any] = {"rows": rows, "correct": None, "metric": None, "outputs": {}}
    if labels is not None:
        stats["correct"] = accuracy(first, labels) * rows
    if metric is not None:
        stats["metric"] = float(metric(outputs, labels)) * rows
    for name, got in (expected or {}).items():
        stats["outputs"][name] = _output_stats(np.asarray(outputs[name]), np.asarray(got))
    return stats


def _output_stats(got: np.ndarray, want: np.ndarray) -> dict[str, Any]:
    if got.dtype.kind == "f":
        a, b = got.astype(np.float64).ravel(), want.astype(np.float64).ravel()
        agree = int(np.sum(got.argmax(-1) == want.argmax(-1))) if got.ndim >= 2 else None
        return {"max_abs": float(np.max(np.abs(a - b))) if a.size else 0.0,
                "ab": float(a @ b), "aa": float(a @ a), "bb": float(b @ b),
                "agree": agree, "count": int(np.prod(got.shape[:-1])) if got.ndim >= 2 else 0}
    if got.ndim == 1:  # class labels
        return {"agree": int(np.sum(got == want)), "count": int(got.size)}
    return {}


def batch_stats_remote(shared: dict[str, Any], sessions: dict[str, Any], batch: Batch
                       ) -> dict[str, Any]:
    """A worker's share: the batch through the model (and the reference), reduced."""
    feeds, labels = batch
    outputs = _run(sessions, "model", shared["model"], feeds, shared["threads"])
    expected = (_run(sessions, "reference", shared["reference"], feeds, shared["threads"])
                if shared["reference"] is not None else None)
    return batch_stats(outputs, expected, labels, shared["metric"])


def _run(sessions: dict[str, Any], role: str, model: tuple[str, bytes], feeds: Any,
         threads: int | None) -> dict[str, np.ndarray]:
    key, data = model
    if key not in sessions:  # one session per worker and model, re-used across batches
        resolved, _ = resolve(None)
        sessions[key] = (create_session(load(data), resolved, threads=threads,
                                        where="evaluate"), role)
    sess = sessions[key][0]
    return run_session(sess, feeds, role)


def _serialized(model: Any) -> tuple[str, bytes]:
    data = model.to_proto().SerializeToString()
    return hashlib.sha1(data).hexdigest(), data


def _run_here(model: Any, ref: Any, batches: Iterator[Batch], metric: Metric | None,
              providers: Providers, threads: int | None, progress: Progress | None,
              total: int | None) -> list[dict[str, Any]]:
    resolved, _ = resolve(providers)
    sess = create_session(model, resolved, threads=threads, where="evaluate")
    ref_sess = create_session(ref, resolved, threads=threads, where="evaluate") if ref else None
    parts = []
    for done, (feeds, labels) in enumerate(batches, 1):
        outputs = run_session(sess, feeds, model.name)
        expected = run_session(ref_sess, feeds, ref.name) if ref_sess is not None else None
        parts.append(batch_stats(outputs, expected, labels, metric))
        if progress is not None:
            progress(done, total)
    return parts


def _summary(name: str, parts: list[dict[str, Any]], *, score_name: str | None,
             seconds: float, where: str, retried: int) -> Evaluation:
    rows = sum(p["rows"] for p in parts)
    key = {"accuracy": "correct", "metric": "metric"}.get(score_name or "")
    score = sum(p[key] for p in parts) / rows if key else None
    outputs: dict[str, list[dict[str, Any]]] = {}
    for p in parts:
        for out, s in p["outputs"].items():
            outputs.setdefault(out, []).append(s)
    errs, cosines, agreements = [], [], []
    for stats in outputs.values():
        if "max_abs" in stats[0]:
            errs.append(max(s["max_abs"] for s in stats))
            ab, aa, bb = (sum(s[k] for s in stats) for k in ("ab", "aa", "bb"))
            cosines.append(ab / np.sqrt(aa * bb) if aa and bb else 1.0)
        counted = [s for s in stats if s.get("agree") is not None and s.get("count")]
        if counted:
            agreements.append(sum(s["agree"] for s in counted) / sum(s["count"] for s in counted))
    return Evaluation(name, rows, len(parts), score, score_name, max(errs) if errs else None,
                      min(cosines) if cosines else None,
                      min(agreements) if agreements else None, seconds, where, retried)
