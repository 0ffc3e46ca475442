"""Every tab of the Workbench in a real browser, each action clicked in the order a person would.

``workbench.ipynb`` (beside this file) shows two Workbenches on the digits CNN: one with data
and labels, one without. The test runs all cells in JupyterLab in headless Chromium, then on
the first clicks every action of every tab: Inspect (Summarize, Graph, Netron, Stop Netron),
Convert (the notebook's torch module), Optimize (then *Use as current* in the header),
Compose (split, an ensemble with the first model, post-processing, image preprocessing, Undo
and the step again), Quantize (Quantize, Debug, Re-quantize without the worst layer), Tune
(Preflight, Tune, Tune again and Cancel), Providers (Benchmark, Placement), Study (Auto,
Add, Best), Deploy (Bundle to a fresh folder, Verify, ORT format), Serve (Start, Send, Load
test, Stop) and Cluster (Connect, Nodes, Evaluate). On the second it clicks Tune, Study's
Auto and Cluster's Evaluate, which need data, and records what the panel tells a person.

After each action: the panel's status says it ended as expected, a done action left a result
(a failure a message, never a traceback), the same tab is still selected, and the notebook's
kernel is the same process and answers. After each tab's last action the result must still be
there a few seconds later; a screenshot of each tab goes to ``test-artifacts/e2e/tab-<name>.png``.
At the end every tab is shown again (each result must stay on its tab until that tab's next
action; Inspect's and Optimize's, made again by *Use as current*, are only recorded), the
kernel is shut down, and the processes its actions started (Ray's, servers') must end with it.

What a person would see wrong (a jump to another tab, an unexpected status, a traceback, an
empty result) is noted and the test goes on, so one run shows every problem; it fails at the
end listing them. A dead or silent kernel, or an action that never ends, fails at once. Each
action's time, from click to end, is printed and written, with the problems, to
``test-artifacts/e2e/actions.md``; nothing asserts on speed.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from notebook_page import KernelProbe, assert_no_error_output, open_and_run_all, step, wait_rendered
from workbench_driver import Bench, Timing, describe, write_timings

pytestmark = pytest.mark.e2e

NOTEBOOK = Path(__file__).with_name("workbench.ipynb")
EXIT_S = 60  # the kernel's processes ending after it is shut down


def test_every_workbench_tab_in_jupyterlab(lab: Any, browser: Any, artifacts: Path) -> None:
    started = time.monotonic()
    page = browser.page
    timings: list[Timing] = []
    problems: list[str] = []
    probe = None
    try:
        open_and_run_all(lab, page, NOTEBOOK, started)
        probe = KernelProbe(lab, page, NOTEBOOK.name)
        for css, name in ((".e2e-workbench", "Workbench"), (".e2e-bare-workbench", "bare")):
            wait_rendered(page, page.locator(css), name)
        browser.shot("10-workbench-notebook")

        bench = Bench(page, browser, probe, ".e2e-workbench", "data", started, timings,
                      problems)
        last = _with_data(bench, lab.root / "bundle-e2e")
        _results_stay(bench, last)

        bare = Bench(page, browser, probe, ".e2e-bare-workbench", "no data", started, timings,
                     problems)
        _without_data(bare)

        assert_no_error_output(page)
        probe.assert_alive("every action")
        _processes_end_with_kernel(lab, probe, started)
        step(started, "done")
        assert not problems, (f"{len(problems)} problem(s) a person would see:\n"
                              + "\n".join(f"- {p}" for p in problems))
    finally:
        if probe is not None:
            probe.close()
        if timings:
            table = write_timings(timings, problems, artifacts / "actions.md")
            print("\nEach action, from click to end (also in "
                  f"{artifacts / 'actions.md'}):\n{table}")


def _with_data(bench: Bench, folder: Path) -> dict[str, dict[str, Any]]:
    """Every tab's every action on the workbench with data; returns each tab's last state."""
    last: dict[str, dict[str, Any]] = {}

    bench.open("Inspect")
    bench.act("Summarize")
    bench.act("Graph")
    netron = bench.act("Netron")
    assert netron["frame"], f"Inspect: Netron shows no frame: {describe(netron)}"
    _netron_graph(bench)
    bench.shot("tab-inspect-netron")
    bench.act("Stop Netron")
    last["Inspect"] = _tab_done(bench, "inspect")

    bench.open("Convert")
    bench.act("Refresh")
    bench.fill("inputs", "2,1,8,8", check="bench.panels['convert'].inputs",
               expected="'2,1,8,8'")
    bench.act("Convert")
    last["Convert"] = _tab_done(bench, "convert")

    bench.open("Optimize")
    bench.act("Optimize")
    last["Optimize"] = _tab_done(bench, "optimize")
    bench.use_as_current(r"opt-basic")  # a person takes the optimized model onward

    bench.open("Compose")  # the optimized CNN grown into a pipeline, a step at a time
    compose = "bench.panels['compose']"
    cut = bench.probe.ask(f"onnxkit.compose.cut_points({compose}.current)[0]").strip("'")
    bench.choose("step", "split at tensors", check=f"{compose}.step", expected="'split'")
    bench.fill("at", cut, check=f"{compose}.at", expected=repr(cut))
    bench.act("Add step")
    bench.shot("tab-compose-split")
    first = bench.probe.ask("str(bench.models[0].path)").strip("'")
    bench.choose("step", "ensemble with another model")
    bench.fill("model", first, check=f"{compose}.partner", expected=repr(first))
    bench.act("Add step")
    bench.choose("step", "postprocess")
    bench.fill("top k", "3", check=f"{compose}.top_k", expected="3")
    bench.fill("labels", ", ".join(str(d) for d in range(10)))
    bench.act("Add step")
    bench.choose("step", "preprocess: image")
    bench.fill("resize", "8, 8", check=f"{compose}.resize", expected="'8, 8'")
    bench.act("Add step")
    bench.act("Undo")
    bench.act("Add step")  # the same step again: the graph takes raw uint8 images
    grown = bench.probe.ask(f"{compose}.history")
    assert grown.count("verified") == 3 and "NOT" not in grown, f"Compose: {grown}"
    last["Compose"] = _tab_done(bench, "compose")

    bench.open("Quantize")
    bench.act("Quantize")
    bench.act("Debug")
    bench.shot("tab-quantize-debug")
    exclude = bench.shown().locator(".widget-select-multiple select, select[multiple]").first
    worst = exclude.locator("option").first.get_attribute("value")
    assert worst, "Quantize: Debug listed no layer to exclude"
    exclude.select_option(value=worst)
    bench.act("Re-quantize with exclusions")
    last["Quantize"] = _tab_done(bench, "quantize")

    bench.open("Tune")
    bench.fill("budget s", "8", check="bench.panels['tune'].budget_s", expected="8.0")
    bench.act("Preflight")
    bench.act("Tune")
    bench.act("Tune", expect=("cancelled", "done"), cancel_after_s=2.0)
    last["Tune"] = _tab_done(bench, "tune")

    bench.open("Providers")
    bench.fill("threads", "1", check="bench.panels['providers'].threads", expected="[1]")
    bench.fill("batch", "1", check="bench.panels['providers'].batch", expected="[1]")
    bench.fill("seconds", "0.2", check="bench.panels['providers'].duration", expected="0.2")
    bench.act("Benchmark")
    bench.shot("tab-providers-benchmark")
    bench.act("Placement")
    last["Providers"] = _tab_done(bench, "providers")

    opened = bench.open("Study")
    bench.shot("tab-study-opened")  # what the background measurements of new models left
    rows = bench.probe.ask("bench.study.names if bench.study is not None else None")
    made = bench.probe.ask("[m.name for m in bench.models]")
    bench.timings.append(Timing(bench.name, "Study", "opened (measured in the background)",
                                0.0, f"{describe(opened)}; study rows {rows}; models {made}"))
    bench.act("Auto")
    bench.shot("tab-study-auto")
    # Add: the last model file Add offers (only variants of the reference), as a person picks it.
    offered = bench.probe.ask("bench.panels['study'].source_control.options[-1]").strip("'")
    bench.fill("model", offered, check="bench.panels['study'].source", expected=repr(offered))
    bench.fill("name", "picked")
    bench.act("Add")
    bench.act("Best")
    last["Study"] = _tab_done(bench, "study")

    bench.open("Deploy")
    bench.fill("folder", str(folder), check="bench.panels['deploy'].folder",
               expected=repr(str(folder)))
    bench.act("Bundle")
    bench.act("Verify")
    bench.act("ORT format")
    last["Deploy"] = _tab_done(bench, "deploy")

    bench.open("Serve")
    bench.fill("clients", "1, 2", check="bench.panels['serve'].clients", expected="'1, 2'")
    bench.fill("requests", "20", check="bench.panels['serve'].requests", expected="20")
    bench.act("Start")
    bench.act("Send")
    bench.shot("tab-serve-send")
    bench.act("Load test")
    bench.act("Stop")
    last["Serve"] = _tab_done(bench, "serve")

    bench.open("Cluster")
    bench.act("Connect")
    bench.act("Nodes")
    bench.act("Evaluate")
    last["Cluster"] = _tab_done(bench, "cluster")
    return last


def _netron_graph(bench: Bench) -> None:
    """Netron's app in the frame, served by the kernel, opens on the graph: no dialog first."""
    frame = bench.shown().frame_locator("iframe")
    graph = frame.locator("svg#canvas .node, svg .node").first
    graph.wait_for(state="attached", timeout=60_000)
    bench.page.wait_for_timeout(500)  # its layout settles before the screenshot
    dialogs = frame.get_by_role("button", name="Accept").or_(frame.get_by_text("Please update"))
    assert dialogs.count() == 0 or not dialogs.first.is_visible(), "Netron opens on a dialog"


def _tab_done(bench: Bench, name: str) -> dict[str, Any]:
    """The tab's last action is done: a few seconds later it still shows it; a screenshot."""
    state = bench.settle()
    bench.shot(f"tab-{name}")
    return state


def _results_stay(bench: Bench, last: dict[str, dict[str, Any]]) -> None:
    """Every tab shown again: its last result is still there (until that tab's next action).

    Inspect and Optimize were acted on before *Use as current*, which makes the panels of the
    current model again for the new one: what they show then is recorded, not asserted.
    """
    remade = {"Inspect", "Optimize"}
    for title, before in last.items():
        after = bench.open(title)
        kept = after.get("outputs", 0) > 0 and _gist(after) == _gist(before)
        outcome = ("kept: " if kept else "changed: ") + describe(after)
        bench.timings.append(Timing(bench.name, title, "shown again at the end", 0.0, outcome))
        step(bench.started, f"{title} shown again: {outcome}")
        if title not in remade:
            bench.problem(kept, f"{title}: shown again at the end, its result did not stay: "
                                f"was {describe(before)}; now {describe(after)}")


def _gist(state: dict[str, Any]) -> tuple[Any, ...]:
    """What identifies a shown result (not its plot's live details)."""
    return (state.get("status"), state.get("table"), state.get("rows"),
            re.sub(r"\s+", " ", state.get("text", ""))[:200])


def _without_data(bare: Bench) -> None:
    """The actions that need data, on the workbench without: what the panel says instead."""
    bare.open("Tune")
    bare.act("Tune", expect=("failed", "done", "disabled"))
    bare.shot("bare-tab-tune")

    bare.open("Study")
    bare.act("Auto", expect=("done", "failed"))
    bare.shot("bare-tab-study")

    bare.open("Cluster")
    bare.act("Connect")
    bare.act("Evaluate", expect=("disabled", "failed"))
    bare.shot("bare-tab-cluster")


def _processes_end_with_kernel(lab: Any, probe: KernelProbe, started: float) -> None:
    """The processes the kernel's actions started end when the kernel is shut down."""
    import psutil

    children = probe.descendants()
    step(started, f"the kernel's processes: {children}")
    lab.api(f"api/kernels/{probe.kernel_id}", method="DELETE", timeout=60)
    deadline = time.monotonic() + EXIT_S
    left = children
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = [(pid, name) for pid, name in left if _running(psutil, pid)]
    assert not left, (f"{len(left)} of the kernel's processes outlived it by {EXIT_S} s: "
                      f"{left}")


def _running(psutil: Any, pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
