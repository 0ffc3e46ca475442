"""quantize.preflight and quantize.tune: the search's trail, its budget, its honesty."""

from __future__ import annotations

import pytest

from onnxkit import quantize
from onnxkit.errors import Cancelled, ParameterError


def test_preflight_says_where_to_start_and_what_would_be_slow(digits, transformer):
    cnn = quantize.preflight(digits.model)
    assert (cnn.kind, cnn.start) == ("convnet", "static-qdq")
    assert any("ConvInteger" in w for w in cnn.warnings)
    assert cnn.int8_fast == any(f in cnn.instruction_sets.split()
                                for f in ("avx512_vnni", "avx_vnni", "amx_int8"))
    text = quantize.preflight(transformer.model)
    assert (text.kind, text.start) == ("transformer", "dynamic")
    assert "int8 is" in repr(text) and "<table" in text._repr_html_()


@pytest.fixture(scope="module")
def tuned(digits):
    seen = []
    result = quantize.tune(digits.model, digits.inputs["image"], labels=digits.labels,
                           max_accuracy_drop=0.01, budget_s=90,
                           on_candidate=seen.append)
    return result, seen


def test_tune_keeps_a_trail_and_answers_within_the_budget(tuned, digits):
    result, seen = tuned
    # after each candidate, the result so far: the trail grows by one, the best so far inside
    assert [so_far.candidates[-1] for so_far in seen] == list(result.candidates)
    assert [len(so_far.candidates) for so_far in seen] == list(range(1, len(seen) + 1))
    assert {so_far.stopped for so_far in seen} == {"searching"}
    assert result.stopped == "tried every recipe"
    recipes = [c.recipe for c in result.candidates]
    assert recipes[0] == "static-qdq" and "fp16" in recipes and "pruned-25" in recipes
    qdq = result.candidates[0]
    # measured: no accuracy lost by int8 static on the digits CNN, on every CPU tried
    assert qdq.meets and qdq.score >= result.reference_score - 0.01
    pruned = next(c for c in result.candidates if c.recipe == "pruned-25")
    assert pruned.size_bytes < digits.model.size_bytes and pruned.score is not None
    if result.best is None:
        assert result.why.startswith("keep the float model")
    else:  # only a candidate within the budget and faster beyond the noise
        assert result.winner.meets and result.winner.verdict == "faster"
        assert result.best.path.exists() and result.winner.code.startswith("onnxkit.")
    frame = result.table()
    assert list(frame["recipe"]) == recipes and "speedup_low" in frame.columns
    assert result.plot().data and "<table" in result._repr_html_()


def test_an_error_budget_it_cannot_meet_tries_keeping_layers_in_float(digits):
    result = quantize.tune(digits.model, digits.inputs["image"], max_error=1e-7, budget_s=90)
    recipes = [c.recipe for c in result.candidates]
    assert "static-qdq, 1 in float" in recipes  # the fallbacks, from the per-layer errors
    assert not any(c.meets for c in result.candidates)
    assert result.best is None and "no candidate met the budget" in result.why


def test_cancel_returns_the_trail_so_far(digits):
    def stop(done, total):
        raise Cancelled("stop")

    result = quantize.tune(digits.model, digits.inputs["image"], labels=digits.labels,
                           budget_s=60, progress=stop)
    assert result.stopped == "cancelled" and len(result.candidates) == 1


def test_a_budget_it_can_check_is_required(digits):
    with pytest.raises(ParameterError, match="a budget it can check"):
        quantize.tune(digits.model, digits.inputs["image"])
    with pytest.raises(ParameterError, match="budget_s"):
        quantize.tune(digits.model, digits.inputs["image"], max_error=0.1, budget_s=0)


def test_the_winners_code_rebuilds_it():
    candidate = quantize.Candidate("static-qdq, 2 in float", {"exclude": ["a", "b"]}, "", 0,
                                   None, None, None, None, None, None, None)
    assert candidate.code == ("onnxkit.quantize.static(model, calibration, per_channel=True, "
                              "exclude=['a', 'b'])")
    both = quantize.Candidate("pruned-25 + dynamic", {"ratio": 0.25}, "", 0, None, None, None,
                              None, None, None, None)
    assert both.code == "onnxkit.quantize.dynamic(onnxkit.prune.structured(model, 0.25))"


def test_a_transformer_tries_ort_fusions_and_int8_on_the_fused_graph(transformer):
    data = {k: v[:64] for k, v in transformer.inputs.items()}
    result = quantize.tune(transformer.model, data, labels=transformer.labels[:64],
                           max_accuracy_drop=0.01, budget_s=60)
    by_recipe = {c.recipe: c for c in result.candidates}
    fused = by_recipe["fused"]
    assert fused.meets and fused.agreement == 1.0  # fusion keeps the function
    assert "fused + dynamic" in by_recipe
    assert fused.code == "onnxkit.fuse_transformer(model)"
    assert by_recipe["fused + dynamic"].code == \
        "onnxkit.quantize.dynamic(onnxkit.fuse_transformer(model))"
