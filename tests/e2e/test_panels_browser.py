"""The course's panels in a real browser: JupyterLab, the widget extension, a kernel, clicks.

``panels.ipynb`` (beside this file) builds the digits CNN sample and shows a ``QuantizePanel``,
a ``ProviderPanel`` and a ``Workbench``, tagged with DOM classes. The test opens it in
JupyterLab in headless Chromium, runs all cells, clicks *Quantize* and then *Benchmark*, waits
for each panel's result table, optimizes in the workbench's tab and checks the new model became
current, checks that nothing in the page shows an error, and saves screenshots to
``test-artifacts/e2e/``.

Waits poll for conditions in the page with generous limits (two busy cores); none is a fixed
sleep.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

NOTEBOOK = Path(__file__).with_name("panels.ipynb")
PAGE_LOAD_MS = 120_000     # JupyterLab's page and extensions on a busy machine
KERNEL_MS = 120_000        # a kernel start (imports numpy, onnxruntime...)
RUN_ALL_MS = 240_000       # the notebook: the digits sample trains on the first run (~20 s)
ACTION_MS = 180_000        # one panel action (static quantization + assessment; a sweep)
KERNEL_READY_JS = """(n) => {
  const panel = document.querySelector('.jp-NotebookPanel');
  if (!panel) return false;
  const name = panel.querySelector('[data-jp-item-name="kernelName"]');
  const idle = panel.querySelector('.jp-Notebook-ExecutionIndicator[data-status="idle"]');
  return panel.querySelectorAll('.jp-CodeCell').length === n && idle !== null
      && name !== null && name.innerText.trim() !== '' && !/No Kernel/.test(name.innerText);
}"""
WIDGETS_EXTENSION = "@jupyter-widgets/jupyterlab-manager"
STDERR = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'

# The state of one panel: its status label (next to the progress bar), whether its output area
# holds a table, and any stderr text there (a failed action shows its error as a stderr stream).
PANEL_STATE_JS = """(panel) => {
  const out = panel.querySelector(':scope > .widget-output')
      || panel.querySelector('.widget-output');
  const bar = panel.querySelector('.widget-hprogress, .widget-progress');
  const row = bar ? bar.parentElement : null;
  const labels = row ? [...row.querySelectorAll('.widget-label, .widget-label-basic')] : [];
  const status = labels.map(e => e.innerText.trim()).filter(t => t).join(' ');
  const table = out ? out.querySelector('table') : null;
  const stderr = out ? [...out.querySelectorAll(
      '[data-mime-type="application/vnd.jupyter.stderr"]')].map(e => e.innerText) : [];
  return {status, table: !!table, rows: table ? table.querySelectorAll('tbody tr').length : 0,
          stderr, busy: [...panel.querySelectorAll('button')].some(
              b => b.innerText.trim() === 'Cancel' && !b.disabled)};
}"""

# True when the action has finished either way: a table with status 'done', or a failure.
PANEL_DONE_JS = "(panel) => { const state = (" + PANEL_STATE_JS + """)(panel);
  return (state.table && state.status === 'done' && !state.busy)
      || state.stderr.length > 0 || /failed|cancelled/.test(state.status);
}"""


def test_panels_quantize_and_benchmark_in_jupyterlab(lab: Any, browser: Any) -> None:
    started = time.monotonic()
    shutil.copy(NOTEBOOK, lab.root / NOTEBOOK.name)
    page = browser.page

    page.goto(lab.page_url(NOTEBOOK.name), timeout=PAGE_LOAD_MS)
    _assert_widgets_extension(page)
    count = sum(c["cell_type"] == "code" for c in json.loads(NOTEBOOK.read_text())["cells"])
    # Every cell in the page, a kernel attached to the notebook, and that kernel idle.
    page.wait_for_function(KERNEL_READY_JS, arg=count, timeout=KERNEL_MS, polling=250)
    sessions = lab.api("api/sessions")
    assert [s["kernel"]["execution_state"] for s in sessions
            if s["path"] == NOTEBOOK.name] == ["idle"], f"kernel sessions: {sessions}"
    _step(started, "notebook open, kernel idle")

    page.locator(".lm-MenuBar-item", has_text=re.compile(r"^\s*Run\s*$")).click()
    page.locator('.lm-Menu-item[data-command="runmenu:run-all"], '  # Run > Run All Cells
                 '.lm-Menu-item[data-command="notebook:run-all-cells"]').first.click()
    # Every code cell numbered ([1]: ...) and the kernel idle again: the run has finished. A
    # cell that raised stops Run All there: an error output with the kernel idle ends the wait.
    page.wait_for_function(
        """([n, stderr]) => {
          const prompts = [...document.querySelectorAll(
              '.jp-NotebookPanel .jp-CodeCell .jp-InputArea-prompt')];
          const idle = document.querySelector(
              '.jp-NotebookPanel .jp-Notebook-ExecutionIndicator[data-status="idle"]');
          const failed = [...document.querySelectorAll(stderr)].some(
              e => /Traceback|Error/.test(e.innerText));
          return idle !== null && (failed || (prompts.length === n
              && prompts.every(p => /^\\[\\d+\\]:$/.test(p.innerText.trim()))));
        }""", arg=[count, STDERR], timeout=RUN_ALL_MS, polling=500)
    _step(started, "Run All Cells finished")
    _assert_no_error_output(page)

    quantize_panel = page.locator(".e2e-quantize-panel")
    provider_panel = page.locator(".e2e-provider-panel")
    for panel, name in ((quantize_panel, "QuantizePanel"), (provider_panel, "ProviderPanel")):
        _wait_rendered(page, panel, name)
    browser.shot("01-notebook-run")

    _click_and_wait(page, quantize_panel, "Quantize", started)
    browser.shot("02-quantize-panel", quantize_panel)
    _click_and_wait(page, provider_panel, "Benchmark", started)
    browser.shot("03-provider-panel", provider_panel)
    _workbench(page, browser, started)

    _assert_no_error_output(page)
    browser.shot("04-page")
    _step(started, "done")


def _workbench(page: Any, browser: Any, started: float) -> None:
    """Optimize in the workbench's tab; the new model becomes current and Quantize takes it."""
    bench = page.locator(".e2e-workbench")
    _wait_rendered(page, bench, "Workbench")
    _tab(bench, "Optimize").click()
    optimize_panel = page.locator(".e2e-optimize-panel")
    _click_and_wait(page, optimize_panel, "Optimize", started)
    header = bench.locator(".widget-html").first
    page.wait_for_function("(h) => /opt-basic/.test(h.innerText)", arg=header.element_handle(),
                           timeout=ACTION_MS, polling=250)
    _tab(bench, "Quantize").click()
    quantize = bench.locator(".widget-tab-contents button:visible").filter(
        has_text=re.compile(r"^\s*Quantize\s*$"))  # the rebuilt panel's own button
    quantize.wait_for(state="visible", timeout=ACTION_MS)
    browser.shot("05-workbench", bench)
    _step(started, f"workbench: current model {header.inner_text()!r}")


def _tab(bench: Any, title: str) -> Any:
    tab = bench.locator(".lm-TabBar-tab").filter(has_text=re.compile(rf"^\s*{title}\s*$"))
    assert tab.count() == 1, f"expected one '{title}' tab in the workbench, found {tab.count()}"
    return tab


def _click_and_wait(page: Any, panel: Any, label: str, started: float) -> dict[str, Any]:
    # By its text: the accessible name also holds the icon font's glyph.
    button = panel.locator("button").filter(has_text=re.compile(rf"^\s*{re.escape(label)}\s*$"))
    assert button.count() == 1, f"expected one '{label}' button, found {button.count()}"
    button.scroll_into_view_if_needed()
    # enabled once its panel has synced its buttons with the kernel-side state
    page.wait_for_function("(b) => !b.disabled", arg=button.element_handle(),
                           timeout=ACTION_MS)
    button.click()
    # Polled through the locator, not an element handle: a container (the workbench's tabs)
    # may render the panel again when the action changes what it shows.
    deadline = time.monotonic() + ACTION_MS / 1000
    while not panel.evaluate(PANEL_DONE_JS):
        if time.monotonic() > deadline:
            raise AssertionError(f"{label}: no result after {ACTION_MS / 1000:.0f} s; the "
                                 f"panel shows {panel.evaluate(PANEL_STATE_JS)}")
        page.wait_for_timeout(250)
    state = panel.evaluate(PANEL_STATE_JS)
    _step(started, f"{label}: status {state['status']!r}, {state['rows']} table rows")
    assert not state["stderr"], f"{label} failed in the panel:\n" + "\n".join(state["stderr"])
    assert state["status"] == "done", f"{label}: the panel's status is {state['status']!r}"
    assert state["table"] and state["rows"] >= 1, f"{label}: no result table in the output area"
    return state


def _wait_rendered(page: Any, panel: Any, name: str) -> None:
    """The panel's widget view is in the page (its kernel comm and the widget extension work)."""
    try:
        panel.wait_for(state="visible", timeout=KERNEL_MS)
    except Exception as e:
        # Without the widget manager, the cell shows the widget's text repr instead of a view.
        texts = page.locator(".jp-OutputArea-output").all_inner_texts()
        raise AssertionError(
            f"{name}'s widget view did not render; is the @jupyter-widgets/jupyterlab-manager "
            f"extension active (jupyter labextension list)? Cell outputs: {texts}") from e


def _assert_widgets_extension(page: Any) -> None:
    """The ipywidgets JupyterLab extension is installed and enabled in this server's page."""
    config = json.loads(page.locator("#jupyter-config-data").text_content() or "{}")
    names = [e.get("name") for e in config.get("federated_extensions", [])]
    disabled = config.get("disabledExtensions", [])
    assert WIDGETS_EXTENSION in names, (
        f"{WIDGETS_EXTENSION} is not installed for this JupyterLab (pip install "
        f"jupyterlab_widgets); its extensions: {names}")
    assert not any(d.startswith(WIDGETS_EXTENSION) for d in disabled), (
        f"{WIDGETS_EXTENSION} is disabled: {disabled}")


def _assert_no_error_output(page: Any) -> None:
    stderr = page.locator(STDERR).all_inner_texts()
    errors = [t for t in stderr if "Traceback" in t or re.search(r"\b\w+(Error|Exception)\b", t)]
    assert not errors, "error output in the notebook:\n" + "\n---\n".join(errors)
    if stderr:  # warnings and progress bars are allowed; show them in the test's output
        print("stderr output (no error):\n" + "\n---\n".join(stderr))


def _step(started: float, what: str) -> None:
    print(f"[{time.monotonic() - started:6.1f} s] {what}")
