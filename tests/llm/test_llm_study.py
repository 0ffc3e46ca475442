"""The LLM study (onnxkit/study/_llm.py): its choice under the Study's one rule, with injected
timings; and one real study of a tiny decoder (shape of the result only: no speed asserted)."""

from __future__ import annotations

import math

import llm_decoders
import pytest
from result_contract import check_result_contract

from onnxkit.bench import speedup_interval
from onnxkit.errors import NotFoundError, ParameterError
from onnxkit.study import LLMStudy, LLMVariant
from onnxkit.study._llm import REFERENCE, choose


def _row(name: str, ratios: list[float] | None, increase: float, size_mb: float = 10,
         error: str = "") -> LLMVariant:
    speedup = None if ratios is None else speedup_interval(ratios)
    return LLMVariant(name, {}, None, int(size_mb * 2**20), 100.0, 10.0, 10 * (1 + increase),
                      increase, speedup, error)


REF = _row(REFERENCE, [1.0] * 8, 0.0, size_mb=100)
FAST = [3.0, 3.1, 2.9, 3.2, 3.0, 2.8, 3.1, 3.0]  # int4-like: beyond the noise
NOISY = [0.6, 1.5, 0.9, 1.4, 1.1, 0.7, 1.3, 1.0]  # straddles 1


def test_best_is_the_smallest_among_the_tied_fastest_within_the_limit():
    rows = [REF, _row("int8", [2.0, 2.1, 1.9, 2.0, 2.2, 2.0, 1.9, 2.1], 0.001, 50),
            _row("int4", FAST, 0.01, 25), _row("int4-b32", FAST, 0.004, 27),
            _row("int4-bad", [5.0] * 8, 0.30, 20)]
    choice = choose(rows, max_perplexity_increase=0.02)
    assert choice.name == "int4"  # int4-bad is faster but over the limit; b32 tied, larger
    assert "int4-b32" in choice.why and "smallest" in choice.why


def test_a_tighter_limit_moves_the_choice_and_noise_never_wins():
    rows = [REF, _row("int8", [2.0] * 8, 0.001, 50), _row("int4", FAST, 0.01, 25),
            _row("fp16", NOISY, 0.0, 50)]
    assert choose(rows, max_perplexity_increase=0.005).name == "int8"
    only_noise = choose([REF, rows[3]], max_perplexity_increase=None)
    assert only_noise.keeps_reference and "beyond the noise" in only_noise.why


def test_confirmation_head_to_head_can_refuse_the_leader():
    rows = [REF, _row("int4", FAST, 0.01, 25)]
    choice = choose(rows, max_perplexity_increase=0.02,
                    confirm=lambda r: speedup_interval(NOISY))
    assert choice.keeps_reference and "head to head" in choice.why


def test_failed_and_over_limit_variants_keep_the_reference():
    rows = [REF, _row("int4-k_quant", None, math.nan, error="builder failed"),
            _row("int4", FAST, 0.2, 25)]
    choice = choose(rows, max_perplexity_increase=0.05)
    assert choice.keeps_reference and "'int4'" in choice.why and "+20.00%" in choice.why
    with pytest.raises(ParameterError, match=r"^LLMStudy.best\(max_perplexity_increase"):
        choose(rows, max_perplexity_increase=-1)


def test_a_real_study_measures_every_variant(tmp_path):
    source = llm_decoders.hf_folder("llama", tmp_path / "hf")
    study = LLMStudy(source, variants={"int4": {"precision": "int4"}},
                     prompt_tokens=8, new_tokens=6, rounds=3, out=tmp_path / "study")
    rows = {r.name: r for r in study.rows()}
    assert list(rows) == ["fp32", "int4"]
    assert rows["fp32"].perplexity_increase == 0.0
    for row in rows.values():
        assert row.tokens_per_s > 0 and row.ttft_ms > 0 and row.perplexity > 1
        assert row.speedup.rounds == 3
    assert rows["int4"].size_bytes < rows["fp32"].size_bytes
    assert study.model("int4").precision == "int4"
    assert set(study.table()["variant"]) == {"fp32", "int4"}
    choice = study.best(max_perplexity_increase=0.5)  # 3 rounds: never beyond the noise
    assert choice.keeps_reference and "noise" in choice.why
    for result in (study, rows["int4"], choice):  # LLMStudy, LLMVariant, LLMChoice
        check_result_contract(result)
    with pytest.raises(NotFoundError):
        study["int2"]
    with pytest.raises(ParameterError, match=r"^LLMStudy\(variants"):
        LLMStudy(source, variants={"fp32": {}})
