"""Optional dependencies, imported where they are used so ``import onnxkit`` stays cheap."""

from __future__ import annotations

import importlib
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
    "grpc": "serve",  # the grpcio package
    "orjson": "serve",
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

