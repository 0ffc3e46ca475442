"""A virtualenv with ``tritonclient[grpc]``, for the gRPC client tests.

tritonclient 2.73's gRPC client needs ``protobuf<7``, while Ray Serve (pinned here) needs
protobuf 7: both cannot share the project's environment, so the client runs in its own, at
the repo root as ``.venv-tritonclient/`` (gitignored), built once per machine and rebuilt when
its requirements change. A test writes a client script and runs it there.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv-tritonclient"
REQUIREMENTS = f"tritonclient[grpc]==2.73.0\nnumpy=={np.__version__}\n"
CLIENT_S = 300  # bounds a client run on two busy cores; decides nothing


def _build(key: str) -> None:
    tmp = ROOT / f".venv-tritonclient.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(tmp)], check=True)
    (tmp / "requirements.txt").write_text(REQUIREMENTS)
    pip = subprocess.run([str(tmp / "bin" / "python"), "-m", "pip", "install", "-q",
                          "--disable-pip-version-check", "-r", str(tmp / "requirements.txt")],
                         capture_output=True, text=True)
    if pip.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        pytest.skip(f"cannot install tritonclient[grpc] (offline?): "
                    f"{pip.stderr.strip().splitlines()[-1:]}")
    (tmp / ".requirements-sha256").write_text(key)
    shutil.rmtree(VENV, ignore_errors=True)
    os.rename(tmp, VENV)


def tritonclient_python() -> Path:
    """``.venv-tritonclient/bin/python``, built first when missing or stale."""
    key = hashlib.sha256(REQUIREMENTS.encode()).hexdigest()
    stamp, python = VENV / ".requirements-sha256", VENV / "bin" / "python"
    if not (python.exists() and stamp.exists() and stamp.read_text() == key):
        _build(key)
    return python


def run_client(python: Path, script: str, **values: Any) -> Any:
    """Run ``script`` (which reads ``ARGS`` and prints one JSON line) in the client venv."""
    code = f"import json\nARGS = json.loads({json.dumps(json.dumps(values))})\n{script}"
    out = subprocess.run([str(python), "-I", "-c", code], capture_output=True, text=True,
                         timeout=CLIENT_S, env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"})
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":  # build it ahead: python tests/serve/tritonclient_venv.py
    print(tritonclient_python())
