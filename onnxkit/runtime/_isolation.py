"""Does ONNX Runtime survive loading a model? Asked in a child process, so that a model that
crashes it (a segmentation fault in a kernel's setup, seen with float16 LSTMs) costs a child,
not the notebook's kernel."""

from __future__ import annotations

import signal
import subprocess
import sys

from onnxkit.models import Model
from onnxkit.runtime._session import custom_op_libraries

_LOAD = ("import sys, onnxruntime as ort; so = ort.SessionOptions(); "
         "so.log_severity_level = 4; [so.register_custom_ops_library(p) for p in sys.argv[2:]]; "
         "ort.InferenceSession(sys.argv[1], so, providers=['CPUExecutionProvider'])")


def crashes_onnxruntime(model: Model, *, timeout: float = 120.0) -> str | None:
    """How ONNX Runtime died creating a session for ``model`` (``"SIGSEGV"``), or None when
    it did not (an ordinary error is not a crash: it is raised in-process, in words)."""
    try:
        done = subprocess.run([sys.executable, "-c", _LOAD, str(model.path),
                               *custom_op_libraries(model)],
                              capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return f"no answer within {timeout:g} s"
    if done.returncode >= 0:
        return None
    try:
        return signal.Signals(-done.returncode).name
    except ValueError:
        return f"signal {-done.returncode}"
