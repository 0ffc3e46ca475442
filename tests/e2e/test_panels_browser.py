"""Two of the course's panels in a real browser: JupyterLab, the widget extension, a kernel.

``panels.ipynb`` (beside this file) builds the digits CNN sample and shows a ``QuantizePanel``
and a ``ProviderPanel``, tagged with DOM classes. The test opens it in JupyterLab in headless
Chromium, runs all cells, clicks *Quantize* and then *Benchmark*, waits for each panel's result
table, checks that nothing in the page shows an error, and saves screenshots to
``test-artifacts/e2e/``. Every tab of the Workbench is driven by ``test_workbench_browser.py``.

Waits poll for conditions in the page with generous limits (two busy cores); none is a fixed
sleep.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from notebook_page import assert_no_error_output, open_and_run_all, step, wait_rendered

pytestmark = pytest.mark.e2e

NOTEBOOK = Path(__file__).with_name("panels.ipynb")
ACTION_MS = 180_000        # one panel action (static quantization + assessment; a sweep)

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
    page = browser.page
    open_and_run_all(lab, page, NOTEBOOK, started)

    quantize_panel = page.locator(".e2e-quantize-panel")
    provider_panel = page.locator(".e2e-provider-panel")
    for panel, name in ((quantize_panel, "QuantizePanel"), (provider_panel, "ProviderPanel")):
        wait_rendered(page, panel, name)
    browser.shot("01-notebook-run")

    _click_and_wait(page, quantize_panel, "Quantize", started)
    browser.shot("02-quantize-panel", quantize_panel)
    _click_and_wait(page, provider_panel, "Benchmark", started)
    browser.shot("03-provider-panel", provider_panel)

    assert_no_error_output(page)
    browser.shot("04-page")
    step(started, "done")


def _click_and_wait(page: Any, panel: Any, label: str, started: float) -> dict[str, Any]:
    # By its text: the accessible name also holds the icon font's glyph.
    button = panel.locator("button").filter(has_text=re.compile(rf"^\s*{re.escape(label)}\s*$"))
    assert button.count() == 1, f"expected one '{label}' button, found {button.count()}"
    button.scroll_into_view_if_needed()
    # enabled once its panel has synced its buttons with the kernel-side state
    page.wait_for_function("(b) => !b.disabled", arg=button.element_handle(),
                           timeout=ACTION_MS)
    button.click()
    deadline = time.monotonic() + ACTION_MS / 1000
    while not panel.evaluate(PANEL_DONE_JS):
        if time.monotonic() > deadline:
            raise AssertionError(f"{label}: no result after {ACTION_MS / 1000:.0f} s; the "
                                 f"panel shows {panel.evaluate(PANEL_STATE_JS)}")
        page.wait_for_timeout(250)
    state = panel.evaluate(PANEL_STATE_JS)
    step(started, f"{label}: status {state['status']!r}, {state['rows']} table rows")
    assert not state["stderr"], f"{label} failed in the panel:\n" + "\n".join(state["stderr"])
    assert state["status"] == "done", f"{label}: the panel's status is {state['status']!r}"
    assert state["table"] and state["rows"] >= 1, f"{label}: no result table in the output area"
    return state
