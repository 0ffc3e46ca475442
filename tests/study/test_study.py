"""Study: variants measured against a reference on real sample models."""

from __future__ import annotations

import copy

import numpy as np
import onnx
import pytest

import onnxkit
from onnxkit.bench import Speedup
from onnxkit.errors import Cancelled, InputError, ParameterError
from onnxkit.study import _auto

FAST = {"rounds": 1, "max_rounds": 1, "runs": 3}  # figures are checked for sanity, never speed


@pytest.fixture(scope="module")
def digits_study(digits):
    images, labels = digits.inputs["image"], digits.labels
    return onnxkit.Study.auto(digits.model, data=images[128:], labels=labels[128:],
                              calibration=images[:128], **FAST,
                              variants=["fp16", "int8-dynamic", "int8-static", "fused"])


@pytest.fixture(scope="module")
def text_study(transformer):
    return onnxkit.Study.auto(transformer.model, data=transformer.inputs,
                              labels=transformer.labels, variants=["int8-dynamic", "fused"],
                              feeds={k: v[:4] for k, v in transformer.inputs.items()}, **FAST)


@pytest.fixture(scope="module")
def tiny_study(tiny):
    study = onnxkit.Study(tiny, **FAST)
    study.add("fp16", onnxkit.to_fp16(tiny))
    return study


def test_table_has_one_row_per_variant_reference_first(digits_study):
    table = digits_study.table()
    # the fusion recipe does not apply to a CNN: left out, not a failure
    assert list(table.index) == ["reference", "fp16", "int8-dynamic", "int8-static"]
    assert {"size_mb", "size_ratio", "p50_ms", "p90_ms", "speedup", "load_ms", "peak_mem_mb",
            "max_abs_err", "cosine", "agreement", "accuracy", "accuracy_drop",
            "note"} <= set(table.columns)
    assert digits_study.failures == {}
    assert "no attention" in digits_study.skipped["fused"]
    assert "not applicable: fused" in repr(digits_study)


def test_reference_row(digits_study):
    ref = digits_study.table().loc["reference"]
    assert ref.speedup == 1.0 and ref.size_ratio == 1.0 and ref.max_abs_err == 0.0
    assert ref.cosine == pytest.approx(1.0) and ref.agreement == 1.0
    assert ref.accuracy_drop == 0.0 and ref.accuracy > 0.9


def test_sizes_and_timings_are_sane(digits_study):
    table = digits_study.table()
    assert 0.45 < table.loc["fp16", "size_ratio"] < 0.6
    assert table.loc["int8-dynamic", "size_ratio"] < 0.4
    assert table.loc["int8-static", "size_ratio"] < 0.4
    assert (table.p50_ms > 0).all() and (table.p90_ms >= table.p50_ms).all()
    assert (table.peak_mem_mb > 0).all() and (table.load_ms > 0).all()
    assert table.speedup.to_numpy() == pytest.approx(
        table.loc["reference", "p50_ms"] / table.p50_ms.to_numpy(), rel=0.5)


def test_int8_static_keeps_accuracy_within_a_point(digits_study):
    row = digits_study.table().loc["int8-static"]
    # measured: drop -0.3..0 points, agreement 98.8-100% on different CPUs
    assert row.accuracy_drop <= 0.01 and row.agreement >= 0.97 and row.max_abs_err > 0


def test_fp16_error_is_small(digits_study):
    row = digits_study["fp16"]
    # measured: max abs error ~0.005, agreement 100% on every CPU tried
    assert 0 < row.max_abs_err < 0.05 and row.cosine > 0.9999 and row.agreement >= 0.97


def test_transformer_gets_fused_and_quantized(text_study):
    table = text_study.table()
    assert list(table.index) == ["reference", "int8-dynamic", "fused"]
    assert table.loc["fused", "max_abs_err"] < 1e-3
    assert table.loc["int8-dynamic", "size_ratio"] < 0.5
    assert abs(table.loc["int8-dynamic", "accuracy_drop"]) <= 0.02
    assert text_study.settings["latency_batch"] == 4


def test_plot_draws_variants_and_the_pareto_front(digits_study):
    fig = digits_study.plot()
    variants, front = fig.data
    assert [name for name, _ in variants.customdata] == digits_study.names  # in the hover
    assert set(variants.text) - {""} <= set(digits_study.names)  # labels, where they fit
    assert set(front.x) <= {x for x, t in zip(variants.x, variants.text) if t}  # front named
    assert front.name == "Pareto front" and 1 <= len(front.x) <= len(variants.x)
    assert list(front.x) == sorted(front.x)  # the front runs from the fastest
    assert variants.marker.size[1] < variants.marker.size[0]  # fp16 smaller than fp32
    assert "accuracy" in fig.layout.yaxis.title.text
    low, high = fig.layout.yaxis.range  # the data's span and room for labels, no further
    assert low < min(variants.y) and max(variants.y) < high <= max(variants.y) + 0.15 * (
        max(variants.y) - min(variants.y)) + 0.011
    low, high = fig.layout.xaxis.range  # the whiskers inside
    assert low < min(variants.x) - max(variants.error_x.arrayminus) and \
        max(variants.x) + max(variants.error_x.array) < high


def test_best_is_marked_in_the_study_table_and_chart(digits_study):
    choice = digits_study.best()
    assert f"★ {choice.name} (chosen)" in choice._repr_html_()
    assert digits_study.names[1] in choice._repr_html_()  # the whole table, not only the choice
    chosen = choice.plot().data[-1]
    assert chosen.name == f"chosen: {choice.name}" and \
        (chosen.x[0], chosen.y[0]) == (choice.p50_ms, choice.score)


def test_plot_uses_the_error_without_labels(tiny_study):
    fig = tiny_study.plot()
    assert "error" in fig.layout.yaxis.title.text
    assert [t.name for t in fig.data] == ["variants", "Pareto front"]


def test_pareto_front():
    from onnxkit.study._render import pareto_front

    points = [("a", 1.0, 0.3), ("b", 2.0, 0.1), ("c", 3.0, 0.2), ("d", 4.0, 0.0)]
    assert pareto_front(points, higher_is_better=False) == ["a", "b", "d"]
    assert pareto_front(points, higher_is_better=True) == ["a"]


def _timed_as(study, confirmed=None, **speedups):
    """The study with these (median, low, high) speedups, and a head-to-head re-measurement
    that agrees (or ``confirmed``'s figures): best's rule, without the noise."""
    from dataclasses import replace

    timed = copy.copy(study)
    timed._variants = {n: replace(v, speedup=Speedup(*speedups.get(n, (1.0, 0.9, 1.1)), 0.95,
                                                      8))
                       for n, v in study._variants.items()}
    timed._confirmed = {n: Speedup(*(confirmed or figures), 0.95, 8)
                        for n, figures in speedups.items()}
    return timed


def test_best_must_be_faster_beyond_the_spread(digits_study):
    noisy = _timed_as(digits_study, **{"int8-static": (1.03, 0.97, 1.09)})
    choice = noisy.best(max_accuracy_drop=0.01)
    assert choice.keeps_reference and "beyond the noise" in choice.why
    assert "'int8-static', is 1.03x [0.97, 1.09]: indistinguishable" in choice.why
    clear = _timed_as(digits_study, **{"int8-static": (1.8, 1.6, 2.0),
                                       "int8-dynamic": (1.3, 1.2, 1.4)})
    assert clear.best(max_accuracy_drop=0.01).name == "int8-static"


def test_a_pick_that_does_not_hold_head_to_head_keeps_the_reference(digits_study):
    burst = _timed_as(digits_study, confirmed=(0.98, 0.95, 1.01),
                      **{"int8-static": (1.5, 1.15, 2.2)})
    choice = burst.best(max_accuracy_drop=0.01)
    assert choice.keeps_reference
    assert "'int8-static' led at 1.50x [1.15, 2.20], but timed again head to head it is " \
           "0.98x [0.95, 1.01]" in choice.why


def test_confirm_times_the_variant_again_once(digits_study):
    again = digits_study.confirm("fp16")
    assert isinstance(again, Speedup) and again.low <= again.median <= again.high
    assert digits_study.confirm("fp16") is again  # kept, not measured twice


def test_a_speedup_too_small_to_matter_keeps_the_reference(digits_study):
    slight = _timed_as(digits_study, **{"int8-static": (1.03, 1.01, 1.05)})
    choice = slight.best(max_accuracy_drop=0.01)
    assert choice.keeps_reference and "faster, under min_speedup=1.05" in choice.why
    assert slight.best(max_accuracy_drop=0.01, min_speedup=1.0).name == "int8-static"
    with pytest.raises(ParameterError, match="min_speedup"):
        slight.best(min_speedup=0.5)


def test_too_few_rounds_never_call_a_variant_faster(tiny_study):
    row = tiny_study["fp16"]  # timed in one round: an interval that covers nothing
    assert row.speedup.confidence == 0.0 and row.verdict == "indistinguishable"


def test_ties_go_to_the_smaller_model(digits_study):
    tied = _timed_as(digits_study, fp16=(1.5, 1.3, 1.7), **{"int8-static": (1.4, 1.2, 1.6)})
    choice = tied.best(max_accuracy_drop=0.01)
    assert choice.name == "int8-static"  # fp16's lead is within the spread; int8 is smaller
    assert "tied with 'fp16' (overlapping intervals), and the smallest" in choice.why


def test_best_under_constraints(digits_study):
    table = digits_study.table().drop(index="reference")
    best = digits_study.best(max_accuracy_drop=0.01)
    assert best.name == "reference" or best.verdict == "faster"
    assert digits_study.best(by="size_mb").name == table.size_mb.idxmin()
    agreeing = digits_study.best(min_agreement=0.97, by="size_mb")
    assert agreeing.agreement >= 0.97
    assert agreeing.size_bytes == min(r.size_bytes for r in digits_study.rows()
                                      if r.name != "reference" and r.agreement >= 0.97)
    assert isinstance(best.model, onnxkit.Model) and best.model.path.exists()


def test_best_keeps_the_reference_and_says_the_best_available(digits_study):
    choice = digits_study.best(max_error=0.0)
    assert choice.keeps_reference and choice.name == "reference"
    assert "no variant meets every limit (max_error=0: the best available is" in choice.why
    assert "'fp16'" in choice.why and repr(choice).startswith("Choice 'reference': keep the")


def test_best_refuses_limits_it_cannot_check(tiny_study):
    with pytest.raises(ParameterError, match="needs labels or a metric"):
        tiny_study.best(max_accuracy_drop=0.01)
    with pytest.raises(ParameterError, match="by=.*must be one of"):
        tiny_study.best(by="fastest")


def _renamed_input(tiny: onnxkit.Model) -> onnx.ModelProto:
    proto = tiny.to_proto()
    proto.graph.input[0].name = "features"
    for node in proto.graph.node:
        node.input[:] = ["features" if i == "x" else i for i in node.input]
    return proto


def test_signature_mismatch_names_what_differs(tiny, tiny_study):
    with pytest.raises(ParameterError, match=r"input names \['features'\].*\['x'\]"):
        tiny_study.add("renamed", _renamed_input(tiny))
    with pytest.raises(ParameterError, match=r"input 'x' has shape \[1, 4\], the reference "
                                             r"\[batch, 4\]"):
        tiny_study.add("fixed", onnxkit.fix_dims(tiny, {"batch": 1}))
    double = tiny.to_proto()
    double.graph.output[0].type.tensor_type.elem_type = onnx.TensorProto.DOUBLE
    with pytest.raises(ParameterError, match="output 'y' has dtype float64, the reference "
                                             "float32"):
        tiny_study.add("double", double)
    assert tiny_study.names == ["reference", "fp16"]


def test_names_are_unique_and_removable(tiny):
    study = onnxkit.Study(tiny, **FAST)
    study.add("fp16", onnxkit.to_fp16(tiny))
    with pytest.raises(ParameterError, match="already in the study"):
        study.add("fp16", tiny)
    with pytest.raises(ParameterError, match="cannot be removed"):
        study.remove("reference")
    study.remove("fp16")
    assert study.names == ["reference"]
    with pytest.raises(ParameterError, match="no variant 'fp16'"):
        study.remove("fp16")


def test_metric_replaces_accuracy(tiny):
    data = onnxkit.random_inputs(tiny, batch=20, seed=1)
    labels = np.arange(20) % 3
    seen = []

    def agree(outputs, labels):
        seen.append(set(outputs))
        return float((outputs["y"].argmax(-1) == labels).mean())

    study = onnxkit.Study(tiny, data=data, labels=labels, metric=agree, **FAST)
    study.add("int8", onnxkit.quantize.dynamic(tiny))
    table = study.table()
    assert "metric" in table and "metric_drop" in table and "accuracy" not in table
    assert table.loc["reference", "metric"] == agree(onnxkit.run(tiny, data), labels)
    assert seen[0] == {"y"} and study.score_name == "metric"
    assert study.best(max_accuracy_drop=1.0, by="size_mb").name == "int8"


def test_failed_recipe_is_recorded_not_raised(tiny, monkeypatch):
    def broken(model, options):
        raise RuntimeError("converter exploded")

    monkeypatch.setitem(_auto.RECIPES, "fp16", broken)
    study = onnxkit.Study.auto(tiny, variants=["fp16", "ort-basic"], **FAST)
    assert study.names == ["reference", "ort-basic", "fp16"]
    assert "converter exploded" in study.failures["fp16"]
    assert study.table().loc["fp16", "note"].startswith("failed: RuntimeError")
    assert "failed: fp16: RuntimeError: converter exploded" in repr(study)
    assert "converter exploded" in study._repr_html_()
    with pytest.raises(KeyError, match="converter exploded"):
        study["fp16"]


def test_progress_reports_and_can_cancel(tiny):
    calls = []
    study = onnxkit.Study.auto(tiny, variants=["slim", "int8-static"], **FAST,
                               progress=lambda done, total: calls.append((done, total)))
    assert calls == [(0, 3), (1, 3), (2, 3), (3, 3)]
    assert study.skipped == {"int8-static": "no calibration data"}

    def cancel(done, total):
        if done == 1:
            raise Cancelled("stop")

    with pytest.raises(Cancelled):
        onnxkit.Study.auto(tiny, variants=["slim", "fp16"], progress=cancel, **FAST)


def test_bad_arguments(tiny, digits):
    with pytest.raises(ParameterError, match="unknown recipe"):
        onnxkit.Study.auto(tiny, variants=["int4"])
    with pytest.raises(ParameterError, match="needs the data"):
        onnxkit.Study(tiny, labels=np.zeros(3))
    with pytest.raises(InputError, match="5 labels for \\[450\\] rows"):
        onnxkit.Study(digits.model, data=digits.inputs["image"], labels=np.zeros(5))
    with pytest.raises(ParameterError, match="runs"):
        onnxkit.Study(tiny, runs=0)


def test_reprs_and_dict(digits_study):
    text = repr(digits_study)
    assert text.startswith("Study of 'digits_cnn': 3 variant(s)")
    assert "int8-static" in text and "accuracy" in text
    assert "<table" in digits_study._repr_html_()
    d = digits_study.to_dict()
    assert [r["name"] for r in d["rows"]] == digits_study.names and d["score"] == "accuracy"
    assert repr(digits_study["fp16"]).startswith("Variant('fp16', size")
