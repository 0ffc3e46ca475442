"""Dynamic batching with Triton's policy: requests with the same signature (input names,
dtypes and every dim but the first) are stacked along the batch axis, run once, split back.

- A batch is formed whenever a model instance is free, from what is queued (up to
  ``max_batch`` rows): a lone request never waits for company.
- Only with ``max_queue_delay_s`` set, and when a full (or preferred-size) batch cannot be
  formed, does the oldest request wait, at most that long, for more.
- ``preferred`` batch sizes: when a prefix of the queue adds up to one, the largest such
  batch runs at once.
- The queue is bounded (``max_queue_size``: then :class:`RequestError` 503 with
  ``Retry-After``), and a request may carry a queue timeout (503 when it expires unstarted).

:class:`Policy` decides from the queue and a clock reading it is given (tested without
time); :class:`Batcher` applies it on the event loop. A fast model (the median of its recent
runs under ``inline_below_s``) runs on the event loop itself: a thread hop costs more than
the run. A batch that fails is re-run one request at a time, so one bad request cannot fail its
neighbours.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .protocol import RequestError

Feeds = dict[str, np.ndarray]
Runner = Callable[[Feeds], dict[str, np.ndarray]]
INLINE_BELOW_S = 0.5e-3  # runs shorter than this stay on the event loop (one instance only)
RETRY_AFTER_S = 1
RECENT_RUNS = 15  # run times whose median decides inline or not (robust to a preempted run)


@dataclass(eq=False)
class Item:
    key: tuple[Any, ...]
    feeds: Feeds
    rows: int
    queued_at: float
    future: asyncio.Future[Any] | None = None
    expiry: asyncio.TimerHandle | None = field(default=None, repr=False)


def signature(feeds: Feeds) -> tuple[Any, ...]:
    """What must match for two requests to share a batch."""
    return tuple((k, v.dtype.str, v.shape[1:]) for k, v in sorted(feeds.items()))


@dataclass(frozen=True)
class Policy:
    """Triton's dynamic batcher, as a pure decision on the queue's state."""

    max_batch: int = 32
    max_queue_delay_s: float = 0.0
    preferred: tuple[int, ...] = ()

    def next_batch(self, queue: Sequence[Item], now: float, *, flush: bool = False
                   ) -> tuple[list[int] | None, float | None]:
        """For a free model instance: (the queue positions to run now, or None; when to ask
        again if the oldest request may still wait). ``flush``: never wait (stopping)."""
        if not queue:
            return None, None
        head = queue[0]
        chosen, totals, rows = [0], [head.rows], head.rows
        full = rows >= self.max_batch
        for i in range(1, len(queue)):
            if full:
                break
            item = queue[i]
            if item.key != head.key:
                continue  # left queued for a later batch of its own signature
            if rows + item.rows > self.max_batch:
                full = True  # the next one does not fit: as full as this batch gets
                break
            rows += item.rows
            chosen.append(i)
            totals.append(rows)
            full = rows >= self.max_batch
        hits = [n for n, total in enumerate(totals) if total in self.preferred]
        if hits:
            return chosen[:hits[-1] + 1], None
        deadline = head.queued_at + self.max_queue_delay_s
        if full or flush or self.max_queue_delay_s <= 0 or now >= deadline:
            return chosen, None
        return None, deadline


def runs_inline(recent_run_s: float | None, instances: int,
                threshold_s: float = INLINE_BELOW_S) -> bool:
    """Whether the next batch runs on the event loop: one instance, and its recent runs were
    shorter than a thread hop is worth (unknown at first: measured in a thread)."""
    return instances == 1 and recent_run_s is not None and recent_run_s < threshold_s


class Batcher:
    """Applies :class:`Policy` to requests from one event loop, with ``instances`` model
    runs at once (threads: ONNX Runtime releases the GIL)."""

    def __init__(self, run: Runner, *, max_batch: int = 32, max_queue_delay_s: float = 0.0,
                 preferred: Sequence[int] = (), instances: int = 1,
                 max_queue_size: int | None = None, timeout_s: float | None = None,
                 on_batch: Callable[[int, list[float], float], None] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 inline_below_s: float = INLINE_BELOW_S):
        self.policy = Policy(max_batch, max_queue_delay_s, tuple(sorted(set(preferred))))
        self.instances, self.max_queue_size, self.timeout_s = instances, max_queue_size, \
            timeout_s
        self._run, self._on_batch, self._clock = run, on_batch, clock
        self._inline_below_s = inline_below_s
        self._executor = ThreadPoolExecutor(instances, thread_name_prefix="onnxkit-serve")
        self._queue: deque[Item] = deque()
        self._free = instances
        self._run_times: deque[float] = deque(maxlen=RECENT_RUNS)
        self._kicked = False
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self._idle: asyncio.Event | None = None
        self.note = ""  # why batching was turned off, if it was

    @property
    def max_batch(self) -> int:
        return self.policy.max_batch

    @property
    def queued(self) -> int:
        return len(self._queue)

    async def submit(self, feeds: Feeds, rows: int, timeout_s: float | None = None
                     ) -> dict[str, np.ndarray]:
        """The model's outputs for these feeds (``rows`` along the batch axis)."""
        loop = self._loop = self._loop or asyncio.get_running_loop()
        if self._stopping:
            raise RequestError("the server is stopping; send the request to another replica "
                               "or retry", 503, {"Retry-After": str(RETRY_AFTER_S)})
        if self.max_queue_size is not None and len(self._queue) >= self.max_queue_size:
            raise RequestError(f"the queue is full ({self.max_queue_size} requests waiting); "
                               "retry later", 503, {"Retry-After": str(RETRY_AFTER_S)})
        item = Item(signature(feeds), feeds, rows, self._clock(), loop.create_future())
        timeout = timeout_s if timeout_s is not None else self.timeout_s
        if timeout is not None:
            item.expiry = loop.call_later(timeout, self._expire, item, timeout)
        self._queue.append(item)
        self._kick()
        assert item.future is not None
        return await item.future

    def _kick(self) -> None:
        """Decide once this loop iteration's requests are all queued: 'what is queued' then
        holds every request that arrived together."""
        if not self._kicked and self._loop is not None:
            self._kicked = True
            self._loop.call_soon(self._schedule)

    def _schedule(self) -> None:
        self._kicked = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._free and self._queue:
            self._drop_abandoned()
            chosen, wake_at = self.policy.next_batch(self._queue, self._clock(),
                                                     flush=self._stopping)
            if chosen is None:
                if wake_at is not None and self._loop is not None:
                    self._timer = self._loop.call_later(max(0.0, wake_at - self._clock()),
                                                        self._schedule)
                break
            self._start(self._take(chosen))
        self._check_idle()

    def _drop_abandoned(self) -> None:
        while self._queue and self._queue[0].future is not None and self._queue[0].future.done():
            self._queue.popleft()  # the client went away, or its timeout expired

    def _take(self, positions: list[int]) -> list[Item]:
        wanted = set(positions)
        batch = [item for i, item in enumerate(self._queue) if i in wanted]
        self._queue = deque(item for i, item in enumerate(self._queue) if i not in wanted)
        for item in batch:
            if item.expiry is not None:
                item.expiry.cancel()
        return [item for item in batch if item.future is None or not item.future.done()]

    def _start(self, batch: list[Item]) -> None:
        if not batch:
            return
        self._free -= 1
        started = self._clock()
        recent = statistics.median(self._run_times) if self._run_times else None
        if runs_inline(recent, self.instances, self._inline_below_s):
            self._finish(batch, started, *self._compute(batch))
            return
        assert self._loop is not None
        done = self._loop.run_in_executor(self._executor, self._compute, batch)
        done.add_done_callback(lambda f: self._finish(batch, started, *f.result()))

    def _compute(self, batch: list[Item]) -> tuple[list[Any], float]:
        """Each request's outputs (or its exception): one run of the stacked batch, or one
        run per request when the batch fails; and how long the runs took (the model's own
        time: a thread hop's latency must not decide whether the next run needs one)."""
        began = self._clock()
        return self._outputs(batch), self._clock() - began

    def _outputs(self, batch: list[Item]) -> list[Any]:
        feeds = batch[0].feeds if len(batch) == 1 else {
            name: np.concatenate([item.feeds[name] for item in batch]) for name in batch[0].feeds}
        try:
            outputs = self._run(feeds)
            parts = _split(outputs, [item.rows for item in batch])
            if parts is None:
                raise ValueError("an output does not have the batch axis: cannot split the "
                                 "batch")
            return parts
        except Exception as e:
            if len(batch) == 1:
                return [e]
        results: list[Any] = []
        for item in batch:  # one at a time: only the request at fault fails
            try:
                results.append(self._run(item.feeds))
            except Exception as e:
                results.append(e)
        return results

    def _finish(self, batch: list[Item], started: float, results: list[Any],
                run_s: float) -> None:
        self._run_times.append(run_s)
        self._free += 1
        if self._on_batch is not None:
            self._on_batch(sum(item.rows for item in batch),
                           [started - item.queued_at for item in batch], run_s)
        for item, result in zip(batch, results):
            if item.future is not None and not item.future.done():
                if isinstance(result, Exception):
                    item.future.set_exception(result)
                else:
                    item.future.set_result(result)
        self._kick()

    def _expire(self, item: Item, timeout: float) -> None:
        if item.future is not None and not item.future.done() and item in self._queue:
            self._queue.remove(item)
            item.future.set_exception(RequestError(
                f"the request waited {timeout * 1e3:g} ms in the queue without a model "
                "instance free (its timeout); retry later", 503,
                {"Retry-After": str(RETRY_AFTER_S)}))

    def _check_idle(self) -> None:
        if self._idle is not None and not self._queue and self._free == self.instances:
            self._idle.set()

    async def stop(self) -> None:
        """Refuse new requests, finish every queued and running one, then stop."""
        self._stopping = True
        if self._loop is not None:
            self._idle = asyncio.Event()
            self._schedule()
            await self._idle.wait()
        self._executor.shutdown(wait=True)


def _split(outputs: dict[str, np.ndarray], rows: list[int]
           ) -> list[dict[str, np.ndarray]] | None:
    """Each request's rows of the batch's outputs; None when an output has no batch axis."""
    if len(rows) == 1:
        return [outputs]
    total = sum(rows)
    if any(np.ndim(v) == 0 or len(v) != total for v in outputs.values()):
        return None
    bounds = np.cumsum([0, *rows])
    return [{k: v[a:b] for k, v in outputs.items()} for a, b in zip(bounds[:-1], bounds[1:])]
