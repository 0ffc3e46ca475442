"""sweep(): every combination measured, interleaved, tabulated; bad combinations explained."""

from __future__ import annotations

import json
from dataclasses import replace

import onnxruntime as ort
import pytest
from graphs import make_model, relu_model, save
from onnx import TensorProto, helper

import onnxkit
from onnxkit.bench import _measure, bench_result
from onnxkit.errors import Cancelled, InputError, ParameterError, ProviderError, SessionError


def test_every_combination_in_order_with_speedups(digits):
    s = onnxkit.sweep(digits.model, threads=[1, 2], batch=[1, 8], runs=12, rounds=3)
    df = s.table()
    assert df[["threads", "batch"]].values.tolist() == [[1, 1], [1, 8], [2, 1], [2, 8]]
    assert (df["runs"] == 12).all() and s.rounds == 3
    assert df.loc[0, "speedup"] == 1.0 and df.loc[1, "speedup"] == 1.0  # first of each batch
    # paired by round against the first of the same batch: the median ratio in its interval
    assert (df.speedup_low <= df.speedup).all() and (df.speedup <= df.speedup_high).all()
    assert s.speedups[3].rounds == 3 and set(df["verdict"]) <= {"faster", "slower",
                                                                 "indistinguishable"}
    for r in s.results:
        assert r.min_ms <= r.p50_ms <= r.p90_ms <= r.p99_ms <= r.max_ms
        assert r.providers == ("CPUExecutionProvider",)
    assert json.loads(json.dumps(s.to_dict()))["results"][3]["threads"] == 2


def _timed_as(s, *samples):
    """The sweep with these run times (ms, one list per result): best's rule, not the clock."""
    return replace(s, results=tuple(
        bench_result(r.model, r.providers, r.threads, r.batch_size, list(ms), r.session_ms,
                     r.first_run_ms, r.warmup, r.io_binding, r.device)
        for r, ms in zip(s.results, samples, strict=True)))


def test_best_picks_by_the_figure_asked(tiny):
    s = onnxkit.sweep(tiny, threads=[1, 2], batch=[1, 8], runs=3, rounds=1)
    timed = _timed_as(s, [1.0] * 10,                # threads 1, batch 1: 1000 items/s
                      [2.0] * 10,                   # threads 1, batch 8: 4000 items/s
                      [0.8] * 9 + [5.0],            # threads 2, batch 1: fastest p50, a tail
                      [3.0] * 10)                   # threads 2, batch 8
    assert timed.best("p50_ms") is timed.results[2] and timed.best() is timed.results[2]
    assert timed.best("p90_ms") is timed.results[0]  # the tail moves its p90 past 1 ms
    assert timed.best("throughput") is timed.results[1]  # batching amortizes the overhead
    with pytest.raises(ParameterError, match="by"):
        timed.best("p99")


def test_feeds_are_repeated_or_cut_to_each_batch(digits):
    feeds = {"image": digits.inputs["image"][:5]}
    s = onnxkit.sweep(digits.model, feeds, batch=[3, 12], runs=10, rounds=1)
    assert [r.batch_size for r in s.results] == [3, 12]


def test_runs_are_shared_across_rounds_and_duration_works(tiny):
    assert onnxkit.sweep(tiny, runs=21, rounds=3).results[0].runs == 21  # 7 a round
    # runs a round are sized from one run, so a busy machine may give as few as MIN_RUNS
    assert onnxkit.sweep(tiny, duration=0.05, rounds=2).results[0].runs >= 2 * _measure.MIN_RUNS


def test_a_duration_is_shared_across_rounds(tiny, monkeypatch):
    asked = []  # each combination's seconds a round, sized as if each run took 2.5 ms
    monkeypatch.setattr(_measure, "_runs_per_round",
                        lambda run, round_s: asked.append(round_s) or round(round_s / 2.5e-3))
    s = onnxkit.sweep(tiny, batch=[1, 4], duration=0.05, rounds=2)
    assert asked == [0.025, 0.025] and [r.runs for r in s.results] == [20, 20]  # 10 a round


def test_render_only_what_was_measured(tiny):
    s = onnxkit.sweep(tiny, threads=[1, 2], batch=[1, 4], runs=10, rounds=1)
    fig = s.plot()
    assert [t.name for t in fig.data] == ["batch 1", "batch 1", "batch 4", "batch 4"]
    assert list(fig.data[0].y) == [s.results[0].p50_ms, s.results[2].p50_ms]
    assert "cpu · threads 2 · batch 4" in repr(s)
    assert "<table" in s._repr_html_()


def test_progress_reports_every_round_and_can_stop_the_sweep(tiny):
    seen = []
    onnxkit.sweep(tiny, threads=[1, 2], runs=10, rounds=2,
                  progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 2), (2, 2)]

    def stop(done, total):
        raise Cancelled("stop")

    with pytest.raises(Cancelled):
        onnxkit.sweep(tiny, runs=10, progress=stop)


def test_a_priority_list_is_one_configuration(tiny):
    s = onnxkit.sweep(tiny, providers=[["cpu"], "CPUExecutionProvider"], runs=10, rounds=1)
    assert s.configurations == ("cpu", "cpu")


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"providers": "cpu"}, ParameterError, "list of configurations"),
    ({"providers": []}, ParameterError, "nothing to compare"),
    ({"providers": ["warp-drive"]}, ProviderError, "unknown execution provider 'warp-drive'"),
    ({"threads": 2}, ParameterError, "threads"),
    ({"threads": [1, 1]}, ParameterError, "twice"),
    ({"threads": [0]}, ParameterError, r"sweep\(threads=...\) must be a positive integer"),
    ({"batch": [0]}, ParameterError, r"sweep\(batch=...\) must be a positive integer"),
    ({"rounds": 0}, ParameterError, "rounds"),
    ({"runs": 5, "duration": 1.0}, ParameterError, "not both"),
    ({"options": {"no_such_setting": 1}}, ParameterError, "not a SessionOptions setting"),
])
def test_bad_arguments_are_named(tiny, kwargs, error, match):
    with pytest.raises(error, match=match):
        onnxkit.sweep(tiny, **kwargs)


def test_a_fixed_batch_is_not_swept(tmp_path):
    model = onnxkit.fix_dims(save(relu_model(), tmp_path / "relu.onnx"), {"n": 2})
    with pytest.raises(InputError, match="fixed batch dim of 2.*make_dynamic"):
        onnxkit.sweep(model, batch=[1, 4], runs=10)
    assert onnxkit.sweep(model, runs=10).results[0].batch_size == 2


def test_when_no_session_can_be_made_the_error_is_raised(tmp_path):
    F = TensorProto.FLOAT
    custom = make_model([helper.make_node("Warp", ["x"], ["y"], domain="acme")],
                        [("x", F, [1])], [("y", F, [1])], domains=["acme"])
    with pytest.raises(SessionError, match="Warp"):
        onnxkit.sweep(save(custom, tmp_path / "custom.onnx"), runs=10)



def test_io_binding_is_recorded_and_times_the_same_model(tiny):
    s = onnxkit.sweep(tiny, providers=["cpu"], batch=[2], runs=10, rounds=1, io_binding=True)
    r = s.results[0]
    assert r.io_binding and r.device == "cpu" and r.runs == 10


@pytest.mark.skipif("OpenVINOExecutionProvider" not in ort.get_available_providers(),
                    reason="needs onnxruntime-openvino (make test-providers)")
def test_cpu_beside_openvino(digits):
    s = onnxkit.sweep(digits.model, providers=["cpu", ["openvino", "cpu"]], batch=[1, 16],
                      runs=10, rounds=2)
    assert s.configurations == ("cpu", "cpu", "openvino > cpu", "openvino > cpu")
    assert [r.providers[0] for r in s.results] == ["CPUExecutionProvider"] * 2 + [
        "OpenVINOExecutionProvider"] * 2
