"""A JupyterLab server for tests: private folders, loopback, found and stopped reliably.

Shared by the browser tests (tests/e2e) and the test of the README's ``make lab``. The server
gets its own config, data, runtime, settings, workspace and IPython folders, so a test never
reads or writes the user's Jupyter setup.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SERVER_START_S = 180  # JupyterLab's first start on two busy cores (it can build its page config)
_PROXIES = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")


@dataclass
class Lab:
    """A running JupyterLab server: where it is, how to log in, and its root folder."""

    url: str
    token: str
    root: Path
    log: Path
    process: subprocess.Popen[bytes]
    started_s: float = 0.0

    def api(self, path: str, method: str = "GET", timeout: float = 5) -> Any:
        request = urllib.request.Request(f"{self.url}{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with _no_proxy().open(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def page_url(self, path: str) -> str:
        return f"{self.url}lab/tree/{path}?token={self.token}"

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])


def private_env(base: Path) -> tuple[dict[str, str], Path]:
    """The environment for a server whose Jupyter folders all live under ``base``, without
    proxies (loopback only); returns it with the runtime folder, where the server says where
    it listens."""
    dirs = {name: base / name for name in
            ("config", "data", "runtime", "settings", "workspaces", "ipython")}
    for folder in dirs.values():
        folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ,
           "JUPYTER_CONFIG_DIR": str(dirs["config"]), "JUPYTER_DATA_DIR": str(dirs["data"]),
           "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
           "JUPYTERLAB_SETTINGS_DIR": str(dirs["settings"]),
           "JUPYTERLAB_WORKSPACES_DIR": str(dirs["workspaces"]),
           "IPYTHONDIR": str(dirs["ipython"]), "PYTHONUNBUFFERED": "1"}
    for proxy in _PROXIES:
        env.pop(proxy, None)
    return env, dirs["runtime"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _no_proxy() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def server_pid(process: subprocess.Popen[bytes], runtime: Path) -> int | None:
    """The pid of the Jupyter server ``process`` started (itself, or a descendant when it is a
    shell or make), from the file the server writes into its runtime folder."""
    import psutil

    with contextlib.suppress(psutil.Error):
        ours = {process.pid} | {c.pid for c in psutil.Process(process.pid).children(True)}
        for info in runtime.glob("jpserver-*.json"):
            with contextlib.suppress(OSError, ValueError):
                pid = json.loads(info.read_text()).get("pid")
                if pid in ours:
                    return pid
    return None


def wait_for_server(process: subprocess.Popen[bytes], runtime: Path, server: Lab) -> str:
    """The server's base URL once it answers ``/api/status`` (read from its runtime file: the
    port it really got, should the free one have been taken meanwhile)."""
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {process.returncode} while starting:\n"
                               f"{server.log_tail()}")
        pid = server_pid(process, runtime)
        for info in runtime.glob(f"jpserver-{pid}.json") if pid else ():
            with contextlib.suppress(OSError, ValueError):
                data = json.loads(info.read_text())
                server.url = f"http://127.0.0.1:{data['port']}{data.get('base_url', '/')}"
                with contextlib.suppress(OSError, urllib.error.URLError):
                    server.api("api/status", timeout=2)
                    return server.url
        time.sleep(0.25)
    raise RuntimeError(f"JupyterLab did not answer within {SERVER_START_S} s:\n"
                       f"{server.log_tail()}")


def shutdown(server: Lab) -> None:
    """Stop the server and every process it started (its kernels run in their own sessions,
    so killing the server's process group alone would leave them behind)."""
    import psutil

    process, start = server.process, time.monotonic()
    try:
        children = psutil.Process(process.pid).children(recursive=True)
    except psutil.Error:
        children = []
    if process.poll() is None and server.url:
        with contextlib.suppress(OSError, urllib.error.URLError, ValueError):
            server.api("api/shutdown", method="POST", timeout=10)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(20)
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(wait)
        alive = [c for c in children if c.is_running()]
        for child in alive:
            with contextlib.suppress(psutil.Error):
                child.send_signal(sig)
        psutil.wait_procs(alive, timeout=wait)
    print(f"\nJupyterLab stopped in {time.monotonic() - start:.1f} s (exit {process.returncode})")
