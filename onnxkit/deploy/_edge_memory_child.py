"""The child process of :func:`~onnxkit.deploy._edge.peak_memories`: create one session with or
without the CPU memory arena, run it, print the peak memory it added as one JSON line.

Run as a script (``python -I _edge_memory_child.py MODEL FEEDS.npz '{"arena": true}'``); it
imports nothing from onnxkit, so the baseline it measures from is numpy and onnxruntime alone.
"""

from __future__ import annotations

import json
import sys

RUNS = 3  # session runs inside the measured window (the first one allocates the arena)


def _status(key: str) -> int | None:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return None


def main(model: str, feeds_path: str, config: str) -> None:
    import numpy as np
    import onnxruntime as ort

    with np.load(feeds_path, allow_pickle=True) as npz:  # our own file: string inputs pickle
        feeds = {k: npz[k] for k in npz.files}
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.enable_cpu_mem_arena = bool(json.loads(config)["arena"])
    with open("/proc/self/clear_refs", "w") as f:  # Linux: resets VmHWM to the current RSS
        f.write("5")
    baseline = _status("VmRSS")
    session = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    for _ in range(RUNS):
        session.run(None, feeds)
    peak = _status("VmHWM")
    print(json.dumps({"peak_bytes": peak - baseline if peak and baseline else None}))


if __name__ == "__main__":
    main(*sys.argv[1:4])
