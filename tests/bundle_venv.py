"""The bundle's own virtualenv: what a user gets from its requirements.txt, nothing more.

It lives at the repo root as ``.venv-bundle/`` (gitignored), built once per machine and rebuilt
when the pinned requirements change; pip serves it from its cache after the first time. The
bundle's scripts run there with ``python -I`` and a bare environment, so neither onnxkit nor
the repo's packages can leak in.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from onnxkit.bundled.manifest import requirements

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv-bundle"


def pinned_venv(folder: Path, reqs: str, what: str) -> Path:
    """``folder/bin/python`` with exactly ``reqs`` installed: built (atomically, beside it)
    when missing or when ``reqs`` changed; skips the test when pip cannot install ``what``."""
    key = hashlib.sha256(reqs.encode()).hexdigest()
    stamp, python = folder / ".requirements-sha256", folder / "bin" / "python"
    if python.exists() and stamp.exists() and stamp.read_text() == key:
        return python
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(tmp)], check=True)
    (tmp / "requirements.txt").write_text(reqs)
    pip = subprocess.run([str(tmp / "bin" / "python"), "-m", "pip", "install", "-q",
                          "--disable-pip-version-check", "-r", str(tmp / "requirements.txt")],
                         capture_output=True, text=True)
    if pip.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        pytest.skip(f"cannot install {what} (offline?): {pip.stderr.strip().splitlines()[-1:]}")
    (tmp / ".requirements-sha256").write_text(key)
    shutil.rmtree(folder, ignore_errors=True)
    os.rename(tmp, folder)  # `python -m pip` and `bin/python` do not care where the venv lives
    return python


@pytest.fixture(scope="session")
def bundle_python() -> Path:
    """``.venv-bundle/bin/python``: the bundle's requirements.txt (numpy, onnxruntime,
    starlette, uvicorn and serve.py's fast paths) at the pinned versions, nothing else."""
    return venv_python(requirements(), VENV)


def venv_python(reqs: str, venv: Path) -> Path:
    """``venv``'s python with exactly a bundle's ``reqs``: neither onnxkit nor onnx in it."""
    python = pinned_venv(venv, reqs, "the bundle's requirements")
    for absent in ("onnxkit", "onnx"):
        probe = subprocess.run([str(python), "-I", "-c", f"import {absent}"],
                               capture_output=True, env=bare_env())
        assert probe.returncode != 0, f"{absent} must not be importable in {venv}"
    return python


def bare_env() -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp"), "LC_ALL": "C.UTF-8"}


SERVER_S = 180  # a server's start or stop on two busy cores (as lab_server's SERVER_START_S)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, process: subprocess.Popen, timeout: float = SERVER_S) -> None:
    """Until ``url``'s readiness probe answers 200 (a bundle's serve.py started as ``process``),
    bounded by ``timeout``; fails with the server's output if it exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited: {process.communicate()}")
        try:
            if urllib.request.urlopen(url + "/v2/health/ready", timeout=2).status == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"the server did not become ready within {timeout} s")
