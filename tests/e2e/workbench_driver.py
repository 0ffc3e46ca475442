"""A Workbench in JupyterLab's page, driven tab by tab as a person would (for the e2e tests).

:class:`Bench` finds one Workbench by its DOM class, opens its tabs, types into the shown
panel's controls, clicks its buttons and waits for the action to end. An action has ended
when the panel's *Cancel* button went enabled (the panel is busy) and then disabled again:
every panel has that button, it follows the panel's ``busy`` state, and a MutationObserver
catches the change even for an action that takes a few milliseconds. Each action is timed
from the click to that end and recorded with its outcome in :attr:`Bench.timings`.

Waits poll the page with generous limits: they bound how long a test can take, never how
fast an action must be.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from notebook_page import KernelProbe, step

ACTION_S = 300.0   # one action on two busy cores (a local Ray's start; Study's Auto)
ENABLED_S = 300.0  # a button waiting for its panel (Study measures new models in the background)
DISABLED_S = 10.0  # a button disabled that long with its panel idle stays disabled
SETTLE_S = 3.0     # "a few seconds later": the result must still be on its tab

# The shown panel of a workbench (the tab's content that is not hidden) and what it shows:
# the selected tab's title, the status next to the progress bar, the output area after it
# (its text, table, plot, frame and stderr), the buttons and whether they are enabled, and
# the panel's other visible text (hints, labels).
SHOWN_JS = """(bench) => {
  const tab = [...bench.children].find(e => e.classList.contains('widget-tab'));
  const title = tab ? tab.querySelector('.lm-TabBar-tab.lm-mod-current') : null;
  const contents = tab ? tab.querySelector('.widget-tab-contents') : null;
  const panel = contents ? [...contents.children].find(
      e => !e.classList.contains('lm-mod-hidden')) : null;
  const header = bench.querySelector('.widget-html');
  const base = {tab: title ? title.innerText.trim() : null,
                header: header ? header.innerText.trim() : ''};
  if (!panel) return {...base, panel: false};
  const bar = panel.querySelector('.widget-hprogress, .widget-progress');
  const row = bar ? bar.parentElement : null;
  const labels = row ? [...row.querySelectorAll('.widget-label, .widget-label-basic')] : [];
  let out = null;
  for (let e = row ? row.nextElementSibling : null; e; e = e.nextElementSibling) {
    if (e.classList.contains('widget-output')) { out = e; break; }
  }
  const items = out ? [...out.querySelectorAll('.jp-OutputArea-output')] : [];
  const stderr = items.filter(e => e.getAttribute('data-mime-type')
      === 'application/vnd.jupyter.stderr').map(e => e.innerText.trim());
  const text = items.map(e => e.innerText).join('\\n').trim();
  const table = out ? out.querySelector('table') : null;
  const buttons = [...panel.querySelectorAll('button')].map(
      b => ({text: b.innerText.trim(), disabled: b.disabled}));
  const cancel = buttons.find(b => b.text === 'Cancel');
  return {...base, panel: true,
          status: labels.map(e => e.innerText.trim()).filter(t => t).join(' '),
          busy: cancel ? !cancel.disabled : false, outputs: items.length, text,
          table: !!table, rows: table ? table.querySelectorAll('tbody tr').length : 0,
          plot: !!(out && out.querySelector('.js-plotly-plot, .plot-container')),
          frame: !!(out && out.querySelector('iframe')), stderr, buttons,
          panel_text: panel.innerText.replace(text, '').trim()};
}"""

# Before a click: watch the shown panel's Cancel button; busy = it went enabled, ended = it
# went disabled again after that.
WATCH_JS = """(bench) => {
  const tab = [...bench.children].find(e => e.classList.contains('widget-tab'));
  const panel = [...tab.querySelector('.widget-tab-contents').children].find(
      e => !e.classList.contains('lm-mod-hidden'));
  const cancel = [...panel.querySelectorAll('button')].find(
      b => b.innerText.trim() === 'Cancel');
  const watch = {busy: false, ended: false, cancel};
  const observer = new MutationObserver((records) => {
    for (const r of records) {
      const disabledBefore = r.oldValue !== null;
      if (disabledBefore) watch.busy = true;
      else if (watch.busy) watch.ended = true;
    }
  });
  observer.observe(cancel, {attributes: true, attributeFilter: ['disabled'],
                            attributeOldValue: true});
  watch.observer = observer;
  window.__e2eWatch = watch;
  return true;
}"""
WATCHED_JS = """() => {
  const w = window.__e2eWatch;
  return {busy: w.busy, ended: w.ended, attached: document.contains(w.cancel),
          disabled: w.cancel.disabled};
}"""


@dataclass
class Timing:
    """One action: where, what, how long from click to end, and what the panel showed."""

    bench: str
    tab: str
    action: str
    seconds: float
    outcome: str


def describe(state: dict[str, Any]) -> str:
    """A short outcome: the status, then what the result area holds."""
    parts = []
    if state.get("table"):
        parts.append(f"table of {state['rows']} rows")
    if state.get("plot"):
        parts.append("plot")
    if state.get("frame"):
        parts.append("frame")
    if state.get("stderr"):
        parts.append("error: " + " ".join(state["stderr"])[:160])
    elif state.get("text") and not state.get("table"):
        parts.append(repr(_one_line(state["text"])[:100]))
    status = state.get("status") or "(no status)"
    return f"{status}: {', '.join(parts)}" if parts else f"{status}: (empty result area)"


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


class Bench:
    """One Workbench in the page (found by ``css``), its tabs clicked as a person would."""

    def __init__(self, page: Any, browser: Any, probe: KernelProbe, css: str, name: str,
                 started: float, timings: list[Timing], problems: list[str]):
        self.page, self.browser, self.probe = page, browser, probe
        self.root = page.locator(css)
        self.name, self.started, self.timings = name, started, timings
        self.problems = problems  # what a person would see wrong; the test fails at its end
        self.title = ""

    # --- reading ------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return self.root.evaluate(SHOWN_JS)

    def shown(self) -> Any:
        """The shown panel (a locator)."""
        return self.root.locator(".widget-tab-contents > .widget-vbox:not(.lm-mod-hidden)")

    def header(self) -> str:
        return self.root.locator(".widget-html").first.inner_text()

    # --- doing --------------------------------------------------------------------------------

    def open(self, title: str) -> dict[str, Any]:
        """Click the tab ``title``; wait until it is selected and its panel shown."""
        tab = self.root.locator(".lm-TabBar-tab").filter(
            has_text=re.compile(rf"^\s*{re.escape(title)}\s*$"))
        assert tab.count() == 1, f"expected one '{title}' tab, found {tab.count()}"
        tab.click()
        self._until(lambda s: s.get("tab") == title and s.get("panel"), 60,
                    f"the '{title}' tab to show its panel")
        self.title = title
        return self.state()

    def fill(self, label: str, text: str, *, check: str | None = None,
             expected: str | None = None) -> None:
        """Type ``text`` into the shown panel's control described ``label``, then leave it
        (a control that updates on change gets its value then). ``check``: a kernel
        expression whose repr must become ``expected``."""
        field = self._control(label).locator("input, textarea").first
        field.fill(text)
        field.press("Tab")
        self._became(check, expected, f"typed {text!r} into '{label}'")

    def choose(self, label: str, option: str, *, check: str | None = None,
               expected: str | None = None) -> None:
        """Pick ``option`` (as shown) in the shown panel's dropdown described ``label``;
        ``check``/``expected`` as for :meth:`fill`."""
        self._control(label).locator("select").first.select_option(label=option)
        self._became(check, expected, f"chose {option!r} in '{label}'")

    def _control(self, label: str) -> Any:
        box = self.shown().locator(".widget-inline-hbox").filter(
            has=self.page.locator("label.widget-label", has_text=re.compile(
                rf"^\s*{re.escape(label)}\s*$")))
        assert box.count() >= 1, f"{self.title}: no control '{label}'"
        return box.first

    def _became(self, check: str | None, expected: str | None, what: str) -> None:
        if check is None:
            return
        deadline = time.monotonic() + 30
        while (got := self.probe.ask(check)) != expected:
            assert time.monotonic() < deadline, (
                f"{self.title}: {what} but {check} is {got}, expected {expected}")
            time.sleep(0.2)

    def button(self, label: str, scope: Any = None) -> Any:
        # By its text: the accessible name also holds the icon font's glyph.
        return (scope or self.shown()).locator("button").filter(
            has_text=re.compile(rf"^\s*{re.escape(label)}\s*$"))

    def act(self, label: str, *, expect: tuple[str, ...] = ("done",),
            cancel_after_s: float | None = None) -> dict[str, Any]:
        """Click the shown panel's ``label`` button and wait for the action to end.

        ``expect``: the statuses that are right here ('done', 'failed', 'cancelled', or
        'disabled' for a button that should stay disabled). ``cancel_after_s``: click Cancel
        once the action has run that long. Checks, after it: the status is expected, a done
        action left a result, a failure shows a message (not a traceback), the same tab is
        still selected, and the kernel is alive.
        """
        title = self.title
        button = self.button(label)
        assert button.count() == 1, (f"{title}: expected one '{label}' button, found "
                                     f"{button.count()}; buttons: {self.state().get('buttons')}")
        button.scroll_into_view_if_needed()
        # Wait for it while its panel is busy (Study measures new models in the background);
        # disabled for DISABLED_S with the panel idle, it stays so.
        deadline, idle_since = time.monotonic() + ENABLED_S, None
        while button.is_disabled():
            state = self.state()
            now = time.monotonic()
            idle_since = None if state.get("busy") else (idle_since or now)
            if now > deadline or (idle_since is not None and now - idle_since > DISABLED_S):
                hint = _one_line(state.get("panel_text", ""))
                outcome = f"disabled; the panel says: {hint[:300]!r}"
                self.problem("disabled" in expect, f"{title}: '{label}' stays disabled; "
                                                   f"the panel shows {describe(state)}")
                self._record(title, label, 0.0, outcome)
                self.probe.assert_alive(f"{self.name} {title}: {label} (disabled)")
                return state
            time.sleep(0.25)
        self.root.evaluate(WATCH_JS)
        clicked = time.monotonic()
        button.click()
        cancelled = False
        while True:
            watched = self.page.evaluate(WATCHED_JS)
            elapsed = time.monotonic() - clicked
            if watched["ended"] and watched["disabled"]:
                break
            if not watched["attached"] and not self.state().get("busy"):
                break  # the panel was drawn again: its own Cancel says whether it is busy
            if (cancel_after_s is not None and not cancelled and watched["busy"]
                    and elapsed >= cancel_after_s):
                self.button("Cancel").click()
                cancelled = True
            if elapsed > ACTION_S:
                raise AssertionError(f"{title}: '{label}' did not end within "
                                     f"{ACTION_S:.0f} s; the panel shows {self.state()}")
            time.sleep(0.1)
        seconds = time.monotonic() - clicked
        # The outputs and status were sent before busy went off: let the page draw them.
        state = self._until(lambda s: s.get("outputs", 0) > 0 or s.get("stderr"), 10, None)
        self._record(title, label + (" + Cancel" if cancelled else ""), seconds,
                     describe(state))
        self._check(label, state, expect)
        return state

    def use_as_current(self, pattern: str) -> float:
        """Pick the model matching ``pattern`` in the header and click *Use as current*."""
        select = self.root.locator("select").first  # the header's models menu
        options = select.locator("option").all_inner_texts()
        chosen = [i for i, o in enumerate(options) if re.search(pattern, o)]
        assert chosen, f"the header offers no model matching {pattern!r}: {options}"
        select.select_option(index=chosen[0])
        clicked = time.monotonic()
        self.button("Use as current", self.root).first.click()
        deadline = clicked + 60
        while not re.search(rf"current model: \S*{pattern}", self.header()):
            assert time.monotonic() < deadline, (
                f"Use as current: the header still says {self.header()!r}")
            time.sleep(0.2)
        seconds = time.monotonic() - clicked
        self.shot(f"tab-{self.title.lower()}-after-use")  # what the person sees then
        self._same_tab("Use as current")
        self._record(self.title, f"Use as current ({_one_line(options[chosen[0]])[:40]})",
                     seconds,
                     f"header: {_one_line(self.header())[:120]!r}")
        self.probe.assert_alive(f"{self.name}: Use as current")
        return seconds

    def settle(self) -> dict[str, Any]:
        """A few seconds later: the same tab is selected and its result is still there."""
        before = self.state()
        time.sleep(SETTLE_S)
        if not self._same_tab(f"{SETTLE_S:.0f} s after the last action"):
            return self.state()
        after = self.state()
        self.problem(after.get("outputs", 0) > 0,
                     f"{self.title}: the result was there ({describe(before)}) but "
                     f"{SETTLE_S:.0f} s later the result area is empty")
        return after

    def shot(self, name: str) -> None:
        self.browser.shot(name, self.root)

    # --- helpers ------------------------------------------------------------------------------

    def problem(self, fine: Any, what: str) -> bool:
        """Note ``what`` when not ``fine`` (the test goes on, and fails at its end)."""
        if not fine:
            self.problems.append(f"{self.name} workbench, {what}")
            step(self.started, f"PROBLEM: {what}")
        return bool(fine)

    def _same_tab(self, after: str) -> bool:
        """The workbench still shows this tab; if not, noted, and the tab is opened again."""
        shown = self.state().get("tab")
        if self.problem(shown == self.title, f"{self.title}: {after}, the workbench shows "
                                             f"the '{shown}' tab instead"):
            return True
        self.open(self.title)
        return False

    def _check(self, label: str, state: dict[str, Any], expect: tuple[str, ...]) -> None:
        title = self.title
        status = state.get("status", "")
        self.probe.assert_alive(f"{self.name} {title}: {label}")
        self.problem(any(status == e or status.startswith(e) for e in expect),
                     f"{title}: '{label}' ended with status {status!r} (expected "
                     f"{' or '.join(expect)}); the panel shows {describe(state)}")
        errors = "\n".join(state.get("stderr", []))
        self.problem("Traceback" not in errors,
                     f"{title}: '{label}' shows a traceback:\n{errors}")
        if status.startswith("done"):
            self.problem(not state.get("stderr"), f"{title}: '{label}' is done but shows:\n"
                                                  f"{errors}")
            self.problem(state.get("outputs", 0) > 0 and (
                state.get("text") or state.get("table") or state.get("plot")
                or state.get("frame")), f"{title}: '{label}' is done but its result area is "
                                        "empty")
        else:
            self.problem(state.get("stderr") or state.get("text"),
                         f"{title}: '{label}' ended {status!r} without saying why")
        self._same_tab(f"after '{label}'")

    def _record(self, tab: str, action: str, seconds: float, outcome: str) -> None:
        self.timings.append(Timing(self.name, tab, action, seconds, outcome))
        step(self.started, f"{self.name} {tab}: {action} in {seconds:.1f} s -> {outcome}")

    def _until(self, ready: Any, timeout: float, what: str | None) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            state = self.state()
            if ready(state):
                return state
            if time.monotonic() > deadline:
                if what is None:
                    return state
                raise AssertionError(f"no {what} within {timeout:.0f} s; shown: {state}")
            time.sleep(0.2)


def write_timings(timings: list[Timing], problems: list[str], path: Any) -> str:
    """The timings (and the problems seen) as Markdown, written to ``path``; returns it."""
    lines = ["| workbench | tab | action | seconds | outcome |", "|---|---|---|---:|---|"]
    for t in timings:
        outcome = t.outcome.replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {t.bench} | {t.tab} | {t.action} | {t.seconds:.1f} | {outcome} |")
    total = sum(t.seconds for t in timings)
    lines += ["", f"{len(timings)} actions, {total:.1f} s in all (click to end of action)."]
    if problems:
        lines += ["", "Problems seen:", ""] + [f"- {p}" for p in problems]
    text = "\n".join(lines) + "\n"
    path.write_text(text)
    return text
