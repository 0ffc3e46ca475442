"""GeneratePanel: greedy and sampled generation driven from Python, the text growing piece by
piece while it streams, Cancel, and its code running as printed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime_genai")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "llm"))

import llm_decoders  # noqa: E402
from panel_helpers import click, run_code  # noqa: E402

from onnxkit.widgets import GeneratePanel, Panel  # noqa: E402


@pytest.fixture(scope="module")
def lm(tmp_path_factory):
    return llm_decoders.exported("gpt2", "fp32", tmp_path_factory.mktemp("generate"))


def test_greedy_text_streams_in_and_matches_generate(lm):
    panel = GeneratePanel(lm.path, prompt="The for statement")
    assert isinstance(panel, Panel) and panel.prompt_control.value == "The for statement"
    seen: list[str] = []
    panel.observe(lambda change: seen.append(change["new"]), "text")
    panel.max_new_tokens = 12
    generation = panel.run()
    expected = lm.generate("The for statement", max_new_tokens=12)
    assert generation.text == expected.text == panel.text
    assert generation.tokens == expected.tokens
    grown = [t for t in seen if t]
    assert len(grown) >= 2 and all(b.startswith(a) for a, b in zip(grown, grown[1:]))
    assert panel.tokens_per_s == generation.tokens_per_s > 0
    assert "tokens/s" in panel.speed.value and "The for statement" in panel.stream_view.value
    code = panel.to_code()
    assert "onnxkit.llm.load(" in code and "max_new_tokens=12" in code
    assert run_code(code)["generation"].text == generation.text


def test_sampling_settings_reach_generate_and_repeat_with_the_seed(lm):
    panel = GeneratePanel(lm, prompt="The while statement")
    panel.do_sample, panel.temperature, panel.top_k, panel.seed = True, 1.2, 20, 7
    panel.max_new_tokens = 10
    click(panel, panel.generate_button)
    assert panel.error == ""
    first = panel.result
    again = lm.generate("The while statement", max_new_tokens=10, do_sample=True,
                        temperature=1.2, top_k=20, top_p=0.95, seed=7)
    assert first.tokens == again.tokens
    assert "seed=7" in panel.to_code() and "do_sample=True" in panel.to_code()


def test_cancel_stops_between_pieces(lm):
    panel = GeneratePanel(lm, prompt="The for statement")
    panel.max_new_tokens = 200
    panel.observe(lambda change: panel.cancel() if len(change["new"]) > 0 else None, "text")
    click(panel, panel.generate_button)
    assert panel.error.startswith("Cancelled") and panel.status.value == "cancelled"
    assert panel.actions == 0


def test_the_workbench_has_a_generate_tab_for_a_language_model(lm):
    import onnxkit
    from onnxkit.widgets import Workbench

    plain = Workbench(onnxkit.samples.tiny_model())
    assert "generate" not in plain.panels and "Generate" not in plain.tab.titles
    bench = Workbench(onnxkit.samples.tiny_model(), lm=lm.path)
    assert bench.tab.titles[-1] == "Generate"
    panel = bench.panels["generate"]
    assert isinstance(panel, GeneratePanel)
    panel.prompt, panel.max_new_tokens = "The for statement", 4
    assert panel.run().text == lm.generate("The for statement", max_new_tokens=4).text
    bench.use(bench.panels["optimize"].run())  # a new current model leaves the LM's tab as it was
    assert bench.panels["generate"] is panel and panel.text
