"""Calibration data in any reasonable form, checked against the model before work starts."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from onnxkit.base import graph_inputs, integer
from onnxkit.errors import InputError, ParameterError
from onnxkit.models import Model
from onnxkit.runtime import validate_feeds

# np.ndarray | Mapping[str, np.ndarray] (rows are samples) | Iterable[feed dict] | reader
Calibration = Any
Progress = Callable[[int, int], None]  # (done, total); may raise Cancelled to stop
CHUNK = 16  # rows per feed when calibration data is one big array


def calibration_feeds(model: Model, calibration: Calibration, samples: int | None,
                      where: str) -> list[dict[str, np.ndarray]]:
    """The calibration data as a list of validated feed dicts: at most ``samples`` rows of
    arrays, cut into feeds of ``CHUNK`` rows (a remainder beyond the last full feed is left
    out), or at most ``samples`` feeds of an iterable."""
    from onnxruntime.quantization import CalibrationDataReader

    if samples is not None:
        integer(samples, where, "samples", fix="pass None to use all of the calibration data")
    inputs = graph_inputs(model.proto.graph)
    if isinstance(calibration, np.ndarray):
        if len(inputs) != 1:
            raise InputError(f"calibration is one array, but the model has {len(inputs)} inputs "
                             f"({[i.name for i in inputs]}): pass a dict of arrays (rows are "
                             "samples) or a list of feed dicts.")
        calibration = {inputs[0].name: calibration}
    if isinstance(calibration, Mapping):  # arrays by input name, rows are samples
        feeds: Iterable[Any] = _chunks(calibration, samples)
    elif isinstance(calibration, CalibrationDataReader):
        feeds = iter(calibration.get_next, None)
    elif isinstance(calibration, Iterable) and not isinstance(calibration, (str, bytes, Mapping)):
        feeds = calibration
    else:
        raise ParameterError(
            f"{where}(calibration=...) must be a numpy array (single-input models), a dict of "
            "arrays, an iterable of feed "
            f"dicts or an onnxruntime CalibrationDataReader; got {type(calibration).__name__}.")
    checked = []
    limit = None if isinstance(calibration, Mapping) else samples  # rows were already cut
    for i, feed in enumerate(itertools.islice(feeds, limit)):
        try:
            checked.append(validate_feeds(inputs, feed))
        except InputError as e:
            raise InputError(f"calibration sample {i}: {e}") from e
    if not checked:
        raise InputError("calibration is empty: pass at least one sample (a few hundred "
                         "representative inputs is typical).")
    _check_finite(checked)
    return checked


def _check_finite(feeds: list[dict[str, np.ndarray]]) -> None:
    """NaN or inf in float calibration inputs makes every range they reach NaN or infinite
    (onnxruntime then fails deep inside with "scale issue"): refuse them up front."""
    for name in feeds[0]:
        arrays = [f[name] for f in feeds if np.issubdtype(f[name].dtype, np.floating)]
        bad = sum(int(np.count_nonzero(~np.isfinite(a))) for a in arrays)
        if bad:
            total = sum(a.size for a in arrays)
            raise InputError(
                f"calibration input '{name}' has {bad} NaN or infinite value(s) of {total}"
                f"{' (all of them)' if bad == total else ''}: the activation ranges would be "
                "NaN or infinite. Calibrate on real, finite inputs (drop or clean those rows, "
                "e.g. np.nan_to_num).")


def _chunks(arrays: Mapping[str, Any], samples: int | None) -> list[dict[str, Any]]:
    rows = {k: len(v) for k, v in arrays.items() if hasattr(v, "__len__")}
    if len(set(rows.values())) > 1:
        raise InputError(f"calibration arrays must have the same number of rows (samples); got "
                         f"{rows}.")
    total = min(next(iter(rows.values()), 0), samples or np.iinfo(np.int64).max)
    if total > CHUNK:  # equal feeds: ORT's histogram calibrators stack them into one array
        total -= total % CHUNK
    return [{k: v[i:i + CHUNK] for k, v in arrays.items()} for i in range(0, total, CHUNK)]


def check_equal_batches(feeds: list[dict[str, Any]], method: str) -> None:
    """Histogram methods (entropy, percentile, distribution) stack all feeds' activations."""
    sizes = sorted({len(v) for feed in feeds for v in feed.values() if hasattr(v, "__len__")})
    if len(sizes) > 1:
        raise InputError(f"method='{method}' needs calibration feeds of one batch size (ONNX "
                         f"Runtime stacks their activations); got batch sizes {sizes}. Use "
                         "equal batches, or method='minmax'.")


class FeedReader:
    """An ORT ``CalibrationDataReader`` over checked feeds, reporting progress."""

    def __init__(self, feeds: list[dict[str, np.ndarray]], progress: Progress | None):
        self._feeds, self._progress = feeds, progress
        self._it: Iterator[dict[str, np.ndarray]] = iter(feeds)
        self._done = 0
        self._bar: Any = None

    def get_next(self) -> dict[str, np.ndarray] | None:
        feed = next(self._it, None)
        if self._progress is not None:
            self._progress(self._done, len(self._feeds))
        elif self._bar is None:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=len(self._feeds), desc="calibrating", leave=False)
        if self._bar is not None:
            self._bar.update(feed is not None)
            if feed is None:
                self._bar.close()
        self._done += feed is not None
        return feed

    def rewind(self) -> None:
        self._it, self._done, self._bar = iter(self._feeds), 0, None

    def set_range(self, start_index: int, end_index: int) -> None:  # ORT's optional API
        self._it = iter(self._feeds[start_index:end_index])


def as_reader(feeds: list[dict[str, np.ndarray]], progress: Progress | None) -> Any:
    """``FeedReader`` registered as a ``CalibrationDataReader`` (ORT checks the type)."""
    from onnxruntime.quantization import CalibrationDataReader

    class _Reader(FeedReader, CalibrationDataReader):
        pass

    return _Reader(feeds, progress)
