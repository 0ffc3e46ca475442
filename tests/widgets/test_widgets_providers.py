"""ProviderPanel driven from Python: priority, options, benchmark sweep, placement, code."""

from __future__ import annotations

import onnxruntime as ort
import pytest
from panel_helpers import click, run_code, texts

import onnxkit
from onnxkit.errors import ParameterError
from onnxkit.widgets import ProviderPanel

HAS_OPENVINO = "OpenVINOExecutionProvider" in ort.get_available_providers()


@pytest.fixture
def panel(tiny):
    p = ProviderPanel(tiny)
    p.threads, p.batch, p.duration = [1], [1, 4], 0.05
    return p


def test_lists_every_provider_and_offers_the_available_ones(panel):
    table = onnxkit.providers()
    assert panel.priority_control.allowed_tags == [p.short for p in table.providers
                                                   if p.available and p.short != "azure"]
    assert "cuda" in panel.providers_table.value  # known, even where not in this build
    assert panel.priority == ["cpu"]
    titles = panel.options_accordion.titles
    assert "cpu options" in titles
    assert any("cuda options" in t for t in titles)
    assert all(f"{p} options (not in this build)" in titles
               for p in ("cuda", "tensorrt", "openvino") if p not in panel._available)


def test_benchmark_sweeps_and_prints_code_that_runs(panel):
    result = panel.run()
    assert panel.result is result and panel.error == ""
    assert [(r.threads, r.batch_size) for r in result.results] == [(1, 1), (1, 4)]
    assert "items/s" in texts(panel)  # the table; the plot follows it
    assert any("application/vnd.plotly.v1+json" in o.get("data", {})
               for o in panel.output.outputs)
    assert run_code(panel.to_code())["sweep"].configurations == result.configurations


def test_session_options_reach_the_kernel_and_the_code(panel):
    panel.opt_level, panel.execution_mode, panel.inter_threads = "basic", "parallel", 2
    panel.run()
    code = panel.to_code()
    assert "opt_level='basic'" in code
    assert "'execution_mode': 'parallel'" in code and "'inter_op_num_threads': 2" in code
    run_code(code)


def test_options_form_and_trait_stay_in_step(panel):
    form = panel._forms["cpu"]
    form.controls["use_arena"].value = False
    assert panel.provider_options == {"cpu": {"use_arena": False}}
    panel.provider_options = {}
    assert form.controls["use_arena"].value is True  # back to the default
    panel.provider_options = {"cpu": {"use_arena": False}}
    assert form.controls["use_arena"].value is False
    result = panel.run()
    assert result.configurations[0] == "cpu(use_arena=False)"
    assert "('cpu', {'use_arena': False})" in panel.to_code()


def test_only_changed_options_are_passed(panel):
    form = panel._forms["cuda"]
    form.controls["device_id"].value = "0"  # the default: nothing to pass
    assert "cuda" not in panel.provider_options
    form.controls["gpu_mem_limit"].value = "2147483648"
    assert panel.provider_options["cuda"] == {"gpu_mem_limit": 2147483648}


def test_a_bad_option_is_shown_and_the_panel_stays_usable(panel):
    panel.provider_options = {"cpu": {"use_arena": "sometimes"}}
    click(panel, panel.benchmark_button)
    assert "use_arena" in panel.error and "CPU" in panel.error
    assert "use_arena" in texts(panel)
    assert not panel.busy and not panel.benchmark_button.disabled
    panel.provider_options = {}
    click(panel, panel.benchmark_button)
    assert panel.error == "" and panel.result is not None


def test_a_provider_missing_from_this_build_is_named(panel):
    missing = next(p for p in ("cuda", "tensorrt", "migraphx") if p not in panel._available)
    with pytest.raises(ParameterError, match=f"{missing} is not in this onnxruntime build; "
                                             "available: .*cpu"):
        panel.priority = [missing, "cpu"]
    assert panel.priority == ["cpu"]
    assert panel.run() is not None  # still usable


def test_an_empty_priority_list_disables_the_actions(panel):
    panel.priority = []
    assert panel.benchmark_button.disabled and panel.placement_button.disabled
    with pytest.raises(ParameterError, match="priority list is empty"):
        panel.run()
    panel.priority = ["cpu"]
    assert not panel.benchmark_button.disabled


def test_placement_shows_where_nodes_run(panel):
    click(panel, panel.placement_button)
    assert panel.error == ""
    assert panel.result.counts == {"CPUExecutionProvider": 2}
    assert "placement = onnxkit.placement(model, providers=['cpu'])" in panel.to_code()


def test_cancel_stops_a_long_sweep(panel):
    # The first progress report (round 1 of 5) presses Cancel: deterministic, and it goes
    # through the kernel's progress callback like the button does; the wait bounds the length.
    def press_cancel(change):
        if change["new"] == 1:
            panel.cancel()

    panel.duration, panel.threads = 0.5, [1, 2]
    panel.progress.observe(press_cancel, "value")
    panel.start(panel._benchmark)
    assert panel.wait(timeout=300)
    assert panel.status.value == "cancelled" and "cancelled at 1/5" in panel.error
    assert panel.result is None and not panel.busy


def test_feeds_are_given_by_name_in_the_code(digits):
    feeds = {"image": digits.inputs["image"][:3]}
    panel = ProviderPanel(digits.model, feeds)
    panel.duration = 0.05
    assert panel.run().results[0].batch_size == 3
    code = panel.to_code()
    assert "feeds = {'image': np.load(" in code
    assert "onnxkit.sweep(model, feeds, providers=['cpu'], duration=0.05)" in code


@pytest.mark.skipif(not HAS_OPENVINO, reason="needs onnxruntime-openvino (the second venv)")
def test_openvino_beside_cpu(digits):
    panel = ProviderPanel(digits.model)
    panel.priority, panel.duration = ["openvino", "cpu"], 0.1
    panel.provider_options = {"openvino": {"precision": "FP32"}}
    result = panel.run()
    assert result.configurations == ("openvino(precision=FP32) > cpu", "cpu")
    assert result.results[0].providers[0] == "OpenVINOExecutionProvider"
    placed = panel._placement()
    assert "OpenVINOExecutionProvider" in placed.counts


def test_io_binding_reaches_the_sweep_and_the_code(panel):
    panel.io_binding = True
    result = panel.run()
    assert all(r.io_binding and r.device == "cpu" for r in result.results)
    assert "io_binding=True" in panel.to_code()
    run_code(panel.to_code())


def test_a_bad_thread_list_is_said_and_the_old_one_kept(panel):
    box = panel.sweep_box.children[0]
    box.value = "one, two"
    assert panel.threads == [1] and box.value == "1"
    assert "not a list of positive integers" in panel.status.value
