"""Optional dependencies, imported where they are used so ``import onnxkit`` stays cheap."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

from onnxkit.errors import MissingDependencyError

# Which pyproject extra installs each optional module.
_EXTRA_OF = {
    "torch": "torch",
    "onnxscript": "torch",
    "transformers": "torch",
    "sklearn": "sklearn",
    "skl2onnx": "sklearn",
    "tensorflow": "tensorflow",
    "tf2onnx": "tensorflow",
    "starlette": "serve",
    "uvicorn": "serve",
    "ray": "cluster",
}


def require(module: str, *, purpose: str) -> ModuleType:
    """Import ``module`` or raise a :class:`MissingDependencyError` naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        top = module.split(".")[0]
        extra = _EXTRA_OF.get(top)
        how = f"pip install 'onnxkit[{extra}]'" if extra else f"pip install {top}"
        raise MissingDependencyError(
            f"{purpose} needs the '{top}' package, which is not installed ({e}). "
            f"Install it with: {how}"
        ) from e


def loopback_ray() -> None:
    """Keep a Ray that onnxkit starts on this machine on 127.0.0.1.

    Ray otherwise advertises, and connects through, the address of the network interface
    (it resolves "127.0.0.1" to it), so a local cluster would listen beyond loopback. Its
    own switch for single-machine use is read when ``ray`` is imported: set it first.
    """
    import sys

    if "ray" not in sys.modules:
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
