"""The child process of :func:`~onnxkit.study._memory.peak_memory`: create one model's session,
run it, print the peak memory it added as one JSON line.

Run as a script (``python _memory_child.py MODEL FEEDS.npz CONFIG_JSON``); it imports nothing
from onnxkit, so the baseline it measures from is numpy and onnxruntime alone.
"""

from __future__ import annotations

import json
import sys

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
    for library in options["libraries"]:  # custom operators (onnxruntime-extensions')
        so.register_custom_ops_library(library)
    _reset_peak()
    baseline = _status("VmRSS")
    sess = ort.InferenceSession(model, so, providers=options["providers"],
                                provider_options=options["provider_options"])
    for _ in range(RUNS):
        sess.run(None, feeds)
    peak = _status("VmHWM")
    print(json.dumps({"peak_bytes": peak - baseline if peak and baseline else None}))


if __name__ == "__main__":
    main(*sys.argv[1:4])
