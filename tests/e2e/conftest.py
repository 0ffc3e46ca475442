"""Browser (e2e) fixtures: a private JupyterLab server and headless Debian Chromium via Playwright.

The server runs on 127.0.0.1 with a random port and token, a temporary root folder, and its own
config, data, runtime, settings and workspace folders, so a test never reads or writes the
user's Jupyter setup. Its kernels inherit ``ONNXKIT_WORKSPACE`` (the run's temporary workspace,
set by the root conftest), so the samples built once per run are shared with them.

Artifacts (screenshots, the server log, the browser console) go to ``test-artifacts/e2e/`` at
the repository root (overridable with ``ONNXKIT_E2E_ARTIFACTS``). The tests skip only when
``/usr/bin/chromium`` or the ``playwright`` library is missing: ``.ci/browser-deps.sh`` installs
both. Run them alone with ``.venv/bin/python -m pytest -m e2e tests/e2e``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from lab_server import Lab, free_port, private_env, shutdown, wait_for_server

HERE = Path(__file__).parent
REPO = HERE.parents[1]
# Debian's chromium package; ONNXKIT_E2E_CHROMIUM names another Chromium-based browser.
CHROMIUM = Path(os.environ.get("ONNXKIT_E2E_CHROMIUM", "/usr/bin/chromium"))
# Chromium must not reach out: this machine's network is closed, and its background requests
# (updates, sync, safe browsing) would be refused or time out, many at a time.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-extensions",
                 "--disable-default-apps", "--metrics-recording-only", "--mute-audio"]
ARTIFACTS = Path(os.environ.get("ONNXKIT_E2E_ARTIFACTS", REPO / "test-artifacts" / "e2e"))
_WROTE_ARTIFACTS: list[Path] = []  # set once this run's browser tests have used the folder
# The notebooks the browser tests open (not course notebooks: nbval must not run them).
collect_ignore_glob = ["*.ipynb"]

# JupyterLab user settings for the test server: every cell attached to the page (a widget view
# renders only in an attached cell) and no news or update checks (no network here).
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false",
                                                    "checkForUpdates": False},
}


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return (f"{CHROMIUM} is missing: the browser tests drive Debian's chromium package "
                "(run .ci/browser-deps.sh .venv/bin/python)")
    if importlib.util.find_spec("playwright") is None:
        return ("the playwright library is missing (run .ci/browser-deps.sh .venv/bin/python; "
                "its own browser downloads are not used)")
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _missing()
    if reason is None:
        return
    for item in items:
        if item.get_closest_marker("e2e") is not None:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """``test-artifacts/e2e/``, emptied at the start of the run."""
    folder = ARTIFACTS
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    _WROTE_ARTIFACTS.append(folder)
    return folder


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, artifacts: Path) -> Iterator[Lab]:
    """JupyterLab on 127.0.0.1 with private folders; shut down (kernels too) at the end."""
    base = tmp_path_factory.mktemp("jupyterlab")
    root = base / "root"
    root.mkdir()
    env, runtime = private_env(base)
    settings = Path(env["JUPYTERLAB_SETTINGS_DIR"])
    for plugin, values in LAB_SETTINGS.items():
        path = settings / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env.setdefault("ONNXKIT_WORKSPACE", str(base / "onnxkit-work"))
    token = secrets.token_hex(24)
    command = [sys.executable, "-m", "jupyterlab", "--no-browser",
               "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={free_port()}",
               "--ServerApp.port_retries=20", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={root}", "--ServerApp.open_browser=False",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
               "--LabApp.extension_manager=readonly",  # no PyPI queries from the page
               # A safety net should this process be killed before its finalizer runs: idle
               # kernels are culled, then the server stops itself.
               "--MappingKernelManager.cull_idle_timeout=900",
               "--MappingKernelManager.cull_interval=60",
               "--ServerApp.shutdown_no_activity_timeout=900",
               *(["--allow-root"] if os.geteuid() == 0 else [])]  # CI machines run as root
    log = artifacts / "jupyterlab.log"
    start = time.monotonic()
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=root, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    server = Lab(url="", token=token, root=root, log=log, process=process)
    try:
        server.url = wait_for_server(process, runtime, server)
        server.api("api/status")
        server.started_s = time.monotonic() - start
        print(f"\nJupyterLab ready at {server.url} in {server.started_s:.1f} s "
              f"(log: {log})")
        yield server
    finally:
        shutdown(server)


@dataclass
class Browser:
    """A headless Chromium page, with its console and page errors recorded."""

    page: Any
    artifacts: Path
    console: list[str] = field(default_factory=list)

    def shot(self, name: str, target: Any = None) -> Path:
        """Save a screenshot of ``target`` (a locator) or the page as ``<artifacts>/name.png``.

        JupyterLab scrolls the notebook inside a fixed-size page, so an element taller than the
        window would come out cut and overlaid with Lab's bars: the window grows to fit it for
        the shot, then shrinks back.
        """
        path = self.artifacts / f"{name}.png"
        if target is None:
            self.page.screenshot(path=str(path))
        else:
            size = self.page.viewport_size
            box = target.bounding_box()
            needed = int(box["height"]) + 400 if box else 0  # Lab's menu, tabs and toolbar
            if size and needed > size["height"]:
                self.page.set_viewport_size({"width": size["width"], "height": needed})
            try:
                target.scroll_into_view_if_needed()
                target.screenshot(path=str(path))
            finally:
                if size:
                    self.page.set_viewport_size(size)
        print(f"screenshot: {path}")
        return path


@pytest.fixture
def browser(artifacts: Path, request: pytest.FixtureRequest) -> Iterator[Browser]:
    """A page in headless ``/usr/bin/chromium``; a screenshot of the page when a test fails."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                      args=CHROMIUM_ARGS)
        try:
            context = chromium.new_context(viewport={"width": 1400, "height": 1000},
                                           device_scale_factor=1)
            page = context.new_page()
            wrapped = Browser(page, artifacts)
            page.on("console", lambda m: wrapped.console.append(f"[{m.type}] {m.text}"))
            page.on("pageerror", lambda e: wrapped.console.append(f"[pageerror] {e}"))
            try:
                yield wrapped
            finally:
                report = getattr(request.node, "rep_call", None)
                if report is not None and report.failed:
                    with contextlib.suppress(Exception):
                        wrapped.shot(f"{request.node.name}-failure")
                    with contextlib.suppress(Exception):
                        (artifacts / f"{request.node.name}-failure.html").write_text(
                            page.content())
                (artifacts / f"{request.node.name}-console.log").write_text(
                    "\n".join(wrapped.console) + "\n")
                context.close()
        finally:
            chromium.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Iterator[None]:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report



def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say where the screenshots and logs are (shown without ``-s`` too)."""
    if not _WROTE_ARTIFACTS:
        return  # no browser test ran: what is there is from an earlier run
    folder = ARTIFACTS
    files = sorted(p.name for p in folder.glob("*")) if folder.is_dir() else []
    if files:
        terminalreporter.write_line(f"e2e artifacts in {folder}: {', '.join(files)}")
