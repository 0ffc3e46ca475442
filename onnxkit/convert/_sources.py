"""Sources and example inputs described in text: what the CLI and the convert panel accept."""

from __future__ import annotations

import inspect
import os
import runpy
from typing import Any, Literal

import numpy as np

from onnxkit.convert._tensorflow import tensorflow_modules
from onnxkit.errors import ParameterError

Framework = Literal["torch", "sklearn", "keras"]


def load_source(spec: str | os.PathLike[str]) -> Any:
    """A model object from a file: ``script.py:NAME`` (a torch module, or a function returning
    one, defined in that script) or a ``.keras`` file.

    Examples:
        >>> load_source("model.h5")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        onnxkit.errors.ParameterError: load_source('model.h5'): expected SCRIPT.py:NAME or ...
    """
    text = os.fspath(spec)
    if text.endswith(".keras"):

        tensorflow_modules()
        import keras

        return keras.models.load_model(text)
    path, _, name = text.rpartition(":")
    if not path.endswith(".py") or not name:
        raise ParameterError(f"load_source({text!r}): expected SCRIPT.py:NAME or a .keras "
                             "file.")
    try:
        namespace = runpy.run_path(path)
    except OSError as e:
        raise ParameterError(f"load_source: cannot run '{path}': {e}") from e
    if name not in namespace:
        defined = ", ".join(k for k in namespace if not k.startswith("_"))
        raise ParameterError(f"load_source: '{path}' defines no '{name}'; it defines: {defined}.")
    value = namespace[name]
    return value() if callable(value) and not hasattr(value, "forward") else value


def example_inputs(spec: str, *, framework: Framework = "torch", seed: int = 0,
                   module: Any = None) -> Any:
    """Random example inputs from shapes: ``"2,3,32,32"`` or ``"2,16:int64; 2,16:int64"``.

    Floats are standard normal. Integers are made to look like what they feed, read from the
    names of ``module``'s forward arguments (when a torch module is given): masks
    (``attention_mask``) all ones, token type ids zeros, position ids ``0, 1, 2...``, other
    ids random below the module's first embedding table (the token table).
    ``torch`` gives a tuple of tensors, the others a numpy array (one input) or a list.

    Examples:
        >>> [(a.shape, a.dtype.name) for a in example_inputs("2,3:float32; 2:int64",
        ...                                                  framework="keras")]
        [((2, 3), 'float32'), ((2,), 'int64')]
    """
    rng = np.random.default_rng(seed)
    names = _forward_arguments(module)
    bound = _embedding_rows(module)
    arrays = []
    for index, part in enumerate(filter(None, (p.strip() for p in spec.split(";")))):
        shape_text, _, dtype = part.partition(":")
        try:
            shape = tuple(int(d) for d in shape_text.split(","))
            np_dtype = np.dtype(dtype.strip() or "float32")
        except (ValueError, TypeError) as e:
            raise ParameterError(f"example_inputs({spec!r}): each input is sizes like 2,3,32,32 "
                                 f"with an optional :dtype (float32, int64...); got "
                                 f"{part!r}.") from e
        name = names[index] if index < len(names) else ""
        arrays.append(rng.standard_normal(shape).astype(np_dtype)
                      if np.issubdtype(np_dtype, np.floating) else
                      _integers(name, shape, np_dtype, bound, rng))
    if not arrays:
        raise ParameterError("example_inputs: give at least one shape, e.g. '1,3,224,224'.")
    if framework == "torch":
        import torch

        return tuple(torch.from_numpy(a) for a in arrays)
    return arrays[0] if len(arrays) == 1 else arrays


def _integers(name: str, shape: tuple[int, ...], dtype: np.dtype, bound: int | None,
              rng: np.random.Generator) -> np.ndarray:
    key = name.lower()
    if "mask" in key:
        return np.ones(shape, dtype)
    if "type" in key or "segment" in key:
        return np.zeros(shape, dtype)
    if "position" in key and shape:
        return np.broadcast_to(np.arange(shape[-1], dtype=dtype), shape).copy()
    return rng.integers(1 if (bound or 2) > 1 else 0, bound or 2, size=shape).astype(dtype)


def _forward_arguments(module: Any) -> list[str]:
    forward = getattr(module, "forward", None)
    if forward is None:
        return []
    try:
        return [p.name for p in inspect.signature(forward).parameters.values()
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return []


def _embedding_rows(module: Any) -> int | None:
    """Rows of the module's first embedding table: the token table in the usual layouts
    (word embeddings before position and type embeddings), which ids must stay below."""
    modules = getattr(module, "modules", None)
    rows = [m.num_embeddings for m in modules() if hasattr(m, "num_embeddings")] if modules \
        else []
    return rows[0] if rows else None
