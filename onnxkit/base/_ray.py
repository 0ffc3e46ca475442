"""Starting or joining Ray: the engine under :mod:`onnxkit.cluster` and ``serve.on_ray``."""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from onnxkit.base._loopback import worker_hook
from onnxkit.errors import ClusterError


def loopback_ray() -> None:
    """Keep a Ray that onnxkit starts on this machine on 127.0.0.1.

    Ray otherwise advertises, and connects through, the address of the network interface
    (it resolves "127.0.0.1" to it), so a local cluster would listen beyond loopback. Its
    own switch for single-machine use is read when ``ray`` is imported: set it first.
    """
    if "ray" not in sys.modules:
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


# Ray ties the life of the processes it starts (GCS, raylet) to the thread that starts them:
# on Linux their parent-death signal follows that thread. Started from a panel action's
# short-lived thread, they would die with it and take the kernel down a minute later. So Ray
# is always started from this one thread, which lives as long as the process.
_OWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="onnxkit-ray-owner")
# Who uses the Ray of this process ("cluster", "serve"): the last to leave shuts it down, so
# one stopping (a Ray Serve deployment) cannot pull Ray from under another (a cluster).
_USERS: set[str] = set()
STARTUP_RETRIES = 1  # Ray's own wait for its raylet is a fixed 30 s, short on a busy machine


def init_ray(ray: Any, address: str | None, *, where: str, num_cpus: int | None = None,
             user: str | None = None) -> bool:
    """``ray.init`` unless Ray is up: a local Ray (no dashboard, loopback) when ``address`` is
    None, else join the cluster there. Returns whether this call started a local Ray;
    ``user`` holds it until :func:`release_ray`.

    Whatever thread calls it, Ray is started from a thread that outlives it."""
    started = _OWNER.submit(_init, ray, address, where, num_cpus).result()
    if user is not None:
        _USERS.add(user)
    return started


def release_ray(ray: Any, user: str) -> bool:
    """``user`` is done with Ray; shut it down when no one else holds it. Returns whether
    this call shut it down."""
    _USERS.discard(user)
    if _USERS or not ray.is_initialized():
        return False
    ray.shutdown()
    return True


def _init(ray: Any, address: str | None, where: str, num_cpus: int | None) -> bool:
    if ray.is_initialized():
        return False
    try:
        _start(ray, address, num_cpus)
    except Exception as e:
        raise ClusterError(f"{where}: could not {'start' if address is None else 'reach'} Ray "
                           f"({type(e).__name__}: {e}). For a cluster, pass its address ('auto' "
                           "on one of its nodes, or 'ray://host:10001').") from e
    return address is None


def _start(ray: Any, address: str | None, num_cpus: int | None) -> None:
    # a Ray of our own: its workers keep Ray Serve's gRPC servers on loopback too (see
    # onnxkit.base._loopback); a cluster's (address given) are left as they are
    hook = worker_hook(ray) if address is None else None
    for attempt in range(1 + STARTUP_RETRIES):
        try:
            if address is None:  # "local": a Ray of our own, never another on this machine
                ray.init(address="local", include_dashboard=False, log_to_driver=False,
                         num_cpus=num_cpus or os.cpu_count() or 1, _node_ip_address="127.0.0.1",
                         runtime_env={"worker_process_setup_hook": hook} if hook else None)
            else:
                ray.init(address=address, log_to_driver=False)
            return
        except Exception as e:
            if "timed out during startup" not in str(e) or attempt == STARTUP_RETRIES:
                raise
            ray.shutdown()  # a loaded machine: Ray waits a fixed 30 s for its raylet
