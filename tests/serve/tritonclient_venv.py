"""A virtualenv with ``tritonclient[grpc]``, for the gRPC client tests.

tritonclient 2.73's gRPC client needs ``protobuf<7``, while Ray Serve (pinned here) needs
protobuf 7: both cannot share the project's environment, so the client runs in its own, at
the repo root as ``.venv-tritonclient/`` (gitignored), built once per machine and rebuilt when
its requirements change. A test writes a client script and runs it there.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
from bundle_venv import pinned_venv

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv-tritonclient"
REQUIREMENTS = f"tritonclient[grpc]==2.73.0\nnumpy=={np.__version__}\n"
CLIENT_S = 300  # bounds a client run on two busy cores; decides nothing


def tritonclient_python() -> Path:
    """``.venv-tritonclient/bin/python``, built first when missing or stale."""
    return pinned_venv(VENV, REQUIREMENTS, "tritonclient[grpc]")


def run_client(python: Path, script: str, **values: Any) -> Any:
    """Run ``script`` (which reads ``ARGS`` and prints one JSON line) in the client venv."""
    code = f"import json\nARGS = json.loads({json.dumps(json.dumps(values))})\n{script}"
    out = subprocess.run([str(python), "-I", "-c", code], capture_output=True, text=True,
                         timeout=CLIENT_S, env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"})
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":  # build it ahead: python tests/serve/tritonclient_venv.py
    print(tritonclient_python())
