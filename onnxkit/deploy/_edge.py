"""What an edge device needs to run a bundle: its size, its peak memory in a session (with the
CPU arena the bundle's scripts use, and without it), and the ORT-format model with ORT's
reduced-operator configuration for a minimal build; and the budgets ``bundle`` enforces.

The memory is measured in a fresh child process (numpy and onnxruntime only, nothing of
onnxkit), as ``Study``'s peak memory is: the high-water mark is reset to the current RSS, the
session is created and run, and the rise of the mark is what the model costs that process.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from onnxkit.deploy._ort_format import _convert, _private_copy, _read_config
from onnxkit.errors import BudgetError, OnnxkitError, ParameterError, SessionError
from onnxkit.models import Model
from onnxkit.results import fmt_bytes

EDGE_DIR = "edge"  # inside a bundle: the .ort model and its reduced-build config
MB = 1e6  # as Study's size_mb and peak_mem_mb
ARENA = ("enable_cpu_mem_arena=True: onnxruntime's default, which the bundle's predict.py and "
         "serve.py use")
_CHILD = Path(__file__).with_name("_edge_memory_child.py")


def check_budget(value: float | None, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ParameterError(f"bundle({name}=...) must be a positive number of megabytes "
                             f"(10**6 bytes); got {value!r}.")
    return float(value)


def over_budget(edge: Mapping[str, Any], max_size_mb: float | None,
                max_memory_mb: float | None) -> str:
    """Which budget the edge report exceeds, and by how much ("" when none)."""
    excess = []
    size = edge["model_bytes"]
    if max_size_mb is not None and size > max_size_mb * MB:
        excess.append(f"the model is {size / MB:.2f} MB, {size / MB - max_size_mb:.2f} MB over "
                      f"max_size_mb={max_size_mb:g}")
    peak = edge["peak_memory"]
    if max_memory_mb is not None and peak["arena_bytes"] is not None \
            and peak["arena_bytes"] > max_memory_mb * MB:
        arena, bare = peak["arena_bytes"] / MB, peak["no_arena_bytes"]
        without = "" if bare is None else \
            f"; with enable_cpu_mem_arena=False it is {bare / MB:.2f} MB"
        excess.append(f"its session peaks at {arena:.2f} MB, {arena - max_memory_mb:.2f} MB "
                      f"over max_memory_mb={max_memory_mb:g}{without}")
    return "; ".join(excess)


def refuse_over_budget(edge: Mapping[str, Any], max_size_mb: float | None,
                       max_memory_mb: float | None) -> None:
    excess = over_budget(edge, max_size_mb, max_memory_mb)
    if excess:
        raise BudgetError(f"bundle: {excess}. Nothing was written. Shrink the model "
                          "(onnxkit.quantize, onnxkit.prune) or raise the budget.")


def edge_report(model: Model, folder: Path, feeds: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Write ``edge/<name>.ort`` and its ``.required_operators.config`` into the bundle folder
    and measure the session's peak memory; returns the manifest's ``edge`` section (its
    ``files`` are the bundle-relative names written)."""
    size = model.size_bytes
    return {"model_bytes": size, **_ort_format(model, folder),
            "peak_memory": {**peak_memories(model.path, feeds), "arena": ARENA,
                            "inputs": {k: list(v.shape) for k, v in feeds.items()},
                            "how": "rise of the RSS high-water mark of a fresh process over "
                                   "creating the session and running it 3 times"}}


def _ort_format(model: Model, folder: Path) -> dict[str, Any]:
    """The ORT-format model (optimizations baked in, as for the CPU EP of a minimal build) and
    the operator kernels a reduced build must include, from onnxruntime's own converter."""
    stem = model.path.stem
    out = folder / EDGE_DIR
    with tempfile.TemporaryDirectory(prefix=".edge-", dir=folder) as tmp:
        try:
            source = _private_copy(model, Path(tmp) / "src")
            produced, config, _ = _convert(source, Path(tmp) / "out", "fixed")
        except OnnxkitError as e:  # a model over 2 GB, a custom op...: said in the manifest
            return {"files": [], "ort_format": None, "ort_format_error": str(e)}
        out.mkdir(exist_ok=True)
        shutil.move(produced, out / f"{stem}.ort")
        shutil.move(config, out / f"{stem}.required_operators.config")
    operators = _read_config(out / f"{stem}.required_operators.config")
    names = [f"{EDGE_DIR}/{stem}.ort", f"{EDGE_DIR}/{stem}.required_operators.config"]
    return {"files": names, "ort_format": names[0], "ort_format_bytes":
            (out / f"{stem}.ort").stat().st_size, "reduced_build_config": names[1],
            "required_operators": {d: {str(k): v for k, v in o.items()}
                                   for d, o in operators.items()}}


def peak_memories(model_path: Path, feeds: Mapping[str, np.ndarray]) -> dict[str, int | None]:
    """``{"arena_bytes", "no_arena_bytes"}``: two fresh processes at once, one per setting
    (``None`` where /proc cannot reset a process's high-water mark)."""
    if not os.path.exists("/proc/self/clear_refs"):
        return {"arena_bytes": None, "no_arena_bytes": None}
    with tempfile.TemporaryDirectory(prefix="onnxkit-mem-") as tmp:
        path = os.path.join(tmp, "feeds.npz")
        np.savez(path, **feeds)  # type: ignore[arg-type]
        children = {key: subprocess.Popen(
            [sys.executable, "-I", str(_CHILD), str(model_path), path,
             json.dumps({"arena": arena})], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL, text=True)
            for key, arena in (("arena_bytes", True), ("no_arena_bytes", False))}
        return {key: _peak(child, model_path) for key, child in children.items()}


def _peak(child: subprocess.Popen[str], model_path: Path) -> int | None:
    try:
        out, err = child.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        raise SessionError(f"measuring the peak memory of '{model_path}' took over 600 s") \
            from None
    if child.returncode != 0:
        tail = (err.strip().splitlines() or ["(no message)"])[-1]
        raise SessionError(f"measuring the peak memory of '{model_path}' in a child process "
                           f"failed (exit {child.returncode}): {tail}")
    return json.loads(out.strip().splitlines()[-1])["peak_bytes"]


def edge_lines(edge: Mapping[str, Any]) -> list[str]:
    """The edge report in words, for a bundle's repr."""
    peak = edge["peak_memory"]
    mem = "not measured here" if peak["arena_bytes"] is None else (
        f"{fmt_bytes(peak['arena_bytes'])} with the CPU arena, "
        f"{fmt_bytes(peak['no_arena_bytes'])} without")
    ops = sum(len(v) for o in edge.get("required_operators", {}).values() for v in o.values())
    ort = (f"{edge['ort_format']} ({fmt_bytes(edge['ort_format_bytes'])}), reduced build: "
           f"{ops} operator kernel(s) in {edge['reduced_build_config']}"
           if edge.get("ort_format") else f"no ORT format: {edge.get('ort_format_error')}")
    return [f"edge: model {fmt_bytes(edge['model_bytes'])}, session peak memory {mem}",
            f"  {ort}"]
