"""Dynamic batching: concurrent requests with the same signature (input names, dtypes and
every dim but the first) are stacked along the batch axis, run once, and split back.

A batch closes when it holds ``max_batch`` rows or ``max_delay_s`` after its first request;
at most ``workers`` batches run at once (each in a thread: ONNX Runtime releases the GIL), so
requests queue up, and batch, while the model is busy. A batch that fails is re-run one
request at a time, so one bad request cannot fail its neighbours.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Feeds = dict[str, np.ndarray]
Runner = Callable[[Feeds], dict[str, np.ndarray]]


@dataclass
class _Item:
    key: tuple[Any, ...]
    feeds: Feeds
    rows: int
    future: asyncio.Future[dict[str, np.ndarray]]
    queued_at: float = field(default_factory=time.perf_counter)


def signature(feeds: Feeds) -> tuple[Any, ...]:
    """What must match for two requests to share a batch."""
    return tuple((k, v.dtype.str, v.shape[1:]) for k, v in sorted(feeds.items()))


class Batcher:
    def __init__(self, run: Runner, *, max_batch: int, max_delay_s: float, workers: int,
                 on_batch: Callable[[int, list[float], float], None] | None = None):
        self.max_batch, self.max_delay_s = max_batch, max_delay_s
        self._run, self._on_batch = run, on_batch
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="onnxkit-serve")
        self._workers = workers
        self._queue: asyncio.Queue[_Item | None] | None = None
        self._slots: asyncio.Semaphore | None = None
        self._pending: deque[_Item] = deque()
        self._collector: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self.note = ""  # why batching was turned off, if it was

    async def submit(self, feeds: Feeds, rows: int) -> dict[str, np.ndarray]:
        """The model's outputs for these feeds (``rows`` along the batch axis)."""
        self._start()
        assert self._queue is not None
        future: asyncio.Future[dict[str, np.ndarray]] = \
            asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Item(signature(feeds), feeds, rows, future))
        return await future

    def _start(self) -> None:
        if self._collector is None:  # created on the server's own event loop
            self._queue, self._slots = asyncio.Queue(), asyncio.Semaphore(self._workers)
            self._collector = asyncio.get_running_loop().create_task(self._collect())

    async def stop(self) -> None:
        """Finish every queued and running request, then stop."""
        if self._collector is not None and self._queue is not None:
            self._queue.put_nowait(None)
            await self._collector
            if self._running:
                await asyncio.gather(*self._running, return_exceptions=True)
        self._executor.shutdown(wait=True)

    async def _collect(self) -> None:
        assert self._queue is not None and self._slots is not None
        while True:
            await self._slots.acquire()
            first = self._pending.popleft() if self._pending else await self._queue.get()
            if first is None:  # stop: everything before it has been taken
                self._slots.release()
                return
            batch = await self._fill(first)
            task = asyncio.get_running_loop().create_task(self._execute(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _fill(self, first: _Item) -> list[_Item]:
        """More requests like ``first`` until the batch is full or its delay is over."""
        batch, rows = [first], first.rows
        deadline = time.perf_counter() + self.max_delay_s
        while rows < self.max_batch:
            item = self._from_pending(first.key, self.max_batch - rows)
            if item is None:
                item = await self._next(deadline)
                if item is None:
                    break
                if item.key != first.key or item.rows > self.max_batch - rows:
                    self._pending.append(item)
                    continue
            batch.append(item)
            rows += item.rows
        return batch

    async def _next(self, deadline: float) -> _Item | None:
        """The next queued request, waiting until ``deadline`` at most (None: none came, or
        the server is stopping)."""
        assert self._queue is not None
        try:
            item = self._queue.get_nowait()
        except asyncio.QueueEmpty:
            left = deadline - time.perf_counter()
            if left <= 0:
                return None
            try:
                item = await asyncio.wait_for(self._queue.get(), left)
            except asyncio.TimeoutError:
                return None
        if item is None:  # stop: put it back for the collector to see
            self._queue.put_nowait(None)
        return item

    def _from_pending(self, key: tuple[Any, ...], room: int) -> _Item | None:
        for i, item in enumerate(self._pending):
            if item.key == key and item.rows <= room:
                del self._pending[i]
                return item
        return None

    async def _execute(self, batch: list[_Item]) -> None:
        assert self._slots is not None
        loop = asyncio.get_running_loop()
        try:
            started = time.perf_counter()
            feeds = batch[0].feeds if len(batch) == 1 else {
                name: np.concatenate([item.feeds[name] for item in batch])
                for name in batch[0].feeds}
            try:
                outputs = await loop.run_in_executor(self._executor, self._run, feeds)
                parts = _split(outputs, [item.rows for item in batch])
                if parts is None:
                    raise ValueError("an output does not have the batch axis: cannot split the "
                                     "batch")
            except Exception as e:
                if len(batch) == 1:
                    _settle(batch[0].future, error=e)
                    return
                for item in batch:  # one at a time: only the request at fault fails
                    await self._execute_alone(item)
                return
            if self._on_batch is not None:
                self._on_batch(sum(item.rows for item in batch),
                               [started - item.queued_at for item in batch],
                               time.perf_counter() - started)
            for item, part in zip(batch, parts):
                _settle(item.future, result=part)
        finally:
            self._slots.release()

    async def _execute_alone(self, item: _Item) -> None:
        loop = asyncio.get_running_loop()
        try:
            _settle(item.future, result=await loop.run_in_executor(self._executor, self._run,
                                                                   item.feeds))
        except Exception as e:
            _settle(item.future, error=e)


def _split(outputs: dict[str, np.ndarray], rows: list[int]
           ) -> list[dict[str, np.ndarray]] | None:
    """Each request's rows of the batch's outputs; None when an output has no batch axis."""
    total = sum(rows)
    if len(rows) > 1 and any(np.ndim(v) == 0 or len(v) != total for v in outputs.values()):
        return None
    bounds = np.cumsum([0, *rows])
    return [{k: v[a:b] if len(rows) > 1 else v for k, v in outputs.items()}
            for a, b in zip(bounds[:-1], bounds[1:])]


def _settle(future: asyncio.Future[Any], *, result: Any = None,
            error: BaseException | None = None) -> None:
    if future.done():  # the client went away
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
