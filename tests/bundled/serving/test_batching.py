"""The dynamic batcher, without HTTP: Triton's policy decided on queue state and an injected
clock (never the wall clock), what is stacked with what, and what one failure costs."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from onnxkit.bundled.serving.batching import Batcher, Item, Policy, runs_inline
from onnxkit.bundled.serving.protocol import RequestError


class Model:
    """Doubles its input and records the batch size of every run; rows of -1 make it fail."""

    def __init__(self):
        self.runs: list[int] = []

    def __call__(self, feeds):
        x = feeds["x"]
        self.runs.append(len(x))
        if (x == -1).any():
            raise RuntimeError("bad row")
        return {"y": x * 2}


def _requests(*arrays):
    return [{"x": np.asarray(a, np.float32)} for a in arrays]


async def _submit_all(batcher, requests):
    try:
        return await asyncio.gather(*(batcher.submit(r, len(r["x"])) for r in requests),
                                    return_exceptions=True)
    finally:
        await batcher.stop()


def _run(batcher, requests):
    return asyncio.run(_submit_all(batcher, requests))


def test_requests_queued_together_run_as_one_batch_and_split_back():
    model = Model()
    requests = _requests(*([[i, i]] for i in range(8)))
    results = _run(Batcher(model, max_batch=32, max_queue_delay_s=0.05), requests)
    assert model.runs == [8]
    for i, result in enumerate(results):
        np.testing.assert_array_equal(result["y"], [[2 * i, 2 * i]])


def test_a_batch_closes_at_max_batch_rows():
    model = Model()
    _run(Batcher(model, max_batch=4, max_queue_delay_s=0.05),
         _requests(*([[i]] for i in range(10))))
    assert model.runs == [4, 4, 2]


def test_requests_of_other_shapes_are_never_mixed():
    model = Model()
    results = _run(Batcher(model, max_batch=32, max_queue_delay_s=0.05),
                   _requests([[1, 1]], [[2, 2, 2]], [[3, 3]], [[4, 4, 4]]))
    assert sorted(model.runs) == [2, 2]  # one batch per row length
    assert [r["y"].shape for r in results] == [(1, 2), (1, 3), (1, 2), (1, 3)]


def test_one_bad_request_fails_alone():
    model = Model()
    results = _run(Batcher(model, max_batch=32, max_queue_delay_s=0.05),
                   _requests([[1]], [[-1]], [[3]]))
    assert isinstance(results[1], RuntimeError)
    assert results[0]["y"].tolist() == [[2]] and results[2]["y"].tolist() == [[6]]
    assert model.runs == [3, 1, 1, 1]  # the batch, then each request alone


def test_max_batch_one_runs_each_request_alone():
    model = Model()
    _run(Batcher(model, max_batch=1, max_queue_delay_s=0.05), _requests([[1]], [[2]]))
    assert model.runs == [1, 1]


def test_stop_finishes_what_was_queued():
    model = Model()

    async def scenario():
        batcher = Batcher(model, max_batch=2, max_queue_delay_s=0.0)
        tasks = [asyncio.ensure_future(batcher.submit({"x": np.ones((1, 1))}, 1))
                 for _ in range(5)]
        await asyncio.sleep(0)  # all queued
        await batcher.stop()
        return [t.result()["y"].tolist() for t in tasks]

    assert asyncio.run(scenario()) == [[[2.0]]] * 5


@pytest.mark.parametrize("rows", [3, 40])
def test_a_request_larger_than_max_batch_runs_whole(rows):
    model = Model()
    result = _run(Batcher(model, max_batch=32, max_queue_delay_s=0.0),
                  _requests(np.arange(rows)[:, None]))
    assert model.runs == [rows] and result[0]["y"].shape == (rows, 1)


# --- the policy alone: queue state and a clock reading in, a decision out -------------------

def _queue(*rows, key=("x",), at=0.0):
    return [Item(key, {}, r, at) for r in rows]


def test_a_lone_request_runs_at_once_without_a_queue_delay():
    assert Policy(max_batch=32).next_batch(_queue(1), now=0.0) == ([0], None)


def test_with_a_queue_delay_the_oldest_waits_until_its_deadline_then_runs():
    policy = Policy(max_batch=32, max_queue_delay_s=0.005)
    assert policy.next_batch(_queue(1, 1), now=0.001) == (None, 0.005)
    assert policy.next_batch(_queue(1, 1), now=0.005) == ([0, 1], None)
    assert policy.next_batch(_queue(1), now=0.0, flush=True) == ([0], None)  # stopping


def test_a_full_batch_never_waits():
    policy = Policy(max_batch=4, max_queue_delay_s=10.0)
    assert policy.next_batch(_queue(2, 2, 1), now=0.0) == ([0, 1], None)
    assert policy.next_batch(_queue(3, 2), now=0.0) == ([0], None)  # the next does not fit


def test_other_signatures_stay_queued_for_their_own_batch():
    queue = _queue(1) + _queue(1, key=("y",)) + _queue(1)
    assert Policy(max_batch=32).next_batch(queue, now=0.0) == ([0, 2], None)


def test_a_preferred_batch_size_runs_at_once_and_caps_the_batch():
    policy = Policy(max_batch=32, max_queue_delay_s=10.0, preferred=(4,))
    assert policy.next_batch(_queue(1, 1, 1, 1, 1), now=0.0) == ([0, 1, 2, 3], None)
    assert policy.next_batch(_queue(1, 1), now=0.0) == (None, 10.0)  # none reached: wait


def test_small_runs_go_inline_only_with_one_instance_and_a_measured_time():
    assert runs_inline(1e-4, 1) and not runs_inline(None, 1)
    assert not runs_inline(1e-4, 2) and not runs_inline(1e-2, 1)


# --- the batcher on an event loop: a model held busy by the test, so what queues is known ----

class Held(Model):
    """A model whose first run waits until the test releases it (the instance is busy)."""

    def __init__(self):
        super().__init__()
        import threading

        self.entered, self.release = threading.Event(), threading.Event()

    def __call__(self, feeds):
        if not self.runs:
            self.entered.set()
            self.release.wait(60)
        return super().__call__(feeds)


async def _busy(batcher, model):
    """Submit one request and return once the model is running it."""
    first = asyncio.ensure_future(batcher.submit({"x": np.ones((1, 1), np.float32)}, 1))
    await asyncio.get_running_loop().run_in_executor(None, model.entered.wait, 60)
    return first


def test_requests_that_arrive_while_the_model_is_busy_form_the_next_batch():
    model = Held()

    async def scenario():
        batcher = Batcher(model, max_batch=32)
        first = await _busy(batcher, model)
        rest = [asyncio.ensure_future(batcher.submit({"x": np.full((1, 1), i, np.float32)}, 1))
                for i in range(5)]
        await asyncio.sleep(0)
        assert batcher.queued == 5
        model.release.set()
        await asyncio.gather(first, *rest)
        await batcher.stop()
        return [r.result()["y"].item() for r in rest]

    assert asyncio.run(scenario()) == [0, 2, 4, 6, 8]
    assert model.runs == [1, 5]


def test_a_full_queue_is_a_503_with_retry_after():
    model = Held()

    async def scenario():
        batcher = Batcher(model, max_batch=32, max_queue_size=2)
        first = await _busy(batcher, model)
        queued = [asyncio.ensure_future(batcher.submit({"x": np.ones((1, 1))}, 1))
                  for _ in range(2)]
        await asyncio.sleep(0)
        with pytest.raises(RequestError) as refused:
            await batcher.submit({"x": np.ones((1, 1))}, 1)
        model.release.set()
        await asyncio.gather(first, *queued)
        await batcher.stop()
        return refused.value

    error = asyncio.run(scenario())
    assert error.status == 503 and error.headers == {"Retry-After": "1"}
    assert "queue is full" in str(error) and model.runs == [1, 2]


def test_a_request_not_started_within_its_timeout_is_a_503():
    model = Held()

    async def scenario():
        batcher = Batcher(model, max_batch=32)
        first = await _busy(batcher, model)
        late = asyncio.ensure_future(batcher.submit({"x": np.ones((1, 1))}, 1, 0.001))
        # the model stays busy until the timeout has fired: the outcome does not race
        while not late.done():
            await asyncio.sleep(0.001)
        model.release.set()
        await first
        await batcher.stop()
        return late.exception()

    error = asyncio.run(scenario())
    assert isinstance(error, RequestError) and error.status == 503
    assert "timeout" in str(error) and model.runs == [1]


def test_one_slow_run_does_not_move_a_fast_model_off_the_event_loop():
    """Where the model runs is decided on its measured run times (an injected clock that the
    model itself advances): the median of recent runs, so one preempted run changes nothing."""
    import threading

    durations = [1e-4] * 5 + [5e-2] + [1e-4] * 3
    now, threads = [0.0], []

    def model(feeds):
        threads.append(threading.current_thread().name)
        now[0] += durations[len(threads) - 1]
        return {"y": feeds["x"]}

    async def scenario():
        batcher = Batcher(model, max_batch=1, clock=lambda: now[0])
        for _ in durations:
            await batcher.submit({"x": np.ones((1, 1))}, 1)
        await batcher.stop()

    asyncio.run(scenario())
    assert threads[0].startswith("onnxkit-serve")  # nothing measured yet: in a thread
    assert not any(t.startswith("onnxkit-serve") for t in threads[1:])  # then inline
