"""Peak memory of one model's session, measured in a fresh child process.

Why a child: ``BenchResult.peak_rss_bytes`` is the whole process's high-water mark (Python,
numpy, every earlier session...), and even with the mark reset between models, memory an
earlier session freed stays in the allocator's pools and is silently reused, so a second model
looks cheaper than it is. ONNX Runtime's Python API exposes no per-session arena statistics.
A fresh interpreter that has imported only numpy and onnxruntime and loaded the feeds gives
a clean baseline; ``VmHWM - baseline`` after creating the session and running it is what the
model costs a process that serves it: weights, graph optimization, arena, activations.

The child runs ``_memory_child.py``, which imports nothing from onnxkit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from onnxkit.errors import SessionError
from onnxkit.models import load
from onnxkit.runtime import custom_op_libraries, resolve

_CHILD = Path(__file__).with_name("_memory_child.py")


def peak_memory(model: Any, feeds: dict[str, Any], *, providers: Any = None,
                threads: int | None = None, timeout: float = 120.0) -> int | None:
    """Bytes the model's session adds to a fresh process (``None`` where /proc is missing)."""
    if not os.path.exists("/proc/self/clear_refs"):
        return None
    resolved, _ = resolve(providers)
    config = json.dumps({"threads": threads, "providers": [n for n, _ in resolved],
                         "provider_options": [dict(o) for _, o in resolved],
                         "libraries": custom_op_libraries(load(model))}, default=str)
    with tempfile.TemporaryDirectory(prefix="onnxkit-mem-") as tmp:
        path = os.path.join(tmp, "feeds.npz")
        np.savez(path, **feeds)
        proc = subprocess.run([sys.executable, str(_CHILD), os.fspath(model), path, config],
                              capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise SessionError(f"measuring the peak memory of '{os.fspath(model)}' in a child "
                           f"process failed (exit {proc.returncode}): {tail}")
    return json.loads(proc.stdout.strip().splitlines()[-1])["peak_bytes"]
