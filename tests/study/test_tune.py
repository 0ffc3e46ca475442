"""quantize.preflight and quantize.tune: the search's trail, its budget, its honesty.

The search's rules (what it tries, when it stops, what it picks) are tested with injected
timings and an injected clock, so that what a test asserts never depends on how fast the
machine is; one real-timing search asserts only what holds however slow it is.
"""

from __future__ import annotations

import pytest

from onnxkit import quantize
from onnxkit.bench import Speedup
from onnxkit.errors import Cancelled, ParameterError
from onnxkit.study import _tune

NO_BUDGET = 10_000.0  # seconds: bounds nothing; the rules tests never reach it
EVEN = (1.0, 0.9, 1.1)  # a speedup indistinguishable from the float model


@pytest.fixture
def timed_as(monkeypatch):
    """Inject tune's timings: ``timed_as(rule)`` where ``rule(op, count)`` gives the
    (median, low, high) speedup of a model whose last step is ``op`` at its ``count``-th timing
    (1: in the search, 2: head to head again); each timing takes ``seconds`` on the
    search's clock, which moves only then."""
    def install(rule=lambda op, count: EVEN, seconds: float = 0.0):
        clock, counts = [0.0], {}

        def head_to_head(reference, candidate, feeds, budget_s):
            counts[candidate.path] = counts.get(candidate.path, 0) + 1
            clock[0] += seconds
            op = candidate.lineage[-1].op if candidate.lineage else ""
            return 1.0, Speedup(*rule(op, counts[candidate.path]), 0.95, 8)

        monkeypatch.setattr(_tune, "head_to_head", head_to_head)
        monkeypatch.setattr(_tune, "_now", lambda: clock[0])
        return counts
    return install


def test_preflight_says_where_to_start_and_what_would_be_slow(digits, transformer):
    cnn = quantize.preflight(digits.model)
    assert (cnn.kind, cnn.start) == ("convnet", "static-qdq")
    assert any("ConvInteger" in w for w in cnn.warnings)
    assert cnn.int8_fast == any(f in cnn.instruction_sets.split()
                                for f in ("avx512_vnni", "avx_vnni", "amx_int8"))
    text = quantize.preflight(transformer.model)
    assert (text.kind, text.start) == ("transformer", "dynamic")
    assert "int8 is" in repr(text) and "<table" in text._repr_html_()


def _static_is_faster(op, count):
    return (1.8, 1.6, 2.0) if "static" in op else EVEN


def test_tune_keeps_a_trail_and_picks_by_the_rule(digits, timed_as):
    counts = timed_as(_static_is_faster)
    seen = []
    result = quantize.tune(digits.model, digits.inputs["image"], labels=digits.labels,
                           max_accuracy_drop=0.01, budget_s=NO_BUDGET, on_candidate=seen.append)
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
    # the faster static models tie; the smallest wins, once timed again head to head
    assert result.winner.recipe.startswith("static") and result.winner.meets
    assert "head to head again: 1.80x [1.60, 2.00]" in result.why
    assert counts[result.best.path] == 2 and result.winner.code.startswith("onnxkit.")
    frame = result.table()
    assert list(frame["recipe"]) == recipes and "speedup_low" in frame.columns
    assert result.plot().data and "<table" in result._repr_html_()


def test_a_lead_that_does_not_hold_head_to_head_keeps_the_float_model(digits, timed_as):
    timed_as(lambda op, count: ((1.8, 1.6, 2.0) if count == 1 else (0.99, 0.95, 1.02))
             if "static" in op else EVEN)
    result = quantize.tune(digits.model, digits.inputs["image"], labels=digits.labels,
                           budget_s=NO_BUDGET)
    assert result.best is None and result.winner is None
    assert result.why.startswith("keep the float model: 'static-q")  # the smaller tied one
    assert "but timed again head to head it is 0.99x [0.95, 1.02]" in result.why


def test_nothing_faster_beyond_the_noise_keeps_the_float_model(digits, timed_as):
    timed_as()
    result = quantize.tune(digits.model, digits.inputs["image"], labels=digits.labels,
                           budget_s=NO_BUDGET)
    assert result.best is None and "faster than the float model beyond the noise" in result.why


def test_the_budget_stops_the_search_after_the_candidate_that_spends_it(digits, timed_as):
    timed_as(seconds=30.0)  # each candidate's timing takes 30 s on the search's clock
    result = quantize.tune(digits.model, digits.inputs["image"], labels=digits.labels,
                           budget_s=60.0)
    assert result.stopped == "time budget spent" and len(result.candidates) == 3
    first = quantize.tune(digits.model, digits.inputs["image"], labels=digits.labels,
                          budget_s=1e-9)  # spent before it starts: one candidate still runs
    assert first.stopped == "time budget spent" and len(first.candidates) == 1


def test_an_error_budget_it_cannot_meet_tries_keeping_layers_in_float(digits, timed_as):
    timed_as()
    result = quantize.tune(digits.model, digits.inputs["image"], max_error=1e-7,
                           budget_s=NO_BUDGET)
    recipes = [c.recipe for c in result.candidates]
    assert "static-qdq, 1 in float" in recipes  # the fallbacks, from the per-layer errors
    assert not any(c.meets for c in result.candidates)
    assert result.best is None and "no candidate met the budget" in result.why


def test_cancel_returns_the_trail_so_far(digits, timed_as):
    timed_as(_static_is_faster)

    def stop(done, total):
        raise Cancelled("stop")

    result = quantize.tune(digits.model, digits.inputs["image"], labels=digits.labels,
                           budget_s=NO_BUDGET, progress=stop)
    assert result.stopped == "cancelled" and len(result.candidates) == 1
    assert result.why.endswith("(not timed again: cancelled)")


def test_a_budget_it_can_check_is_required(digits):
    with pytest.raises(ParameterError, match="a budget it can check"):
        quantize.tune(digits.model, digits.inputs["image"])
    with pytest.raises(ParameterError, match="budget_s"):
        quantize.tune(digits.model, digits.inputs["image"], max_error=0.1, budget_s=0)


def test_the_winners_code_rebuilds_it():
    candidate = quantize.Candidate("static-qdq, 2 in float", {"exclude": ["a", "b"]}, "", 0)
    assert candidate.code == ("onnxkit.quantize.static(model, calibration, per_channel=True, "
                              "exclude=['a', 'b'])")
    both = quantize.Candidate("pruned-25 + dynamic", {"ratio": 0.25}, "", 0)
    assert both.code == "onnxkit.quantize.dynamic(onnxkit.prune.structured(model, 0.25))"
    assert both.verdict == "failed"  # never timed


def test_a_transformer_tries_ort_fusions_and_int8_on_the_fused_graph(transformer, timed_as):
    timed_as()
    data = {k: v[:64] for k, v in transformer.inputs.items()}
    result = quantize.tune(transformer.model, data, labels=transformer.labels[:64],
                           max_accuracy_drop=0.01, budget_s=NO_BUDGET)
    by_recipe = {c.recipe: c for c in result.candidates}
    fused = by_recipe["fused"]
    assert fused.meets and fused.agreement == 1.0  # fusion keeps the function
    assert "fused + dynamic" in by_recipe
    assert fused.code == "onnxkit.fuse_transformer(model)"
    assert by_recipe["fused + dynamic"].code == \
        "onnxkit.quantize.dynamic(onnxkit.fuse_transformer(model))"


def test_a_real_search_answers_by_its_rule_however_slow_the_machine(digits):
    """Real timings, a short budget: what holds on any machine, idle or busy."""
    result = quantize.tune(digits.model, digits.inputs["image"], labels=digits.labels,
                           budget_s=20.0)
    assert result.stopped in ("tried every recipe", "time budget spent")
    assert result.candidates and all(c.speedup is not None or c.error
                                     for c in result.candidates)
    if result.best is None:
        assert result.why.startswith("keep the float model")
    else:  # only a candidate within the budget, faster beyond the noise, confirmed
        assert result.winner.meets and result.winner.verdict == "faster"
        assert "head to head again" in result.why and result.best.path.exists()


def test_quality_looks_at_every_output_in_assess_study_and_tune(tmp_path, timed_as):
    """A quantization that moves a second output (a detector's boxes) shows in every error
    column, the same in all three: one path (onnxkit.evaluate) computes them."""
    import graphs
    import numpy as np

    import onnxkit

    model = onnxkit.load(graphs.save(graphs.two_output_model(), tmp_path / "two.onnx"))
    data = np.random.default_rng(1).standard_normal((300, 16)).astype(np.float32)
    int8 = quantize.dynamic(model)
    expected = onnxkit.run(model, {"x": data})
    got = onnxkit.run(int8, {"x": data})
    boxes_err = float(np.abs(got["boxes"] - expected["boxes"]).max())
    assert boxes_err > 10 * float(np.abs(got["scores"] - expected["scores"]).max())
    assessed = quantize.assess(model, [int8], data, rounds=1, max_rounds=1, runs=1).rows[1]
    study = onnxkit.Study(model, data=data, rounds=1, max_rounds=1, runs=1)
    study.add("int8", int8)
    timed_as()
    tuned = next(c for c in quantize.tune(model, data, max_error=1e9, budget_s=NO_BUDGET)
                 .candidates if c.recipe == "dynamic")
    assert assessed.max_abs_err == study["int8"].max_abs_err == tuned.max_abs_err
    assert assessed.max_abs_err == pytest.approx(boxes_err, rel=1e-6)
    assert assessed.cosine == study["int8"].cosine == tuned.cosine
