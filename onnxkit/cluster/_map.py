"""Batches on the workers: a few in flight at a time (the driver's memory stays flat however
long the data), the model shipped once through Ray's object store, each worker keeping its
sessions across batches, and a batch whose worker died run again elsewhere."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from typing import Any

from onnxkit.errors import Cancelled, ClusterError

RETRIES = 3  # runs of a batch whose worker died, before giving up
KEPT = 4  # evaluations whose model and sessions a worker keeps (workers outlive a call)
_SESSIONS: dict[str, Any] = {}  # in each worker process: its ONNX Runtime sessions, by model


def _run_batch(task: Callable[..., dict[str, Any]], shared_ref: list[Any], batch: Any
               ) -> dict[str, Any]:
    """On a worker: ``task`` with the shared arguments (fetched from the object store only
    the first time this worker sees them) and this worker's sessions."""
    import ray

    key = shared_ref[0].hex()
    if key not in _SESSIONS:
        while len(_SESSIONS) >= KEPT:  # the oldest evaluation's model and sessions go
            del _SESSIONS[next(iter(_SESSIONS))]
        _SESSIONS[key] = {"shared": ray.get(shared_ref[0]), "sessions": {}}
    entry = _SESSIONS[key]
    return task(entry["shared"], entry["sessions"], batch)


def map_batches(ray: Any, task: Callable[..., dict[str, Any]], shared: dict[str, Any],
                batches: Iterable[Any], progress: Callable[[], None]
                ) -> tuple[list[dict[str, Any]], int]:
    """``task(shared, sessions, batch)`` for every batch; returns the results (in the order
    of the data) and how many batches were run again because their worker died."""
    from ray.exceptions import RayTaskError, WorkerCrashedError

    remote = ray.remote(max_retries=0)(_run_batch)
    shared_ref = [ray.put(shared)]  # nested in a list: the workers fetch it themselves
    window = max(2, 2 * int(ray.cluster_resources().get("CPU", 1)))
    pending: dict[Any, tuple[int, Any, int]] = {}  # ref -> (index, batch, attempt)
    results: dict[int, dict[str, Any]] = {}
    retried = 0
    source = enumerate(batches)
    try:
        for index, batch in itertools.islice(source, window):
            pending[remote.remote(task, shared_ref, batch)] = (index, batch, 1)
        while pending:
            (ready,), _ = ray.wait(list(pending), num_returns=1)
            index, batch, attempt = pending.pop(ready)
            try:
                results[index] = ray.get(ready)
            except WorkerCrashedError as e:
                if attempt >= RETRIES:
                    raise ClusterError(f"batch {index} failed {attempt} times: its worker "
                                       f"died each time ({e})") from e
                retried += 1
                pending[remote.remote(task, shared_ref, batch)] = (index, batch, attempt + 1)
                continue
            except RayTaskError as e:
                raise e.as_instanceof_cause() from None  # the task's own error, e.g. bad input
            progress()
            for index, batch in itertools.islice(source, 1):
                pending[remote.remote(task, shared_ref, batch)] = (index, batch, 1)
    except (Cancelled, KeyboardInterrupt):
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    return [results[i] for i in sorted(results)], retried
