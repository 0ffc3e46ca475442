"""measure(): interleaved rounds, paired ratios with a distribution-free interval, adaptive."""

from __future__ import annotations

import math
import time

import pytest

import onnxkit
from onnxkit.bench import Measurement, _measure, measure, measure_models, speedup_interval
from onnxkit.errors import Cancelled, ParameterError


def _sleep(ms):
    return lambda: time.sleep(ms / 1e3)


def _noop():
    return None


def test_the_interval_is_order_statistics_of_the_median():
    ratios = [0.9 + 0.01 * i for i in range(20)]  # 0.90 .. 1.09
    s = speedup_interval(ratios)
    # n=20: P(B(20, .5) <= 5) = 0.0207 <= 0.025 < P(B <= 6), so the 6th smallest/largest
    assert (s.low, s.high) == (ratios[5], ratios[14]) and s.rounds == 20
    assert s.confidence == pytest.approx(1 - 2 * sum(math.comb(20, i) for i in range(6)) / 2**20)
    assert s.median == pytest.approx(0.995) and s.verdict == "indistinguishable"


def test_with_few_rounds_the_interval_is_the_range_and_says_what_it_covers():
    s = speedup_interval([1.2, 1.1, 1.3])
    assert (s.low, s.high, s.confidence) == (1.1, 1.3, 0.75)
    assert s.verdict == "indistinguishable"  # three rounds are too few to call it
    five = speedup_interval([1.2, 1.1, 1.3, 1.15, 1.25])
    assert five.confidence == 1 - 2 / 32 and five.verdict == "faster"
    assert speedup_interval([0.5, 0.8, 0.7, 0.6, 0.65]).verdict == "slower"
    assert math.isnan(speedup_interval([]).median)


def test_a_clear_difference_stops_once_it_is_beyond_the_stricter_stop_level():
    m = measure([("slow", _sleep(2)), ("fast", _noop)], min_rounds=3, max_rounds=30,
                budget_s=None)
    # the 99% stop level needs 8 rounds (the range of 8 covers 1 - 2/256)
    assert (m.stopped, m.rounds) == ("separated", 8)
    assert m.speedup("fast").verdict == "faster" and m.speedup("fast").low > 10
    assert m.percentile("slow", 50) >= 2.0 and len(m.pooled("slow")) >= 8


def test_without_a_difference_it_runs_to_the_round_limit_or_the_budget():
    m = measure([("a", _noop), ("b", _noop)], min_rounds=4, max_rounds=4, runs=5)
    assert (m.stopped, m.rounds) == ("rounds", 4)
    assert [len(r) for r in m.samples[0]] == [5, 5, 5, 5]
    m = measure([("a", _sleep(1)), ("b", _sleep(1))], min_rounds=3, max_rounds=100,
                budget_s=0.001, runs=1)
    assert (m.stopped, m.rounds) == ("budget", 3)  # the budget is checked after min_rounds


@pytest.fixture
def timed_as_returned(monkeypatch):
    """Inject the timings: each run of a runner takes the milliseconds it returns."""
    monkeypatch.setattr(_measure, "_timed",
                        lambda run, count: tuple(float(run()) for _ in range(count)))


def _ms(value):
    return lambda: value


def test_pairs_name_each_models_reference(timed_as_returned):
    m = measure([("a1", _ms(2.0)), ("b1", _ms(2.0)), ("a2", _ms(0.5)), ("b2", _ms(0.5))],
                min_rounds=5, max_rounds=5, runs=3, pairs=[("b1", "a1"), ("b2", "a2")])
    assert m.speedup("b1", "a1").rounds == 5 and m.speedup("a2").verdict == "faster"
    assert m.speedup("b2", "a2").verdict == "indistinguishable"


def test_every_reference_must_see_its_leader_separate(timed_as_returned):
    faster_twice = [("a1", _ms(2.0)), ("b1", _ms(1.0)), ("a2", _ms(4.0)), ("b2", _ms(1.0))]
    m = measure(faster_twice, min_rounds=3, max_rounds=30, budget_s=None, runs=3,
                pairs=[("b1", "a1"), ("b2", "a2")])
    assert (m.stopped, m.rounds) == ("separated", 8)  # the 99% stop level needs 8 rounds
    one_tie = [*faster_twice[:3], ("b2", _ms(4.0))]  # b2 ties a2: a2's leader never separates
    m = measure(one_tie, min_rounds=3, max_rounds=12, budget_s=None, runs=3,
                pairs=[("b1", "a1"), ("b2", "a2")])
    assert (m.stopped, m.rounds) == ("rounds", 12)


def test_the_order_rotates_every_round():
    seen = []
    runners = [(n, lambda n=n: seen.append(n)) for n in "abc"]
    measure(runners, min_rounds=3, max_rounds=3, runs=1)
    assert "".join(seen) == "abcbcacab"  # runs= given: no sizing run first


def test_progress_sees_every_round_and_may_stop_it():
    seen = []
    measure([("a", _noop), ("b", _noop)], min_rounds=2, max_rounds=2, runs=1,
            progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 2), (2, 2)]

    def stop(done, total):
        raise Cancelled("stop")

    with pytest.raises(Cancelled):
        measure([("a", _noop), ("b", _noop)], runs=1, progress=stop)


def test_bad_settings_are_refused_by_name():
    with pytest.raises(ParameterError, match="rounds"):
        measure([("a", _noop)], min_rounds=0)
    with pytest.raises(ParameterError, match="budget_s"):
        measure([("a", _noop)], budget_s=-1)


def test_a_measurement_is_a_result():
    m = Measurement(("a", "b"), (((2.0, 2.0),), ((1.0, 1.0),)), "rounds")
    assert m.speedup("b").median == 2.0 and "b: p50 1.000 ms" in repr(m)
    assert m.to_dict()["stopped"] == "rounds"


def test_models_get_sessions_and_load_times(tiny):
    m, load_ms = measure_models({"ref": tiny, "same": tiny}, min_rounds=3, max_rounds=3,
                                runs=2)
    assert m.names == ("ref", "same") and set(load_ms) == {"ref", "same"}
    assert all(ms > 0 for ms in load_ms.values())
    with pytest.raises(onnxkit.errors.InputError):
        measure_models({"ref": tiny}, {"nope": 1})
