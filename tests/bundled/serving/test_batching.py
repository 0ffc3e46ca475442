"""The dynamic batcher, without HTTP: what is stacked with what, and what one failure costs."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from onnxkit.bundled.serving.batching import Batcher


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
    results = _run(Batcher(model, max_batch=32, max_delay_s=0.05, workers=1), requests)
    assert model.runs == [8]
    for i, result in enumerate(results):
        np.testing.assert_array_equal(result["y"], [[2 * i, 2 * i]])


def test_a_batch_closes_at_max_batch_rows():
    model = Model()
    _run(Batcher(model, max_batch=4, max_delay_s=0.05, workers=1),
         _requests(*([[i]] for i in range(10))))
    assert model.runs == [4, 4, 2]


def test_requests_of_other_shapes_are_never_mixed():
    model = Model()
    results = _run(Batcher(model, max_batch=32, max_delay_s=0.05, workers=1),
                   _requests([[1, 1]], [[2, 2, 2]], [[3, 3]], [[4, 4, 4]]))
    assert sorted(model.runs) == [2, 2]  # one batch per row length
    assert [r["y"].shape for r in results] == [(1, 2), (1, 3), (1, 2), (1, 3)]


def test_one_bad_request_fails_alone():
    model = Model()
    results = _run(Batcher(model, max_batch=32, max_delay_s=0.05, workers=1),
                   _requests([[1]], [[-1]], [[3]]))
    assert isinstance(results[1], RuntimeError)
    assert results[0]["y"].tolist() == [[2]] and results[2]["y"].tolist() == [[6]]
    assert model.runs == [3, 1, 1, 1]  # the batch, then each request alone


def test_max_batch_one_runs_each_request_alone():
    model = Model()
    _run(Batcher(model, max_batch=1, max_delay_s=0.05, workers=1), _requests([[1]], [[2]]))
    assert model.runs == [1, 1]


def test_stop_finishes_what_was_queued():
    model = Model()

    async def scenario():
        batcher = Batcher(model, max_batch=2, max_delay_s=0.0, workers=1)
        tasks = [asyncio.ensure_future(batcher.submit({"x": np.ones((1, 1))}, 1))
                 for _ in range(5)]
        await asyncio.sleep(0)  # all queued
        await batcher.stop()
        return [t.result()["y"].tolist() for t in tasks]

    assert asyncio.run(scenario()) == [[[2.0]]] * 5


@pytest.mark.parametrize("rows", [3, 40])
def test_a_request_larger_than_max_batch_runs_whole(rows):
    model = Model()
    result = _run(Batcher(model, max_batch=32, max_delay_s=0.0, workers=1),
                  _requests(np.arange(rows)[:, None]))
    assert model.runs == [rows] and result[0]["y"].shape == (rows, 1)
