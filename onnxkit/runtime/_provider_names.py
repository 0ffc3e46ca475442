"""Execution provider names: what people type (``"cuda"``, ``"trt"``, full names) to what
ONNX Runtime calls them. A leaf: both provider resolution and provider options read it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from onnxkit.errors import ProviderError

ProviderSpec = str | tuple[str, Mapping[str, Any]]

# Short names people type, beyond "<name>ExecutionProvider" minus the suffix, case-insensitive.
_ALIASES = {"trt": "TensorrtExecutionProvider", "directml": "DmlExecutionProvider",
            "ov": "OpenVINOExecutionProvider", "tensorrt_rtx": "NvTensorRTRTXExecutionProvider"}


def short_name(name: str) -> str:
    return name.removesuffix("ExecutionProvider").lower()


def canonical_name(name: str, known: Sequence[str]) -> str | None:
    """``"cuda"``, ``"CUDA"``, ``"CUDAExecutionProvider"`` -> ``"CUDAExecutionProvider"``."""
    key = name.strip().lower()
    if key in _ALIASES:
        return _ALIASES[key]
    return next((k for k in known if key in (k.lower(), short_name(k))), None)


def split_spec(item: ProviderSpec) -> tuple[str, dict[str, Any]]:
    if isinstance(item, str):
        return item, {}
    if (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)
            and isinstance(item[1], Mapping)):
        return item[0], dict(item[1])
    raise ProviderError(
        f"providers=...: each provider is a name or a (name, options dict) pair, e.g. "
        f"('CUDAExecutionProvider', {{'device_id': 0}}); got {item!r}.")


def unknown_provider(name: str, known: Sequence[str], available: Sequence[str]) -> str:
    return (f"providers=...: unknown execution provider '{name}'. Available in this build: "
            f"{', '.join(available)}. Other providers ONNX Runtime knows: "
            f"{', '.join(short_name(k) for k in known if k not in available)}.")

