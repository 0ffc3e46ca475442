"""``random_inputs``: feeds that a model accepts, for smoke tests, benchmarks and checks."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import onnx

from onnxkit.base import UNKNOWN_DIM, TensorInfo, graph_inputs, integer, numpy_dtype
from onnxkit.errors import InputError, ParameterError, UnsupportedModelError
from onnxkit.models import ModelLike, load

DEFAULT_DIM = 32  # symbolic dims other than the batch: big enough for most convnets' strides
MAX_ELEMENTS = 1 << 28  # per input (1 GiB of float32): beyond that a typo is likelier than intent
_WORDS = np.array(["the", "model", "runs", "fast", "on", "onnx", "runtime", "today"], dtype=object)

DimSpec = Mapping[str, int | Sequence[int]]


def random_inputs(
    model: ModelLike, *, dims: DimSpec | None = None, batch: int = 1, seed: int = 0
) -> dict[str, np.ndarray]:
    """Random arrays for every graph input, with the right dtypes and shapes.

    Symbolic dims are taken from ``dims`` (by dim name), a leading symbolic dim is ``batch``,
    and any other is ``DEFAULT_DIM``. ``dims`` may also give an input's whole shape by input
    name. Integer inputs that index an embedding (``Gather``) stay within its rows; integer or
    bool inputs named like masks are all ones; floats are standard normal.

    Raises:
        ParameterError: ``dims`` names something the model does not have, or bad ``batch``.
        InputError: a resolved shape is absurdly large, or contradicts a fixed dim.
        UnsupportedModelError: an input is a sequence, map or optional.

    Examples:
        >>> import onnxkit
        >>> feeds = onnxkit.random_inputs(onnxkit.samples.tiny_model(), batch=4)
        >>> {k: (v.dtype.name, v.shape) for k, v in feeds.items()}
        {'x': ('float32', (4, 4))}
    """
    batch = integer(batch, "random_inputs", "batch")
    return graph_feeds(load(model).proto.graph, dims=dims, batch=batch, seed=seed)


def graph_feeds(graph: onnx.GraphProto, *, dims: DimSpec | None, batch: int, seed: int
                ) -> dict[str, np.ndarray]:
    """:func:`random_inputs` for a graph in memory (a transform's result before it is saved)."""
    inputs = graph_inputs(graph)
    dims = dict(dims or {})
    _check_dim_keys(dims, inputs)
    rng = np.random.default_rng(seed)
    bounds = _index_bounds(graph)
    return {info.name: _random_array(info, _resolve_shape(info, dims, batch), rng,
                                     bounds.get(info.name)) for info in inputs}


def _check_dim_keys(dims: dict[str, int | Sequence[int]], inputs: tuple[TensorInfo, ...]) -> None:
    names = {i.name for i in inputs}
    params = {d for i in inputs for d in (i.shape or ()) if isinstance(d, str) and d != UNKNOWN_DIM}
    for key, value in dims.items():
        if key not in names and key not in params:
            raise ParameterError(
                f"random_inputs(dims=...) names '{key}', which is neither an input nor a "
                f"symbolic dim of the model. Inputs: {sorted(names)}; symbolic dims: "
                f"{sorted(params) or 'none'}.")
        sizes: Sequence[object] = (value if key in names and not isinstance(value, int)
                                   else [value])  # type: ignore[assignment]
        if not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 0
                   for s in sizes):
            raise ParameterError(f"random_inputs(dims={{'{key}': ...}}) must be a non-negative "
                                 f"integer (or a shape for an input name); got {value!r}.")


def _resolve_shape(info: TensorInfo, dims: dict, batch: int) -> tuple[int, ...]:
    if not info.is_tensor:
        raise UnsupportedModelError(
            f"random_inputs cannot make input '{info.name}' of type {info.dtype}: only tensor "
            "inputs are supported. Build that feed yourself.")
    if info.name in dims:
        shape = tuple(int(d) for d in np.atleast_1d(dims[info.name]))
        _check_against_declared(info, shape)
    elif info.shape is None:
        raise InputError(f"input '{info.name}' has no declared shape (unknown rank). Pass its "
                         f"shape: random_inputs(model, dims={{'{info.name}': (...)}}).")
    else:
        shape = tuple(_resolve_dim(d, axis, dims, batch) for axis, d in enumerate(info.shape))
    if math.prod(shape) > MAX_ELEMENTS:
        raise InputError(
            f"input '{info.name}' would have shape {shape} = {math.prod(shape):,} elements, more "
            f"than the {MAX_ELEMENTS:,} random_inputs allows. Pass smaller sizes with dims=... "
            f"(declared shape: {list(info.shape or [])}).")
    return shape


def _resolve_dim(dim: int | str, axis: int, dims: dict, batch: int) -> int:
    if isinstance(dim, int):
        return dim
    if dim in dims:
        return int(dims[dim])
    return batch if axis == 0 else DEFAULT_DIM


def _check_against_declared(info: TensorInfo, shape: tuple[int, ...]) -> None:
    if info.shape is None:
        return
    if len(shape) != len(info.shape):
        raise InputError(f"dims gives input '{info.name}' rank {len(shape)} {list(shape)}, but "
                         f"the model declares rank {len(info.shape)} {list(info.shape)}.")
    for axis, (got, want) in enumerate(zip(shape, info.shape)):
        if isinstance(want, int) and got != want:
            raise InputError(f"dims gives input '{info.name}' size {got} at axis {axis}, but the "
                             f"model fixes it to {want} (declared {list(info.shape)}).")


def _index_bounds(graph: onnx.GraphProto) -> dict[str, int]:
    """Inputs used as indices of a Gather over an initializer: the number of rows they index."""
    rows = {t.name: t.dims for t in graph.initializer}
    bounds: dict[str, int] = {}
    for node in graph.node:
        if node.op_type != "Gather" or len(node.input) < 2 or node.input[0] not in rows:
            continue
        axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
        data_dims = rows[node.input[0]]
        if -len(data_dims) <= axis < len(data_dims):
            size = int(data_dims[axis])
            bounds[node.input[1]] = min(bounds.get(node.input[1], size), size)
    return bounds


def _random_array(info: TensorInfo, shape: tuple[int, ...], rng: np.random.Generator,
                  bound: int | None) -> np.ndarray:
    dtype = numpy_dtype(info.dtype)
    looks_like_mask = "mask" in info.name.lower()
    if info.dtype == "string":
        return rng.choice(_WORDS, size=shape)
    if dtype == np.bool_:
        return np.ones(shape, bool) if looks_like_mask else rng.random(shape) < 0.5
    if np.issubdtype(dtype, np.integer):
        if looks_like_mask and bound is None:
            return np.ones(shape, dtype)
        high = bound or (256 if dtype == np.uint8 else 10)
        return rng.integers(0, max(high, 1), size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)
