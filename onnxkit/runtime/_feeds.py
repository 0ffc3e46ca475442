"""Feed validation: catch wrong names, dtypes and shapes before ONNX Runtime sees them."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

import numpy as np

from onnxkit.base import TensorInfo, graph_inputs, numpy_dtype
from onnxkit.errors import InputError
from onnxkit.models import Model
from onnxkit.runtime._inputs import random_inputs

Feeds = Mapping[str, Any]


def validate_feeds(inputs: tuple[TensorInfo, ...], feeds: Feeds | np.ndarray
                   ) -> dict[str, np.ndarray]:
    """Check ``feeds`` against the model's inputs and return them as numpy arrays.

    A bare array is accepted for a single-input model; lists and scalars are converted to the
    expected dtype, but an array of the wrong dtype is an error (a silent cast can hide bugs).
    """
    names = [i.name for i in inputs]
    if isinstance(feeds, np.ndarray) and len(inputs) == 1:
        feeds = {inputs[0].name: feeds}
    if not isinstance(feeds, Mapping):
        raise InputError(f"feeds must be a dict of input name -> array (inputs: {names}); got "
                         f"{type(feeds).__name__}.")
    unknown = [k for k in feeds if k not in names]
    if unknown:
        close = {k: difflib.get_close_matches(str(k), names, n=1) for k in unknown}
        did_you_mean = "".join(f" Did you mean '{c[0]}' for '{k}'?" for k, c in close.items() if c)
        raise InputError(f"feeds has unknown input(s) {unknown}; the model's inputs are "
                         f"{names}.{did_you_mean}")
    missing = [i for i in inputs if i.name not in feeds]
    if missing:
        raise InputError("feeds is missing input(s): " + ", ".join(str(i) for i in missing)
                         + ". Pass every input (onnxkit.random_inputs makes placeholders).")
    arrays = {i.name: _as_array(i, feeds[i.name]) for i in inputs}
    _check_symbolic_dims(inputs, arrays)
    return arrays


def prepare_feeds(model: Model, feeds: Feeds | np.ndarray | None) -> dict[str, np.ndarray]:
    """The given feeds, validated; or random ones (for benchmarks and profiles)."""

    return validate_feeds(graph_inputs(model.proto.graph),
                          feeds if feeds is not None else random_inputs(model))


def _as_array(info: TensorInfo, value: Any) -> np.ndarray:
    if not info.is_tensor:
        return value  # sequences and maps go to ORT as they are
    want = numpy_dtype(info.dtype)
    if not isinstance(value, np.ndarray):
        try:
            value = np.asarray(value, dtype=want)
        except (TypeError, ValueError) as e:
            raise InputError(f"input '{info.name}' expects {info.dtype}; could not convert "
                             f"{type(value).__name__} to it ({e}).") from e
    if info.dtype == "string":
        if value.dtype.kind not in "OUS":
            raise InputError(f"input '{info.name}' expects strings; got {value.dtype}.")
    elif value.dtype != want:
        raise InputError(f"input '{info.name}' expects {info.dtype}; got {value.dtype}. Convert "
                         f"it: feeds['{info.name}'] = array.astype(np.{want.name}).")
    _check_shape(info, value.shape)
    return value


def _check_shape(info: TensorInfo, shape: tuple[int, ...]) -> None:
    if info.shape is None:
        return
    declared = list(info.shape)
    if len(shape) != len(declared):
        raise InputError(f"input '{info.name}' expects rank {len(declared)} {declared}; got "
                         f"shape {list(shape)} (rank {len(shape)}).")
    for axis, (got, want) in enumerate(zip(shape, declared)):
        if isinstance(want, int) and got != want:
            raise InputError(f"input '{info.name}' expects size {want} at axis {axis} "
                             f"(shape {declared}); got shape {list(shape)}.")


def _check_symbolic_dims(inputs: tuple[TensorInfo, ...], arrays: dict[str, np.ndarray]) -> None:
    """The same dim name must have the same size everywhere (e.g. ids and mask lengths)."""
    seen: dict[str, tuple[int, str]] = {}
    for info in inputs:
        for axis, dim in enumerate(info.shape or ()):
            if not isinstance(dim, str) or dim == "?" or not isinstance(arrays[info.name],
                                                                         np.ndarray):
                continue
            size = arrays[info.name].shape[axis]
            if dim in seen and seen[dim][0] != size:
                first_size, first_input = seen[dim]
                raise InputError(f"dim '{dim}' is {first_size} in input '{first_input}' but "
                                 f"{size} in input '{info.name}'; it must match.")
            seen.setdefault(dim, (size, info.name))
