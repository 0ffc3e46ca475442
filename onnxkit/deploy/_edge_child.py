"""The child process of :func:`~onnxkit.deploy._edge.edge_report`: the ORT-format model with its
reduced-operator configuration, then the peak memory a session of the model adds without the
CPU memory arena and with it; one JSON line on stdout.

Run as a script (``python -I _edge_child.py MODEL FEEDS.npz OUT_DIR [CUSTOM_OP_LIBRARY...]``);
it imports nothing from
onnxkit, and not torch either: ``onnxruntime.tools``' ``__init__`` imports torch when it is
installed (seconds) for a helper the converter never uses, so the package is registered
without running it. One process measures both memory settings: a first, unmeasured session
brings onnxruntime's environment and the kernels' code in (what any process running a model
pays, not this model); before each measurement the freed heap goes back to the system
(``malloc_trim``), so each session allocates afresh and its rise is its own.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import importlib.util
import io
import json
import os
import sys

RUNS = 3  # session runs inside the measured window (the first one allocates the arena)


def convert(model: str, out_dir: str, libraries: list[str]) -> str:
    """The .ort model and its .required_operators.config into ``out_dir``; "" or the error."""
    if "onnxruntime.tools" not in sys.modules:
        spec = importlib.util.find_spec("onnxruntime.tools")
        if spec is not None:  # the package without its __init__ (and its torch import)
            sys.modules["onnxruntime.tools"] = importlib.util.module_from_spec(spec)
    from pathlib import Path

    from onnxruntime.tools.convert_onnx_models_to_ort import (
        OptimizationStyle,
        convert_onnx_models_to_ort,
    )

    try:
        with contextlib.redirect_stdout(io.StringIO()):
            convert_onnx_models_to_ort(
                Path(model).parent, output_dir=Path(out_dir),
                optimization_styles=[OptimizationStyle.Fixed],
                custom_op_library_path=Path(libraries[0]) if libraries else None)
    except Exception as e:  # noqa: BLE001  ORT raises Fail/InvalidGraph/RuntimeError...
        return f"{type(e).__name__}: {e}"
    return ""


def _status(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    sys.exit(f"/proc/self/status has no {key}")  # the parent reports the exit


def _trim() -> None:
    gc.collect()
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    if libc is not None and hasattr(libc, "malloc_trim"):  # glibc; musl has none
        libc.malloc_trim(0)


def _session(ort, model: str, arena: bool, feeds: dict, runs: int, libraries: list[str]
             ) -> None:
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.enable_cpu_mem_arena = arena
    for library in libraries:  # onnxruntime-extensions' operators, as onnxkit's sessions
        so.register_custom_ops_library(library)
    session = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    for _ in range(runs):
        session.run(None, feeds)


def _peak(ort, model: str, arena: bool, feeds: dict, libraries: list[str]) -> int | None:
    if not os.path.exists("/proc/self/clear_refs"):  # not Linux: no resettable high-water mark
        return None
    _trim()
    with open("/proc/self/clear_refs", "w") as f:  # Linux: resets VmHWM to the current RSS
        f.write("5")
    baseline = _status("VmRSS")
    _session(ort, model, arena, feeds, RUNS, libraries)
    return max(0, _status("VmHWM") - baseline)


def main(model: str, feeds_path: str, out_dir: str, *libraries: str) -> None:
    import numpy as np
    import onnxruntime as ort

    with np.load(feeds_path, allow_pickle=True) as npz:  # our own file: string inputs pickle
        feeds = {k: npz[k] for k in npz.files}
    libs = list(libraries)
    report: dict = {"ort_format_error": convert(model, out_dir, libs)}
    _session(ort, model, False, feeds, 1, libs)  # warm-up: onnxruntime's environment, code
    report["no_arena_bytes"] = _peak(ort, model, False, feeds, libs)
    report["arena_bytes"] = _peak(ort, model, True, feeds, libs)
    print(json.dumps(report))


if __name__ == "__main__":
    main(*sys.argv[1:])
