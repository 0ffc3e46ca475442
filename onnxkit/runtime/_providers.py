"""Execution providers: what this ONNX Runtime build offers, and forgiving name resolution."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from onnxkit.errors import ProviderError
from onnxkit.results import Result, fmt_bytes, html_table
from onnxkit.runtime._provider_names import (
    ProviderSpec,
    canonical_name,
    short_name,
    split_spec,
    unknown_provider,
)
from onnxkit.runtime._provider_options import validate_options

Resolved = tuple[tuple[str, dict[str, Any]], ...]

_CPU_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni",
              "amx_tile", "amx_int8", "amx_bf16", "neon", "asimd", "sve")


class ProviderFallbackWarning(UserWarning):
    """A requested provider exists in ONNX Runtime but not in this build: it was skipped."""


@dataclass(frozen=True)
class ProviderInfo(Result):
    name: str
    short: str
    available: bool


@dataclass(frozen=True)
class ProviderTable(Result):
    """What :func:`providers` found: every provider ORT knows, and this machine's facts."""

    providers: tuple[ProviderInfo, ...]
    machine: dict[str, Any] = field(default_factory=dict)
    onnxruntime_version: str = ""

    @property
    def available(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.providers if p.available)

    def to_dict(self) -> dict[str, Any]:
        return {"onnxruntime": self.onnxruntime_version, "machine": dict(self.machine),
                "providers": [p.to_dict() for p in self.providers]}

    def _rows(self) -> list[dict[str, Any]]:
        return [p.to_dict() for p in self.providers]

    def __repr__(self) -> str:
        lines = [f"onnxruntime {self.onnxruntime_version}: available "
                 f"{', '.join(self.available)}"]
        lines += [f"  {k}: {v}" for k, v in self.machine.items()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = sorted(self.providers, key=lambda p: not p.available)
        providers = html_table(
            ("provider", "short name", "in this build"),
            ((p.name, p.short, "yes" if p.available else "no") for p in rows),
            caption=f"execution providers (onnxruntime {self.onnxruntime_version})")
        machine = html_table(("", ""), self.machine.items(), caption="machine")
        style = "display:flex;gap:24px;flex-wrap:wrap;align-items:flex-start"
        return f"<div style='{style}'>{providers}{machine}</div>"


def providers() -> ProviderTable:
    """The execution providers of the installed ONNX Runtime, and the facts that matter for them.

    Examples:
        >>> import onnxkit
        >>> "CPUExecutionProvider" in onnxkit.providers().available
        True
    """
    import onnxruntime as ort

    available = set(ort.get_available_providers())
    infos = tuple(ProviderInfo(n, short_name(n), n in available) for n in ort.get_all_providers())
    return ProviderTable(infos, _machine_facts(available), ort.__version__)


def _machine_facts(available: set[str]) -> dict[str, Any]:
    facts: dict[str, Any] = {"cpu": platform.processor() or platform.machine(),
                             "logical cores": os.cpu_count()}
    try:
        import psutil

        facts["physical cores"] = psutil.cpu_count(logical=False)
        facts["memory"] = fmt_bytes(psutil.virtual_memory().total)
    except ImportError:
        pass
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
        model = next((ln.split(":", 1)[1].strip() for ln in info.splitlines()
                      if ln.startswith("model name")), None)
        flags = next((set(ln.split(":", 1)[1].split()) for ln in info.splitlines()
                      if ln.startswith(("flags", "Features"))), set())
        facts["cpu"] = model or facts["cpu"]
        facts["instruction sets"] = " ".join(f for f in _CPU_FLAGS if f in flags) or "-"
    except OSError:
        pass
    if available & {"CUDAExecutionProvider", "TensorrtExecutionProvider"}:
        facts["gpu"] = _gpu_facts()
    return facts


def _gpu_facts() -> str:
    if not shutil.which("nvidia-smi"):
        return "unknown (nvidia-smi not found)"
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total",
                              "--format=csv,noheader"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown (nvidia-smi failed)"
    return "; ".join(line.strip() for line in out.stdout.splitlines() if line.strip()) or "none"


def resolve(spec: ProviderSpec | Sequence[ProviderSpec] | None) -> tuple[Resolved, tuple[str, ...]]:
    """Turn what the user typed into ``((name, options), ...)`` for ORT, plus what was skipped.

    Unknown names raise :class:`ProviderError` listing what exists; providers that ORT knows
    but this build lacks are skipped with a :class:`ProviderFallbackWarning`. CPU is used when
    nothing else is left. Options are checked with :func:`validate_options`.
    """
    import onnxruntime as ort

    known, available = ort.get_all_providers(), ort.get_available_providers()
    if spec is None:
        return (("CPUExecutionProvider", {}),), ()
    items = [spec] if isinstance(spec, (str, tuple)) else list(spec)
    resolved: list[tuple[str, dict[str, Any]]] = []
    skipped: list[str] = []
    for item in items:
        name, options = split_spec(item)
        canonical = canonical_name(name, known)
        if canonical is None:
            raise ProviderError(unknown_provider(name, known, available))
        # Typos fail here even for a provider this build lacks: they would fail elsewhere too.
        options = validate_options(canonical, options, available=canonical in available)
        if canonical not in available:
            skipped.append(canonical)
            warnings.warn(
                f"{canonical} is not in this onnxruntime build (available: "
                f"{', '.join(available)}); it is skipped. Install the onnxruntime package that "
                "includes it (e.g. onnxruntime-gpu, onnxruntime-openvino).",
                ProviderFallbackWarning, stacklevel=3)
            continue
        if all(canonical != r[0] for r in resolved):
            resolved.append((canonical, options))
    return tuple(resolved) or (("CPUExecutionProvider", {}),), tuple(skipped)
