"""A notebook in JupyterLab's page, for the browser tests: open it, run all, probe its kernel.

Shared by ``test_panels_browser.py`` and ``test_workbench_browser.py``. Waits poll for a
condition in the page with generous limits (two busy cores): they bound how long a test can
take, never how fast something must be.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path
from typing import Any

PAGE_LOAD_MS = 120_000     # JupyterLab's page and extensions on a busy machine
KERNEL_MS = 120_000        # a kernel start (imports numpy, onnxruntime...)
RUN_ALL_MS = 300_000       # a notebook's cells (samples, torch's import, the panels)
PROBE_S = 60               # the kernel answering one expression while panels work
WIDGETS_EXTENSION = "@jupyter-widgets/jupyterlab-manager"
STDERR = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
# Kernel states that say it is gone or being replaced (a crash, or the server restarting it).
LOST_STATES = ("dead", "restarting", "autorestarting", "terminating")

KERNEL_READY_JS = """(n) => {
  const panel = document.querySelector('.jp-NotebookPanel');
  if (!panel) return false;
  const name = panel.querySelector('[data-jp-item-name="kernelName"]');
  const idle = panel.querySelector('.jp-Notebook-ExecutionIndicator[data-status="idle"]');
  return panel.querySelectorAll('.jp-CodeCell').length === n && idle !== null
      && name !== null && name.innerText.trim() !== '' && !/No Kernel/.test(name.innerText);
}"""

# Every code cell numbered ([1]: ...) and the kernel idle again: the run has finished. A cell
# that raised stops Run All there: an error output with the kernel idle ends the wait.
RUN_ALL_DONE_JS = """([n, stderr]) => {
  const prompts = [...document.querySelectorAll(
      '.jp-NotebookPanel .jp-CodeCell .jp-InputArea-prompt')];
  const idle = document.querySelector(
      '.jp-NotebookPanel .jp-Notebook-ExecutionIndicator[data-status="idle"]');
  const failed = [...document.querySelectorAll(stderr)].some(
      e => /Traceback|Error/.test(e.innerText));
  return idle !== null && (failed || (prompts.length === n
      && prompts.every(p => /^\\[\\d+\\]:$/.test(p.innerText.trim()))));
}"""

# The page's own word on the kernel: the status bar's kernel item and the execution indicator.
PAGE_KERNEL_JS = """() => {
  const panel = document.querySelector('.jp-NotebookPanel');
  const indicator = panel && panel.querySelector('.jp-Notebook-ExecutionIndicator');
  const bar = [...document.querySelectorAll('#jp-main-statusbar *')]
      .map(e => e.innerText || '').filter(t => /Dead|Restarting|Unknown/.test(t));
  return {indicator: indicator ? indicator.getAttribute('data-status') : null,
          statusbar: bar.slice(0, 3)};
}"""


def open_and_run_all(lab: Any, page: Any, notebook: Path, started: float) -> None:
    """Copy ``notebook`` to the server's root, open it, wait for its kernel, Run All Cells,
    and check that no cell printed an error."""
    shutil.copy(notebook, lab.root / notebook.name)
    page.goto(lab.page_url(notebook.name), timeout=PAGE_LOAD_MS)
    assert_widgets_extension(page)
    count = sum(c["cell_type"] == "code" for c in json.loads(notebook.read_text())["cells"])
    # Every cell in the page, a kernel attached to the notebook, and that kernel idle.
    page.wait_for_function(KERNEL_READY_JS, arg=count, timeout=KERNEL_MS, polling=250)
    # The server's word too (it can lag the page's by a message: polled, bounded).
    deadline = time.monotonic() + KERNEL_MS / 1000
    while True:
        sessions = lab.api("api/sessions")
        states = [s["kernel"]["execution_state"] for s in sessions if s["path"] == notebook.name]
        if states == ["idle"]:
            break
        assert len(states) == 1 and states[0] not in LOST_STATES and \
            time.monotonic() < deadline, f"kernel sessions: {sessions}"
        time.sleep(0.25)
    step(started, "notebook open, kernel idle")

    page.locator(".lm-MenuBar-item", has_text=re.compile(r"^\s*Run\s*$")).click()
    page.locator('.lm-Menu-item[data-command="runmenu:run-all"], '  # Run > Run All Cells
                 '.lm-Menu-item[data-command="notebook:run-all-cells"]').first.click()
    page.wait_for_function(RUN_ALL_DONE_JS, arg=[count, STDERR], timeout=RUN_ALL_MS,
                           polling=500)
    step(started, "Run All Cells finished")
    assert_no_error_output(page)


def wait_rendered(page: Any, panel: Any, name: str) -> None:
    """The panel's widget view is in the page (its kernel comm and the widget extension work)."""
    try:
        panel.wait_for(state="visible", timeout=KERNEL_MS)
    except Exception as e:
        # Without the widget manager, the cell shows the widget's text repr instead of a view.
        texts = page.locator(".jp-OutputArea-output").all_inner_texts()
        raise AssertionError(
            f"{name}'s widget view did not render; is the @jupyter-widgets/jupyterlab-manager "
            f"extension active (jupyter labextension list)? Cell outputs: {texts}") from e


def assert_widgets_extension(page: Any) -> None:
    """The ipywidgets JupyterLab extension is installed and enabled in this server's page."""
    config = json.loads(page.locator("#jupyter-config-data").text_content() or "{}")
    names = [e.get("name") for e in config.get("federated_extensions", [])]
    disabled = config.get("disabledExtensions", [])
    assert WIDGETS_EXTENSION in names, (
        f"{WIDGETS_EXTENSION} is not installed for this JupyterLab (pip install "
        f"jupyterlab_widgets); its extensions: {names}")
    assert not any(d.startswith(WIDGETS_EXTENSION) for d in disabled), (
        f"{WIDGETS_EXTENSION} is disabled: {disabled}")


def assert_no_error_output(page: Any) -> None:
    """No cell output (outside the panels' own result areas) shows a traceback or error."""
    stderr = page.locator(STDERR).all_inner_texts()
    errors = [t for t in stderr if "Traceback" in t or re.search(r"\b\w+(Error|Exception)\b", t)]
    assert not errors, "error output in the notebook:\n" + "\n---\n".join(errors)
    if stderr:  # warnings and progress bars are allowed; show them in the test's output
        print("stderr output (no error):\n" + "\n---\n".join(stderr))


def step(started: float, what: str) -> None:
    print(f"[{time.monotonic() - started:6.1f} s] {what}", flush=True)


class KernelProbe:
    """A second client of the notebook's kernel: is it the same process, and does it answer?

    It connects through the kernel's connection file in the server's runtime folder and
    evaluates expressions silently (no cell, no output in the page, no execution count).
    """

    def __init__(self, lab: Any, page: Any, notebook: str):
        from jupyter_client import BlockingKernelClient

        self.lab, self.page = lab, page
        sessions = [s for s in lab.api("api/sessions") if s["path"] == notebook]
        assert len(sessions) == 1, f"expected one session for {notebook}: {sessions}"
        self.kernel_id = sessions[0]["kernel"]["id"]
        runtime = lab.root.parent / "runtime"  # conftest: private_env(base), root = base/root
        self.client = BlockingKernelClient()
        self.client.load_connection_file(str(runtime / f"kernel-{self.kernel_id}.json"))
        self.client.start_channels()
        self.pid = int(self.ask("__import__('os').getpid()"))

    def ask(self, expression: str, timeout: float = PROBE_S) -> str:
        """The kernel's ``repr`` of ``expression`` (raises when it fails or does not answer)."""
        msg_id = self.client.execute("", silent=True, store_history=False,
                                     user_expressions={"x": expression})
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"the kernel did not answer {expression!r} within "
                                     f"{timeout:.0f} s")
            try:
                reply = self.client.get_shell_msg(timeout=left)
            except Exception as e:  # queue.Empty
                raise AssertionError(f"the kernel did not answer {expression!r} within "
                                     f"{timeout:.0f} s") from e
            if reply["parent_header"].get("msg_id") != msg_id:
                continue
            value = reply["content"].get("user_expressions", {}).get("x", {})
            if value.get("status") != "ok":
                raise AssertionError(f"the kernel could not evaluate {expression!r}: {value}")
            return value["data"]["text/plain"]

    def assert_alive(self, after: str) -> None:
        """The kernel is the one the notebook started (not dead, not restarted) and answers."""
        kernel = self.lab.api(f"api/kernels/{self.kernel_id}")
        state = kernel.get("execution_state")
        assert state not in LOST_STATES, f"after {after}: the kernel is {state!r}"
        shown = self.page.evaluate(PAGE_KERNEL_JS)
        assert shown["indicator"] not in LOST_STATES and not shown["statusbar"], (
            f"after {after}: the page shows the kernel as {shown}")
        pid = int(self.ask("__import__('os').getpid()"))
        assert pid == self.pid, (f"after {after}: the kernel is another process ({pid}, was "
                                 f"{self.pid}): it died and was restarted")

    def descendants(self) -> list[tuple[int, str]]:
        """The processes the kernel started (Ray's, servers'), as (pid, name)."""
        import psutil

        try:
            children = psutil.Process(self.pid).children(recursive=True)
        except psutil.Error:
            return []
        found = []
        for child in children:
            try:
                found.append((child.pid, child.name()))
            except psutil.Error:
                continue
        return found

    def close(self) -> None:
        self.client.stop_channels()
