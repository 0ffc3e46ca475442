"""The README's first commands, run as a new user runs them: through make, as typed.

``make lab`` must serve the course on loopback (as root too: containers and CI run as root),
``make demo`` and ``onnxkit demo`` must write their report. ``make test`` is this suite itself.
"""

from __future__ import annotations

import os
import re
import secrets
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from lab_server import Lab, free_port, private_env, server_pid, shutdown, wait_for_server

REPO = Path(__file__).resolve().parents[1]
# A make started from this suite (itself run by `make test`) must behave as one typed in a
# shell: without the outer make's flags and jobserver.
_MAKE_VARIABLES = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")

pytestmark = pytest.mark.skipif(not (REPO / ".venv").is_dir(),
                                reason="the README's commands use .venv (make setup)")


def readme_commands() -> list[str]:
    """The commands of the README's first code block, without their comments."""
    blocks = re.findall(r"```bash\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    lines = [line.split("#")[0].strip() for line in blocks[0].splitlines()]
    return [line for line in lines if line]


def shell_env(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in _MAKE_VARIABLES}


def test_the_readme_starts_with_lab_and_test():
    assert readme_commands()[:2] == ["make lab", "make test"]


def test_make_lab_serves_the_course_on_loopback(tmp_path):
    env, runtime = private_env(tmp_path / "jupyter")
    token = secrets.token_hex(16)
    env.update(JUPYTER_PORT=str(free_port()), JUPYTER_TOKEN=token, BROWSER="true")
    log = tmp_path / "lab.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(shlex.split(readme_commands()[0]), cwd=REPO,
                                   env=shell_env(env), stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    server = Lab(url="", token=token, root=REPO / "notebooks", log=log, process=process)
    try:
        url = wait_for_server(process, runtime, server)
        assert server.api("api/status")["started"]
        notebook = server.api("api/contents/00_quickstart.ipynb")
        assert notebook["type"] == "notebook" and notebook["content"]["cells"]
        courses = {item["name"] for item in server.api("api/contents/")["content"]}
        assert {"00_quickstart.ipynb", "07_deploy.ipynb"} <= courses
        # The URL to open, printed (Jupyter masks a token it did not make itself).
        assert f"{url}lab?token=" in log.read_text()
        assert _listening_addresses(server_pid(process, runtime)) == {"127.0.0.1"}
    finally:
        shutdown(server)


def _listening_addresses(pid: int | None) -> set[str]:
    import psutil

    assert pid is not None
    return {c.laddr.ip for c in psutil.Process(pid).net_connections("inet")
            if c.status == psutil.CONN_LISTEN}


def test_make_demo_writes_the_report(tmp_path):
    report = tmp_path / "report.html"
    done = subprocess.run(["make", "demo", f"DEMO_OUT={report}", "DEMO_ARGS=--quick"], cwd=REPO,
                          env=shell_env(dict(os.environ)), capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"report: {report}" in done.stdout
    assert "<html" in report.read_text(encoding="utf-8")[:500].lower()


def test_onnxkit_demo_from_the_shell(tmp_path):
    onnxkit_command = Path(sys.executable).with_name("onnxkit")
    report = tmp_path / "demo.html"
    done = subprocess.run([str(onnxkit_command), "demo", "--quick", "--out", str(report)],
                          cwd=tmp_path, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^total .* passed", done.stdout, re.M)
    assert report.stat().st_size > 10_000
