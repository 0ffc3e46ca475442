"""The code a panel shows and hands back: Python source for its inputs and calls."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from onnxkit import Model, workspace

_WRAP = 88  # emitted calls longer than this get one argument per line


class Recorder:
    """Turns a panel's inputs into source: models as ``onnxkit.load(path)``, arrays saved to
    the workspace once (by content) and read back with ``np.load``."""

    def __init__(self) -> None:
        self.arrays: dict[int, tuple[np.ndarray, Path]] = {}

    def expr(self, value: Any) -> str:
        """Python source that evaluates to ``value``: arrays are saved to the workspace once."""
        if isinstance(value, Model):
            return f"onnxkit.load({path_code(value.path)})"
        if isinstance(value, np.ndarray):
            return f"np.load({path_code(self.saved(value))})"
        if isinstance(value, Mapping):
            items = ", ".join(f"{k!r}: {self.expr(v)}" for k, v in value.items())
            return "{" + items + "}"
        if isinstance(value, (list, tuple)):
            inner = ", ".join(self.expr(v) for v in value)
            if isinstance(value, list):
                return f"[{inner}]"
            return f"({inner},)" if len(value) == 1 else f"({inner})"
        return repr(value)

    def saved(self, array: np.ndarray) -> Path:
        """``array`` as ``<workspace>/arrays/<content hash>.npy``, written once."""
        if id(array) in self.arrays:
            return self.arrays[id(array)][1]
        digest = hashlib.sha1(f"{array.dtype.str}{array.shape}".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
        folder = workspace().root / "arrays"
        path = folder / f"{digest.hexdigest()[:20]}.npy"
        if not path.exists():
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(suffix=".npy", dir=folder)
            with os.fdopen(fd, "wb") as f:
                np.save(f, array, allow_pickle=False)
            os.replace(tmp, path)
        self.arrays[id(array)] = (array, path)  # the reference keeps the id valid
        return path


def call(target: str, function: str, *args: str, **kwargs: str) -> str:
    """``target = function(args, key=value)``, one argument per line when long."""
    parts = [*args, *(f"{k}={v}" for k, v in kwargs.items())]
    line = f"{target} = {function}({', '.join(parts)})"
    if len(line) <= _WRAP:
        return line
    return f"{target} = {function}(\n" + "".join(f"    {p},\n" for p in parts) + ")"


def path_code(path: Path) -> str:
    """A path as Python source (a raw string where that reads best)."""
    text = str(path)
    return f'r"{text}"' if '"' not in text and not text.endswith("\\") else repr(text)
