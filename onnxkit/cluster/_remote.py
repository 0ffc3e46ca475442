"""What runs on the workers: a node's hardware facts, and tasks pinned to a node."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from onnxkit.runtime import providers


def machine_facts() -> tuple[dict[str, Any], list[str]]:
    """This node's facts and installed providers (run on the node itself)."""
    table = providers()
    return dict(table.machine), list(table.available)


def on_node(ray: Any, node_id: str, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` as a Ray task that must run on ``node_id``; its ObjectRef."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    task = ray.remote(num_cpus=0)(fn)
    return task.options(scheduling_strategy=NodeAffinitySchedulingStrategy(
        node_id, soft=False)).remote(*args)
