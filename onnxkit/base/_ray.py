"""Starting or joining Ray: the engine under :mod:`onnxkit.cluster` and ``serve.on_ray``."""

from __future__ import annotations

import os
import sys
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


def init_ray(ray: Any, address: str | None, *, where: str, num_cpus: int | None = None) -> bool:
    """``ray.init`` unless Ray is up: a local Ray (no dashboard, loopback) when ``address`` is
    None, else join the cluster there. Returns whether this call started a local Ray."""
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
