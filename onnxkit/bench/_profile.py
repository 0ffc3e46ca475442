"""``profile`` and ``placement``: ORT's own profiler, read into time per node and provider."""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from onnxkit.base import Params
from onnxkit.models import Model, ModelLike, load
from onnxkit.results import Result, html_table
from onnxkit.runtime import (
    Feeds,
    OptLevel,
    Providers,
    create_session,
    prepare_feeds,
    resolve,
    run_session,
)

if TYPE_CHECKING:
    import plotly.graph_objects as go

_KERNEL_SUFFIX = "_kernel_time"


@dataclass(frozen=True)
class NodeTime(Result):
    """One executed node (after ORT's graph optimizations): mean time per run and its share."""

    name: str
    op_type: str
    provider: str
    mean_ms: float
    share: float


@dataclass(frozen=True)
class OpProfile(Result):
    """Result of :func:`profile`: where the time of one run goes, by node and by op type."""

    model: str
    providers: tuple[str, ...]
    runs: int
    nodes: tuple[NodeTime, ...]  # slowest first

    @property
    def total_ms(self) -> float:
        """Kernel time of one run (the sum over nodes; excludes ORT's own overhead)."""
        return sum(n.mean_ms for n in self.nodes)

    @property
    def by_op(self) -> dict[str, dict[str, float]]:
        """``{op_type: {"mean_ms", "share", "count"}}``, slowest first."""
        acc: dict[str, dict[str, float]] = defaultdict(lambda: {"mean_ms": 0.0, "share": 0.0,
                                                                "count": 0})
        for n in self.nodes:
            acc[n.op_type]["mean_ms"] += n.mean_ms
            acc[n.op_type]["share"] += n.share
            acc[n.op_type]["count"] += 1
        return dict(sorted(acc.items(), key=lambda kv: -kv[1]["mean_ms"]))

    @property
    def by_provider(self) -> dict[str, float]:
        acc: dict[str, float] = defaultdict(float)
        for n in self.nodes:
            acc[n.provider] += n.mean_ms
        return dict(sorted(acc.items(), key=lambda kv: -kv[1]))

    def top(self, n: int = 10) -> tuple[NodeTime, ...]:
        return self.nodes[:n]

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "total_ms": self.total_ms, "by_op": self.by_op}

    def _rows(self) -> list[dict[str, Any]]:
        return [n.to_dict() for n in self.nodes]

    def __repr__(self) -> str:
        lines = [f"OpProfile '{self.model}' ({self.runs} runs, {self.total_ms:.3f} ms of kernels "
                 f"per run, {len(self.nodes)} nodes)"]
        lines += [f"  {op:<24} {v['mean_ms']:9.3f} ms {v['share']:6.1%}  x{int(v['count'])}"
                  for op, v in list(self.by_op.items())[:10]]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        ops = html_table(("op type", "ms / run", "share", "nodes"), (
            (op, f"{v['mean_ms']:.3f}", f"{v['share']:.1%}", int(v["count"]))
            for op, v in self.by_op.items()), caption=f"{self.model}: time by op type")
        nodes = html_table(("node", "op", "provider", "ms / run", "share"), (
            (n.name, n.op_type, n.provider, f"{n.mean_ms:.3f}", f"{n.share:.1%}")
            for n in self.top(15)), caption="slowest nodes")
        return f"<div style='display:flex;gap:24px;flex-wrap:wrap'>{ops}{nodes}</div>"

    def plot(self) -> go.Figure:
        """Share of kernel time by op type."""
        import plotly.graph_objects as go

        ops = self.by_op
        fig = go.Figure(go.Bar(x=[v["mean_ms"] for v in ops.values()], y=list(ops),
                               orientation="h",
                               text=[f"{v['share']:.1%}" for v in ops.values()]))
        fig.update_layout(title=f"{self.model}: kernel time per run by op type",
                          xaxis_title="ms per run", yaxis={"autorange": "reversed"},
                          height=max(250, 22 * len(ops) + 100))
        return fig


def profile(model: ModelLike, feeds: Feeds | None = None, *, providers: Providers = None,
            threads: int | None = None, opt_level: OptLevel | None = None, runs: int = 10,
            warmup: int = 2) -> OpProfile:
    """Profile ``runs`` runs (after ``warmup``) with ORT's profiler.

    Examples:
        >>> import onnxkit
        >>> p = onnxkit.profile(onnxkit.samples.tiny_model(), runs=3)
        >>> sorted(p.by_op)  # ORT fused the first Gemm with its Relu
        ['FusedGemm', 'Gemm']
    """
    arg = Params("profile")
    arg.integer(runs, "runs", high=10_000)
    arg.integer(warmup, "warmup", low=0, high=10_000)
    handle = load(model)
    events, used = _profiled_runs(handle, feeds, providers, threads, opt_level, warmup + runs)
    per_run = _node_events_by_run(events)[warmup:]
    totals: dict[str, float] = defaultdict(float)
    meta: dict[str, tuple[str, str]] = {}
    for run_events in per_run:
        for e in run_events:
            name = e["name"][: -len(_KERNEL_SUFFIX)]
            totals[name] += e["dur"] / 1e3
            meta[name] = (e["args"].get("op_name", "?"), e["args"].get("provider", "?"))
    grand = sum(totals.values()) or 1.0
    nodes = tuple(sorted(
        (NodeTime(n, *meta[n], t / len(per_run), t / grand) for n, t in totals.items()),
        key=lambda n: -n.mean_ms))
    return OpProfile(handle.name, used, len(per_run), nodes)


def _profiled_runs(handle: Model, feeds: Feeds | None, providers: Providers,
                   threads: int | None, opt_level: OptLevel | None, n: int
                   ) -> tuple[list[dict[str, Any]], tuple[str, ...]]:
    arrays = prepare_feeds(handle, feeds)
    resolved, _ = resolve(providers)
    with tempfile.TemporaryDirectory(prefix="onnxkit-profile-") as tmp:
        sess = create_session(handle, resolved, threads=threads, opt_level=opt_level,
                              profile_prefix=os.path.join(tmp, "ort"), where="profile")
        for _ in range(n):
            run_session(sess, arrays, handle.name)
        with open(sess.end_profiling()) as f:
            events = json.load(f)
    return events, tuple(sess.get_providers())


def _node_events_by_run(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Group kernel events by the ``model_run`` window they fall in."""
    runs = sorted((e["ts"], e["ts"] + e["dur"]) for e in events
                  if e.get("cat") == "Session" and e.get("name") == "model_run")
    grouped: list[list[dict[str, Any]]] = [[] for _ in runs]
    for e in events:
        if e.get("cat") != "Node" or not e.get("name", "").endswith(_KERNEL_SUFFIX):
            continue
        for i, (start, end) in enumerate(runs):
            if start <= e["ts"] <= end:
                grouped[i].append(e)
                break
    return grouped


@dataclass(frozen=True)
class NodePlacement(Result):
    """Result of :func:`placement`: which provider runs each executed node."""

    model: str
    requested: tuple[str, ...]
    nodes: tuple[tuple[str, str, str], ...]  # (node name, op type, provider), in run order
    graph_node_count: int  # nodes in the file, before ORT fused or folded any

    @property
    def counts(self) -> dict[str, int]:
        return dict(Counter(p for _, _, p in self.nodes).most_common())

    @property
    def fallbacks(self) -> tuple[tuple[str, str, str], ...]:
        """Nodes not on the first requested provider (e.g. ops the GPU provider lacks)."""
        first = self.requested[0] if self.requested else "CPUExecutionProvider"
        return tuple(n for n in self.nodes if n[2] != first)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "requested": list(self.requested), "counts": self.counts,
                "graph_node_count": self.graph_node_count,
                "nodes": [dict(zip(("name", "op_type", "provider"), n)) for n in self.nodes],
                "fallbacks": [n[0] for n in self.fallbacks]}

    def _rows(self) -> list[dict[str, Any]]:
        return self.to_dict()["nodes"]

    def __repr__(self) -> str:
        counts = ", ".join(f"{p}: {c}" for p, c in self.counts.items())
        return (f"NodePlacement '{self.model}': {len(self.nodes)} executed nodes (from "
                f"{self.graph_node_count} in the file) -> {counts}; "
                f"{len(self.fallbacks)} not on {self.requested[0]}")

    def _repr_html_(self) -> str:
        counts = html_table(("provider", "nodes"), self.counts.items(),
                               caption=f"{self.model}: placement ({self.graph_node_count} nodes "
                                       f"in the file, {len(self.nodes)} executed)")
        first = self.requested[0]
        nodes = html_table(("node", "op", "provider"), self.nodes, caption="nodes",
                              bad=(p != first for _, _, p in self.nodes))
        return counts + nodes

    def plot(self) -> go.Figure:
        """Executed nodes per provider, split by op type."""
        import plotly.graph_objects as go

        by: dict[str, Counter[str]] = defaultdict(Counter)
        for _, op, provider in self.nodes:
            by[provider][op] += 1
        ops = sorted({op for _, op, _ in self.nodes})
        fig = go.Figure([go.Bar(name=p, x=ops, y=[by[p][o] for o in ops]) for p in by])
        fig.update_layout(barmode="stack", title=f"{self.model}: nodes per provider",
                          yaxis_title="nodes")
        return fig


def placement(model: ModelLike, feeds: Feeds | None = None, *, providers: Providers = None,
              opt_level: OptLevel | None = None) -> NodePlacement:
    """Which provider runs each node, read from one profiled run of the optimized graph.

    Examples:
        >>> import onnxkit
        >>> list(onnxkit.placement(onnxkit.samples.tiny_model()).counts)
        ['CPUExecutionProvider']
    """
    handle = load(model)
    events, used = _profiled_runs(handle, feeds, providers, None, opt_level, 1)
    run_events = _node_events_by_run(events)[0]
    nodes = tuple((e["name"][: -len(_KERNEL_SUFFIX)], e["args"].get("op_name", "?"),
                   e["args"].get("provider", "?")) for e in run_events)
    return NodePlacement(handle.name, used, nodes, len(handle.proto.graph.node))
