"""Structural checks on a graph, in plain words: the mistakes the onnx checker words cryptically."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import onnx

from onnxkit.results import Result

# Domains that onnx or the stock onnxruntime build implement; anything else is a custom op.
KNOWN_DOMAINS = {"", "ai.onnx", "ai.onnx.ml", "ai.onnx.preview.training", "ai.onnx.training",
                 "com.microsoft", "com.microsoft.nchwc", "com.ms.internal.nhwc",
                 "com.microsoft.experimental", "org.pytorch.aten", "pkg.onnxscript.torch_lib"}


@dataclass(frozen=True)
class Problem(Result):
    """One finding of :func:`onnxkit.check`: where, what, and what to do."""

    stage: str
    message: str
    hint: str = ""
    severity: str = "error"  # "error" or "warning"

    def __str__(self) -> str:
        hint = f" {self.hint}" if self.hint else ""
        return f"[{self.stage}] {self.severity}: {self.message}{hint}"


def structural_problems(proto: onnx.ModelProto) -> list[Problem]:
    """IR/opset versions, op domains, SSA names, undefined values, cycles and order."""
    problems = _version_problems(proto) + _domain_problems(proto)
    problems += _graph_problems(proto.graph, outer=set())
    return problems


def _version_problems(proto: onnx.ModelProto) -> list[Problem]:
    out = []
    if proto.ir_version > onnx.IR_VERSION:
        out.append(Problem("structure", f"IR version {proto.ir_version} is newer than the "
                           f"installed onnx understands (up to {onnx.IR_VERSION}).",
                           "Upgrade onnx and onnxruntime, or re-export with an older IR version."))
    newest = onnx.defs.onnx_opset_version()
    for imp in proto.opset_import:
        if imp.domain in ("", "ai.onnx") and imp.version > newest:
            out.append(Problem("structure", f"the model uses opset {imp.version} of ai.onnx, "
                               f"newer than the installed onnx knows (up to {newest}).",
                               f"Re-export with opset <= {newest}, or upgrade onnx and "
                               "onnxruntime."))
    return out


def _domain_problems(proto: onnx.ModelProto) -> list[Problem]:
    imported = {(i.domain or "") for i in proto.opset_import}
    local = {f.domain for f in proto.functions}
    used: dict[str, list[str]] = {}
    for node in _all_nodes(proto.graph):
        used.setdefault("" if node.domain == "ai.onnx" else node.domain, []).append(node.op_type)
    out = []
    for domain, ops in sorted(used.items()):
        names = ", ".join(sorted(set(ops))[:5])
        if domain not in imported and not (domain == "" and "ai.onnx" in imported):
            out.append(Problem("structure", f"nodes use op domain '{domain}' ({names}), but the "
                               "model has no opset import for it.",
                               "Add an opset import for that domain, or fix the nodes' domain."))
        elif domain not in KNOWN_DOMAINS and domain not in local:
            out.append(Problem("structure", f"custom op domain '{domain}' ({names}).",
                               "ONNX Runtime can only run these with the custom-op library "
                               "registered (SessionOptions.register_custom_ops_library).",
                               severity="warning"))
    return out


def _all_nodes(graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    nodes = []
    for node in graph.node:
        nodes.append(node)
        for attr in node.attribute:
            for g in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                nodes.extend(_all_nodes(g))
    return nodes


def _graph_problems(graph: onnx.GraphProto, outer: set[str]) -> list[Problem]:
    out = []
    available = set(outer) | {v.name for v in graph.input} | {t.name for t in graph.initializer}
    available |= {s.values.name for s in graph.sparse_initializer}
    produced_by: dict[str, str] = {}
    for i, node in enumerate(graph.node):
        label = node.name or f"#{i} ({node.op_type})"
        for name in filter(None, node.output):
            if name in produced_by or name in available - set(outer):
                first = produced_by.get(name, "a graph input or initializer")
                out.append(Problem("structure", f"value '{name}' is produced twice: by "
                                   f"{first} and by node {label}.",
                                   "Every value name must be unique (SSA form); rename one."))
            produced_by.setdefault(name, f"node {label}")
    for name, n in Counter(o.name for o in graph.output).items():
        if n > 1:
            out.append(Problem("structure", f"graph output '{name}' is listed {n} times.",
                               "List each output once."))
    if not graph.output:
        out.append(Problem("structure", f"graph '{graph.name}' has no outputs.",
                           "Mark the tensors you need as graph outputs."))
    out += _order_problems(graph, available, set(produced_by))
    for node in graph.node:  # subgraphs see every name of their enclosing graph
        for attr in node.attribute:
            for g in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                out += _graph_problems(g, available | set(produced_by))
    return out


def _order_problems(graph: onnx.GraphProto, available: set[str], produced: set[str]
                    ) -> list[Problem]:
    out = []
    known = available | produced
    for i, node in enumerate(graph.node):
        for name in filter(None, node.input):
            if name not in known:
                out.append(Problem("structure", f"node {node.name or f'#{i}'} ({node.op_type}) "
                                   f"reads '{name}', which no node, input or initializer provides.",
                                   "Connect it to an existing value or add the missing input."))
    for name in (o.name for o in graph.output):
        if name not in known:
            out.append(Problem("structure", f"graph output '{name}' is never computed.",
                               "Remove it from the outputs or produce it with a node."))
    if out:
        return out
    ready = set(available)
    for node in graph.node:  # the common case: already sorted, one pass
        if not all(x in ready for x in node.input if x):
            break
        ready.update(node.output)
    else:
        return []
    stuck = _unschedulable(graph, available)
    if stuck:
        names = ", ".join(n.name or n.op_type for n in stuck[:6])
        more = f" and {len(stuck) - 6} more" if len(stuck) > 6 else ""
        return [Problem("structure", f"the graph has a cycle through nodes {names}{more}.",
                        "ONNX graphs must be acyclic; loops belong in a Loop or Scan op.")]
    return [Problem("structure", "nodes are not listed in topological order.",
                    "onnx's checker rejects this; onnxruntime sorts the graph itself. Save it "
                    "sorted for other tools.", severity="warning")]


def _unschedulable(graph: onnx.GraphProto, available: set[str]) -> list[onnx.NodeProto]:
    """Kahn's algorithm: the nodes that can never run are the ones on (or behind) a cycle."""
    waiting = [{x for x in n.input if x and x not in available} for n in graph.node]
    consumers: dict[str, list[int]] = {}
    for i, missing in enumerate(waiting):
        for name in missing:
            consumers.setdefault(name, []).append(i)
    queue = [i for i, missing in enumerate(waiting) if not missing]
    done = set(queue)
    while queue:
        for name in graph.node[queue.pop()].output:
            for j in consumers.pop(name, []):
                waiting[j].discard(name)
                if not waiting[j] and j not in done:
                    done.add(j)
                    queue.append(j)
    return [n for i, n in enumerate(graph.node) if i not in done]
