"""Starting or joining Ray: the engine under :mod:`onnxkit.cluster` and ``serve.on_ray``."""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

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


def init_ray(ray: Any, address: str | None, *, where: str, num_cpus: int | None = None) -> bool:
    """``ray.init`` unless Ray is up: a local Ray (no dashboard, loopback) when ``address`` is
    None, else join the cluster there. Returns whether this call started a local Ray.

    Whatever thread calls it, Ray is started from a thread that outlives it."""
    return _OWNER.submit(_init, ray, address, where, num_cpus).result()


def _init(ray: Any, address: str | None, where: str, num_cpus: int | None) -> bool:
    if ray.is_initialized():
        return False
    try:
        if address is None:
            ray.init(include_dashboard=False, log_to_driver=False,
                     num_cpus=num_cpus or os.cpu_count() or 1, _node_ip_address="127.0.0.1")
        else:
            ray.init(address=address, log_to_driver=False)
    except Exception as e:
        raise ClusterError(f"{where}: could not {'start' if address is None else 'reach'} Ray "
                           f"({type(e).__name__}: {e}). For a cluster, pass its address ('auto' "
                           "on one of its nodes, or 'ray://host:10001').") from e
    return address is None
