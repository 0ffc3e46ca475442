"""Peak memory of one model's session, measured in a fresh child process.

Why a child: ``BenchResult.peak_rss_bytes`` is the whole process's high-water mark (Python,
numpy, every earlier session...), and even with the mark reset between models, memory an
earlier session freed stays in the allocator's pools and is silently reused, so a second model
looks cheaper than it is. ONNX Runtime's Python API exposes no per-session arena statistics.
A fresh interpreter that has imported only numpy and onnxruntime and loaded the feeds gives
a clean baseline; ``VmHWM - baseline`` after creating the session and running it is what the
model costs a process that serves it: weights, graph optimization, arena, activations.

Run as a script (``python _study_memory.py MODEL FEEDS.npz CONFIG_JSON``) it imports nothing
from onnxkit and prints one JSON line.
"""

from __future__ import annotations

import json
import sys
from typing import Any

RUNS = 3  # session runs inside the measured window (the first one allocates the arena)


def _status(key: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:  # Linux: resets VmHWM to the current RSS
        f.write("5")


def main(model: str, feeds_path: str, config: str) -> None:
    import numpy as np
    import onnxruntime as ort

    options = json.loads(config)
    with np.load(feeds_path, allow_pickle=True) as npz:  # our own file: string inputs pickle
        feeds = {k: npz[k] for k in npz.files}
    so = ort.SessionOptions()
    so.log_severity_level = 3
    if options["threads"] is not None:
        so.intra_op_num_threads = options["threads"]
    _reset_peak()
    baseline = _status("VmRSS")
    sess = ort.InferenceSession(model, so, providers=options["providers"],
                                provider_options=options["provider_options"])
    for _ in range(RUNS):
        sess.run(None, feeds)
    peak = _status("VmHWM")
    print(json.dumps({"peak_bytes": peak - baseline if peak and baseline else None}))


def peak_memory(model: Any, feeds: dict[str, Any], *, providers: Any = None,
                threads: int | None = None, timeout: float = 120.0) -> int | None:
    """Bytes the model's session adds to a fresh process (``None`` where /proc is missing)."""
    import os
    import subprocess
    import tempfile

    import numpy as np

    from onnxkit._providers import resolve

    if not os.path.exists("/proc/self/clear_refs"):
        return None
    resolved, _ = resolve(providers)
    config = json.dumps({"threads": threads, "providers": [n for n, _ in resolved],
                         "provider_options": [dict(o) for _, o in resolved]}, default=str)
    with tempfile.TemporaryDirectory(prefix="onnxkit-mem-") as tmp:
        path = os.path.join(tmp, "feeds.npz")
        np.savez(path, **feeds)
        proc = subprocess.run([sys.executable, __file__, os.fspath(model), path, config],
                              capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        from onnxkit.errors import SessionError

        tail = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise SessionError(f"measuring the peak memory of '{os.fspath(model)}' in a child "
                           f"process failed (exit {proc.returncode}): {tail}")
    return json.loads(proc.stdout.strip().splitlines()[-1])["peak_bytes"]


if __name__ == "__main__":
    main(*sys.argv[1:4])
