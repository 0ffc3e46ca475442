"""``connect``: a Ray cluster to run on — a local one started here, or an existing one — and
the hardware of its nodes."""

from __future__ import annotations

import atexit
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from onnxkit.base import init_ray, loopback_ray, release_ray, require
from onnxkit.cluster import _remote
from onnxkit.cluster._map import map_batches
from onnxkit.errors import ClusterError, ParameterError
from onnxkit.results import Result, html_table

if TYPE_CHECKING:
    import pandas as pd

_STATE: dict[str, Any] = {"started": False}


@dataclass(frozen=True)
class Node(Result):
    """One node of the cluster and what it has."""

    node_id: str
    address: str
    alive: bool
    cpus: float
    gpus: float
    resources: dict[str, float]
    machine: dict[str, Any]  # onnxkit.providers()'s facts, gathered on the node itself
    providers: tuple[str, ...]  # the execution providers installed there


@dataclass(frozen=True)
class NodeTable(Result):
    """:meth:`Cluster.nodes`: one row per node."""

    nodes: tuple[Node, ...]

    def table(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame([{"node": n.node_id[:12], "address": n.address, "alive": n.alive,
                              "cpus": n.cpus, "gpus": n.gpus, **n.machine,
                              "providers": ", ".join(p.removesuffix("ExecutionProvider")
                                                     for p in n.providers)}
                             for n in self.nodes])

    def __repr__(self) -> str:
        lines = [f"{len(self.nodes)} node(s)"]
        for n in self.nodes:
            lines.append(f"  {n.node_id[:12]} {n.address}: {n.cpus:g} CPUs, {n.gpus:g} GPUs, "
                         f"{n.machine.get('cpu', '?')}; providers "
                         f"{', '.join(p.removesuffix('ExecutionProvider') for p in n.providers)}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        frame = self.table()
        return html_table(list(frame.columns), frame.itertuples(index=False),
                          caption="cluster nodes")


@dataclass(eq=False)
class Cluster(Result):
    """A connection to a Ray cluster: where :func:`onnxkit.evaluate`, :class:`onnxkit.Study`
    and :func:`onnxkit.sweep` can run their work (``cluster=``, ``on=``)."""

    address: str
    started_here: bool
    _ray: Any = field(repr=False)

    def nodes(self) -> NodeTable:
        """Every node, with its hardware facts gathered on the node itself (CPU model,
        instruction sets, cores, memory, GPUs, the ONNX Runtime providers installed)."""
        ray = self._ray
        alive = [n for n in ray.nodes() if n.get("Alive")]
        refs = [_remote.on_node(ray, n["NodeID"], _remote.machine_facts) for n in alive]
        facts = ray.get(refs)
        return NodeTable(tuple(
            Node(n["NodeID"], n.get("NodeManagerAddress", "?"), True,
                 n["Resources"].get("CPU", 0.0), n["Resources"].get("GPU", 0.0),
                 {k: v for k, v in n["Resources"].items() if not k.startswith("node:")},
                 machine, tuple(providers))
            for n, (machine, providers) in zip(alive, facts)))

    def node(self, on: str) -> Node:
        """The node ``on`` names: a node id (or its first characters), an address, or a
        resource every node with it has (e.g. ``"GPU"``); the first match."""
        nodes = self.nodes().nodes
        for n in nodes:
            if on in (n.node_id, n.address) or (len(on) >= 6 and n.node_id.startswith(on)):
                return n
        for n in nodes:
            if n.resources.get(on, 0) > 0:
                return n
        raise ClusterError(f"no node matches on={on!r}; nodes: "
                           + "; ".join(f"{n.node_id[:12]} ({n.address}, resources "
                                       f"{sorted(n.resources)})" for n in nodes))

    def node_with(self, provider: str, on: str | None = None) -> Node:
        """The node ``on`` (default: any) if it has ``provider``, else a clear refusal that
        lists the nodes that do."""
        nodes = [self.node(on)] if on is not None else list(self.nodes().nodes)
        for n in nodes:
            if provider in n.providers:
                return n
        having = [f"{n.node_id[:12]} ({n.address})" for n in self.nodes().nodes
                  if provider in n.providers]
        raise ClusterError(f"{'node ' + repr(on) if on else 'no node'} has {provider}; nodes "
                           f"that do: {having or 'none'}")

    def run_on(self, on: str, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` on the node ``on`` (see :meth:`node`), and its result."""
        node = self.node(on)
        return self._ray.get(_remote.on_node(self._ray, node.node_id, fn, *args))

    def map_batches(self, task: Callable[..., dict[str, Any]], shared: dict[str, Any],
                    batches: Iterable[Any], progress: Callable[[], None]
                    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Run ``task(shared, sessions, batch)`` for every batch on the workers (see
        :func:`onnxkit.cluster._map.map_batches`)."""
        parts, retried = map_batches(self._ray, task, shared, batches, progress)
        return parts, {"where": f"ray ({self.address})", "retried": retried}

    def shutdown(self) -> None:
        """Leave the cluster (and stop the local Ray, unless a Ray Serve deployment of this
        process still runs on it)."""
        release_ray(self._ray, "cluster")
        _STATE["started"] = False

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "started_here": self.started_here}

    def __repr__(self) -> str:
        return f"Cluster at {self.address} ({self._how()})"

    def _how(self) -> str:
        return ("a local Ray started here, stopped when this process ends" if self.started_here
                else "an existing Ray, joined")

    def _repr_html_(self) -> str:
        return html_table(("cluster", self.address), [("Ray", self._how())])


def connect(address: str | None = None, *, num_cpus: int | None = None) -> Cluster:
    """Connect to Ray: ``None`` starts a local Ray on this machine (no dashboard, loopback,
    ``num_cpus`` workers, default the CPU count; stopped at exit), ``"auto"`` joins the
    cluster this machine belongs to, ``"ray://host:10001"`` a remote one. Calling it again
    returns the same connection.

    Raises:
        ClusterError: Ray could not start or reach the cluster.
        MissingDependencyError: Ray is not installed (``pip install onnxkit[cluster]``).
    """
    if address is None:
        loopback_ray()
    ray = require("ray", purpose="onnxkit.cluster")
    if num_cpus is not None and (not isinstance(num_cpus, int) or num_cpus < 1):
        raise ParameterError(f"connect(num_cpus=...) must be a positive integer; got "
                             f"{num_cpus!r}.")
    if init_ray(ray, address, where="cluster.connect", num_cpus=num_cpus, user="cluster"):
        _STATE["started"] = True
        atexit.register(_shutdown)
    context = ray.get_runtime_context()
    where = address or f"local ({context.gcs_address})"
    return Cluster(where, bool(_STATE["started"]), ray)


def _shutdown() -> None:
    import ray

    if _STATE["started"] and ray.is_initialized():
        ray.shutdown()
