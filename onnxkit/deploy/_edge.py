"""What an edge device needs to run a bundle: its size, its peak memory in a session (with the
CPU arena the bundle's scripts use, and without it), and the ORT-format model with ORT's
reduced-operator configuration for a minimal build; and the budgets ``bundle`` enforces.

Both come from one fresh child process (numpy and onnxruntime only, nothing of onnxkit:
``_edge_child.py``), a second or so per bundle: the converter writes the ORT-format model, then
the memory is measured as ``Study``'s peak memory is: the high-water mark is reset to the
current RSS, the session is created and run, and the rise of the mark is what the model costs
that process.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from onnxkit.base import clean_ort_message
from onnxkit.deploy._ort_format import _private_copy, _read_config
from onnxkit.errors import BudgetError, ParameterError, SessionError
from onnxkit.models import Model
from onnxkit.results import fmt_bytes
from onnxkit.runtime import custom_op_libraries

EDGE_DIR = "edge"  # inside a bundle: the .ort model and its reduced-build config
MB = 1e6  # as Study's size_mb and peak_mem_mb
ARENA = ("enable_cpu_mem_arena=True: onnxruntime's default, which the bundle's predict.py and "
         "serve.py use")
_CHILD = Path(__file__).with_name("_edge_child.py")
_CHILD_TIMEOUT_S = 600


def check_budget(value: float | None, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ParameterError(f"bundle({name}=...) must be a positive number of megabytes "
                             f"(10**6 bytes); got {value!r}.")
    return float(value)


def over_budget(edge: Mapping[str, Any], max_size_mb: float | None,
                max_memory_mb: float | None) -> str:
    """Which budget the edge report exceeds, and by how much ("" when none). A memory budget
    this system cannot measure (no resettable high-water mark) is refused too, never passed."""
    excess = []
    size = edge["model_bytes"] / MB
    if max_size_mb is not None and size > max_size_mb:
        excess.append(f"the model is {_mb(size)}, {_mb(size - max_size_mb)} over "
                      f"max_size_mb={max_size_mb:g}")
    peak = edge.get("peak_memory", {})
    if max_memory_mb is not None and peak["arena_bytes"] is None:
        excess.append(f"max_memory_mb={max_memory_mb:g} cannot be checked: this system cannot "
                      "measure a process's peak memory (Linux's /proc/self/clear_refs)")
    elif max_memory_mb is not None and peak["arena_bytes"] / MB > max_memory_mb:
        arena, bare = peak["arena_bytes"] / MB, peak["no_arena_bytes"] / MB
        excess.append(f"its session peaks at {_mb(arena)}, {_mb(arena - max_memory_mb)} over "
                      f"max_memory_mb={max_memory_mb:g} (with enable_cpu_mem_arena=False: "
                      f"{_mb(bare)})")
    return "; ".join(excess)


def _mb(value: float) -> str:
    return f"{value:.3g} MB"


def refuse_over_budget(edge: Mapping[str, Any], max_size_mb: float | None,
                       max_memory_mb: float | None) -> None:
    excess = over_budget(edge, max_size_mb, max_memory_mb)
    if excess:
        raise BudgetError(f"bundle: {excess}. Nothing was written. Shrink the model "
                          "(onnxkit.quantize, onnxkit.prune) or raise the budget.")


def edge_report(model: Model, folder: Path, feeds: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Write ``edge/<name>.ort`` and its ``.required_operators.config`` into the bundle folder
    and measure the session's peak memory, in one child process; returns the manifest's
    ``edge`` section (its ``files`` are the bundle-relative names written)."""
    stem = model.path.stem
    with tempfile.TemporaryDirectory(prefix=".edge-", dir=folder) as tmp:
        source = _private_copy(model, Path(tmp) / "src")
        child = _child(model, source, Path(tmp) / "out", feeds)
        ort = _place(Path(tmp) / "out", folder, stem, child["ort_format_error"])
    return {"model_bytes": model.size_bytes, **ort,
            "peak_memory": {"arena_bytes": child["arena_bytes"],
                            "no_arena_bytes": child["no_arena_bytes"], "arena": ARENA,
                            "inputs": {k: list(v.shape) for k, v in feeds.items()},
                            "how": "rise of the RSS high-water mark of a fresh process "
                                   "(onnxruntime already loaded) over creating the session "
                                   "and running it 3 times"}}


def _child(model: Model, source: Path, out: Path, feeds: Mapping[str, np.ndarray]
           ) -> dict[str, Any]:
    shown = model.path
    path = source.parent / "feeds.npz"
    np.savez(path, **feeds)  # type: ignore[arg-type]
    try:
        done = subprocess.run([sys.executable, "-I", str(_CHILD), str(source), str(path),
                               str(out), *custom_op_libraries(model)], capture_output=True,
                              text=True,
                              stdin=subprocess.DEVNULL, timeout=_CHILD_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise SessionError(f"bundle: measuring the peak memory of '{shown}' took over "
                           f"{_CHILD_TIMEOUT_S} s") from None
    finally:
        path.unlink()
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise SessionError(f"bundle: measuring the peak memory of '{shown}' in a child process "
                           f"failed (exit {done.returncode}): {tail}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _place(out: Path, folder: Path, stem: str, error: str) -> dict[str, Any]:
    """The ORT-format model (optimizations baked in, as for the CPU EP of a minimal build) and
    the operator kernels a reduced build must include, from onnxruntime's own converter, moved
    into ``folder/edge``; a model it cannot convert (over 2 GB, a custom op) is said instead."""
    produced, configs = sorted(out.glob("*.ort")), sorted(out.glob("*.config"))
    if error or len(produced) != 1 or len(configs) != 1:
        why = clean_ort_message(error) if error else \
            f"the converter wrote {[p.name for p in [*produced, *configs]]}"
        return {"files": [], "ort_format": None,
                "ort_format_error": f"onnxruntime could not convert the model to the ORT "
                                    f"format: {why}"}
    edge = folder / EDGE_DIR
    edge.mkdir(exist_ok=True)
    shutil.move(produced[0], edge / f"{stem}.ort")
    shutil.move(configs[0], edge / f"{stem}.required_operators.config")
    operators = _read_config(edge / f"{stem}.required_operators.config")
    names = [f"{EDGE_DIR}/{stem}.ort", f"{EDGE_DIR}/{stem}.required_operators.config"]
    return {"files": names, "ort_format": names[0], "ort_format_bytes":
            (edge / f"{stem}.ort").stat().st_size, "reduced_build_config": names[1],
            "required_operators": {d: {str(k): v for k, v in o.items()}
                                   for d, o in operators.items()}}


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
