"""Sources and example inputs described in text: what the CLI and the convert panel accept."""

from __future__ import annotations

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


def example_inputs(spec: str, *, framework: Framework = "torch", seed: int = 0) -> Any:
    """Random example inputs from shapes: ``"2,3,32,32"`` or ``"2,16:int64; 2,16:int64"``.

    Floats are standard normal, integers zeros. ``torch`` gives a tuple of tensors, the
    others a numpy array (one input) or a list of arrays.

    Examples:
        >>> [(a.shape, a.dtype.name) for a in example_inputs("2,3:float32; 2:int64",
        ...                                                  framework="keras")]
        [((2, 3), 'float32'), ((2,), 'int64')]
    """
    rng = np.random.default_rng(seed)
    arrays = []
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        shape_text, _, dtype = part.partition(":")
        try:
            shape = tuple(int(d) for d in shape_text.split(","))
            np_dtype = np.dtype(dtype.strip() or "float32")
        except (ValueError, TypeError) as e:
            raise ParameterError(f"example_inputs({spec!r}): each input is sizes like 2,3,32,32 "
                                 f"with an optional :dtype (float32, int64...); got "
                                 f"{part!r}.") from e
        arrays.append(rng.standard_normal(shape).astype(np_dtype)
                      if np.issubdtype(np_dtype, np.floating) else np.zeros(shape, np_dtype))
    if not arrays:
        raise ParameterError("example_inputs: give at least one shape, e.g. '1,3,224,224'.")
    if framework == "torch":
        import torch

        return tuple(torch.from_numpy(a) for a in arrays)
    return arrays[0] if len(arrays) == 1 else arrays
