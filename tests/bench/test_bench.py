"""benchmark(): what it reports is consistent; speed itself is measured in benchmarks/."""

from __future__ import annotations

import json

import numpy as np
import pytest

import onnxkit
from onnxkit.bench import bind
from onnxkit.errors import InputError, ParameterError
from onnxkit.runtime import resolve


def test_runs_percentiles_and_throughput(digits):
    feeds = {"image": digits.inputs["image"][:16]}
    r = onnxkit.benchmark(digits.model, feeds, runs=30, warmup=2, threads=1)
    assert r.runs == 30 and len(r.samples) == 30 and r.batch_size == 16
    assert r.min_ms <= r.p50_ms <= r.p90_ms <= r.p99_ms <= r.max_ms
    assert r.p50_ms == pytest.approx(float(np.median(r.samples)))
    assert r.throughput == pytest.approx(16 / (r.mean_ms / 1e3))
    assert r.session_ms > 0 and r.first_run_ms > 0
    assert r.providers == ("CPUExecutionProvider",) and r.threads == 1
    assert r.peak_rss_bytes is None or r.peak_rss_bytes > 10 * 2**20
    assert json.loads(json.dumps(r.to_dict()))["p50_ms"] == r.p50_ms
    assert "p50" in repr(r) and "<table" in r._repr_html_()
    assert len(r.plot().data[0].y) == 30


def test_duration_gives_at_least_the_minimum_runs(tiny):
    r = onnxkit.benchmark(tiny, duration=0.05, warmup=0)
    assert r.runs >= 10


def test_default_feeds_and_transformer_inputs(transformer):
    r = onnxkit.benchmark(transformer.model, runs=5)
    assert r.batch_size == 1


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"runs": 0}, "runs"), ({"runs": 10**9}, "runs"), ({"duration": -1}, "duration"),
    ({"duration": 10**6}, "duration"), ({"warmup": -3}, "warmup"),
    ({"runs": 5, "duration": 1.0}, "not both"), ({"runs": 2.5}, "runs"),
])
def test_absurd_counts_are_refused(tiny, kwargs, match):
    with pytest.raises(ParameterError, match=match):
        onnxkit.benchmark(tiny, **kwargs)


def test_bad_feeds_are_refused_before_timing(tiny):
    with pytest.raises(InputError, match="expects float32"):
        onnxkit.benchmark(tiny, {"x": np.ones((1, 4))}, runs=3)


@pytest.mark.parametrize("sample", ["digits", "transformer"])
def test_io_binding_runs_the_same_model(sample, request):
    s = request.getfixturevalue(sample)
    feeds = {k: v[:8] for k, v in s.inputs.items()}
    r = onnxkit.benchmark(s.model, feeds, runs=10, warmup=1, io_binding=True)
    assert r.io_binding and r.device == "cpu" and r.runs == 10 and r.batch_size == 8
    assert "IOBinding on cpu" in repr(r) and "bound on cpu" in r._repr_html_()
    assert r.to_dict()["io_binding"] is True
    # What the timed loop runs gives exactly what a plain run gives.
    resolved, _ = resolve("cpu")
    sess = onnxkit.session(s.model)
    binding = bind(sess, feeds, resolved)
    sess.run_with_iobinding(binding)
    bound = dict(zip([o.name for o in sess.get_outputs()], binding.copy_outputs_to_cpu()))
    plain = onnxkit.run(s.model, feeds)
    assert bound.keys() == plain.keys()
    assert all(np.array_equal(bound[k], plain[k]) for k in plain)


def test_plain_runs_are_recorded_as_such(tiny):
    r = onnxkit.benchmark(tiny, runs=3)
    assert r.io_binding is False and r.device == "cpu" and "IOBinding" not in repr(r)


def test_io_binding_must_be_a_bool(tiny):
    with pytest.raises(ParameterError, match="io_binding"):
        onnxkit.benchmark(tiny, runs=3, io_binding="yes")
