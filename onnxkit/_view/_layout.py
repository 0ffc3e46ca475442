"""The graph of a model laid out in rows by topological depth, collapsed when it is too big.

Pure Python over the proto: vertices (graph inputs, operators, graph outputs) with a plain-text
description (shapes, attributes), edges between them, a row (depth) and a column for each.
When there are more operators than fit, they are merged into groups, trying in turn (and
keeping the first that fits): hiding Constant nodes, merging straight chains, grouping by the
exporter's name scopes (``/layers.0/attn/MatMul`` -> ``layers.0/attn``), and finally grouping
each op type within bands of consecutive rows.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import onnx

from onnxkit.base import elem_type_name, tensor_info
from onnxkit.inspect import op_key, subgraphs

SMALL_TENSOR = 64  # initializers up to this many elements keep their values for inference
_LISTED = 8  # inputs/outputs listed in a description
_ATTR_CHARS = 80


@dataclass
class Vertex:
    kind: str  # "input", "op" or "output"
    op: str  # op type ("Conv", "ai.onnx.ml.Scaler"), or the kind for inputs and outputs
    name: str
    detail: str  # plain text, first line a title


@dataclass(frozen=True)
class Box:
    """What is drawn: one vertex, or a group of operators standing for ``size`` of them."""

    kind: str  # "input", "op", "group" or "output"
    op: str  # op type (a group's most common one)
    label: str
    detail: str
    size: int
    row: int
    x: float


@dataclass(frozen=True)
class Layout:
    boxes: tuple[Box, ...]
    edges: tuple[tuple[int, int], ...]
    operators: int  # operators in the graph (subgraph bodies not counted)
    collapsed: str | None  # how operators were merged, or None when each has its own box
    shapes: str  # where the shapes in the descriptions come from


# --- the graph -------------------------------------------------------------------------------

def extract(proto: onnx.ModelProto) -> tuple[list[Vertex], list[tuple[int, int]], str]:
    """Vertices, edges (producer -> consumer) and where the shapes came from."""
    graph = proto.graph
    types, shapes = value_types(proto)
    weights = {t.name for t in graph.initializer}
    weights |= {s.values.name for s in graph.sparse_initializer}
    vertices: list[Vertex] = []
    producer: dict[str, int] = {}
    edges: set[tuple[int, int]] = set()
    for value in graph.input:
        if value.name not in weights:
            producer[value.name] = len(vertices)
            vertices.append(Vertex("input", "input", value.name,
                                   f"graph input\n{value.name}: {types.get(value.name, '?')}"))
    first_op = len(vertices)
    for index, node in enumerate(graph.node, start=first_op):  # producers first: the file's
        producer.update((name, index) for name in node.output if name)  # order may be off
    for index, node in enumerate(graph.node, start=first_op):
        vertices.append(Vertex("op", op_key(node), node.name, describe(node, types, weights)))
        edges.update((producer[name], index) for name in (*node.input, *_outer_reads(node))
                     if name in producer)
    for value in graph.output:
        index = len(vertices)
        vertices.append(Vertex("output", "output", value.name,
                               f"graph output\n{value.name}: {types.get(value.name, '?')}"))
        if value.name in producer:
            edges.add((producer[value.name], index))
    return vertices, sorted(edges), shapes


def _outer_reads(node: onnx.NodeProto) -> set[str]:
    """Values a node's subgraphs read from the enclosing graph (an If branch using ``x``)."""
    reads: set[str] = set()
    for g in subgraphs(node):
        local = {v.name for v in g.input} | {t.name for t in g.initializer}
        for inner in g.node:
            reads |= ({n for n in inner.input if n} | _outer_reads(inner)) - local
            local |= set(inner.output)
    return reads


def value_types(proto: onnx.ModelProto) -> tuple[dict[str, str], str]:
    """``name -> 'float32[batch, 16]'`` for every value shape inference can type."""
    try:
        inferred = onnx.shape_inference.infer_shapes(_light_copy(proto), data_prop=True)
        shapes = "inferred"
    except Exception as e:  # inference raises many kinds of error on unusual models
        inferred, shapes = proto, f"declared only (shape inference failed: {str(e)[:120]})"
    g = inferred.graph
    types = {v.name: _type_text(v) for v in (*g.input, *g.value_info, *g.output)}
    for t in proto.graph.initializer:
        types[t.name] = f"{elem_type_name(t.data_type)}{list(t.dims)}"
    return types, shapes


def _light_copy(proto: onnx.ModelProto) -> onnx.ModelProto:
    """The model with large initializers reduced to name, type and dims (no weights copied)."""
    light = onnx.ModelProto(ir_version=proto.ir_version)
    light.opset_import.extend(proto.opset_import)
    light.functions.extend(proto.functions)
    g, src = light.graph, proto.graph
    g.name = src.name
    for field in ("node", "input", "output", "value_info", "sparse_initializer"):
        getattr(g, field).extend(getattr(src, field))
    for t in src.initializer:
        small = math.prod(t.dims) <= SMALL_TENSOR and t.data_location != onnx.TensorProto.EXTERNAL
        g.initializer.append(t if small else onnx.TensorProto(
            name=t.name, data_type=t.data_type, dims=t.dims))
    return light


def _type_text(value: onnx.ValueInfoProto) -> str:
    info = tensor_info(value)
    shape = "[...]" if info.shape is None else "[" + ", ".join(map(str, info.shape)) + "]"
    return f"{info.dtype}{shape}"


def describe(node: onnx.NodeProto, types: dict[str, str], weights: set[str]) -> str:
    """A node as plain text: op and name, inputs and outputs with types, attributes."""
    lines = [f"{op_key(node)}  {node.name}".rstrip(), "inputs:"]
    lines += _listed([f"  {n}: {types.get(n, '?')}" + ("  (weight)" if n in weights else "")
                      for n in node.input if n])
    lines.append("outputs:")
    lines += _listed([f"  {n}: {types.get(n, '?')}" for n in node.output if n])
    if node.attribute:
        lines.append("attributes:")
        lines += [f"  {a.name} = {attribute_text(a)}" for a in node.attribute]
    return "\n".join(lines)


def _listed(lines: list[str]) -> list[str]:
    if len(lines) <= _LISTED:
        return lines
    return [*lines[:_LISTED], f"  … and {len(lines) - _LISTED} more"]


def attribute_text(attr: onnx.AttributeProto) -> str:
    """A short readable value: lists and tensors summarized, subgraphs counted."""
    kind = onnx.AttributeProto
    if attr.type == kind.TENSOR:
        t = attr.t
        return f"tensor {elem_type_name(t.data_type)}{list(t.dims)}" + (
            f" {_short(onnx.numpy_helper.to_array(t).tolist())}"
            if math.prod(t.dims) <= _LISTED and t.data_location != onnx.TensorProto.EXTERNAL
            else "")
    if attr.type == kind.GRAPH:
        return f"subgraph, {len(attr.g.node)} nodes (not drawn)"
    if attr.type == kind.GRAPHS:
        return f"{len(attr.graphs)} subgraphs (not drawn)"
    value = onnx.helper.get_attribute_value(attr)
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    elif isinstance(value, list):
        value = [v.decode("utf-8", errors="replace") if isinstance(v, bytes) else v
                 for v in value]
    return _short(value)


def _short(value: object) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= _ATTR_CHARS else text[:_ATTR_CHARS - 1] + "…"


# --- depth -----------------------------------------------------------------------------------

def depths(count: int, edges: Sequence[tuple[int, int]], movable: Sequence[bool]) -> list[int]:
    """Longest-path depth of each vertex; a ``movable`` one with no inputs (a Constant) sits
    just above its first reader instead of at the top."""
    succ, pred = _adjacency(count, edges)
    indegree = [len(p) for p in pred]
    depth = [0] * count
    ready = [v for v in range(count) if indegree[v] == 0]
    seen = 0
    while ready:
        v = ready.pop()
        seen += 1
        for w in succ[v]:
            depth[w] = max(depth[w], depth[v] + 1)
            indegree[w] -= 1
            if indegree[w] == 0:
                ready.append(w)
    if seen < count:  # a cycle (an invalid model): put what is left below everything
        bottom = max(depth, default=0) + 1
        depth = [bottom if indegree[v] else d for v, d in enumerate(depth)]
    for v in range(count):
        if movable[v] and not pred[v] and succ[v] and depth[v] == 0:
            depth[v] = max(0, min(depth[w] for w in succ[v]) - 1)
    return depth


def _adjacency(count: int, edges: Sequence[tuple[int, int]]
               ) -> tuple[list[list[int]], list[list[int]]]:
    succ: list[list[int]] = [[] for _ in range(count)]
    pred: list[list[int]] = [[] for _ in range(count)]
    for a, b in edges:
        succ[a].append(b)
        pred[b].append(a)
    return succ, pred


# --- collapsing ------------------------------------------------------------------------------

Grouping = list[int | None]  # vertex -> group id (None: hidden)


def collapse(vertices: list[Vertex], edges: Sequence[tuple[int, int]], depth: list[int],
             max_boxes: int) -> tuple[Grouping, str | None]:
    """Each vertex's group, merging operators until at most ``max_boxes`` remain."""
    single: Grouping = list(range(len(vertices)))
    ops = [v for v, x in enumerate(vertices) if x.kind == "op"]
    if len(ops) <= max_boxes:
        return single, None
    # Constants are weights in disguise (exporters emit many): the first thing to drop.
    hidden: Grouping = [None if x.op == "Constant" else v for v, x in enumerate(vertices)]
    steps = ["Constant nodes hidden"] if None in hidden else []
    tries: list[tuple[list[str], Callable[[], Grouping]]] = [
        ([], lambda: hidden),
        (["chains merged"], lambda: _chains(vertices, edges, hidden)),
        *(([f"grouped by name scope (level {level})"],
           lambda level=level: _scopes(vertices, hidden, level))
          for level in range(_scope_depth(vertices), 0, -1)),
    ]
    for how, make in tries:
        grouping = make()
        if _op_boxes(grouping, vertices) <= max_boxes:
            return grouping, ", ".join(steps + how)
    grouping, how_bands = _bands(vertices, depth, hidden, max_boxes)
    return grouping, ", ".join([*steps, how_bands])


def _op_boxes(grouping: Grouping, vertices: list[Vertex]) -> int:
    return len({g for v, g in enumerate(grouping) if g is not None and vertices[v].kind == "op"})


def _chains(vertices: list[Vertex], edges: Sequence[tuple[int, int]], base: Grouping
            ) -> Grouping:
    """Merge u -> v when u feeds only v and v reads only u (both operators)."""
    live = [(a, b) for a, b in edges if base[a] is not None and base[b] is not None]
    succ, pred = _adjacency(len(vertices), live)
    parent = list(range(len(vertices)))  # union-find: graph order need not be topological

    def root(v: int) -> int:
        while parent[v] != v:
            parent[v] = parent[parent[v]]
            v = parent[v]
        return v

    for v in range(len(vertices)):
        if base[v] is not None and vertices[v].kind == "op" and len(pred[v]) == 1:
            (u,) = pred[v]
            if vertices[u].kind == "op" and len(succ[u]) == 1:
                parent[root(v)] = root(u)
    return [None if g is None else root(v) for v, g in enumerate(base)]


def _scope_parts(name: str) -> list[str]:
    return name.strip("/").split("/")[:-1] if name.startswith("/") else []


def _scope_depth(vertices: list[Vertex]) -> int:
    return max((len(_scope_parts(v.name)) for v in vertices if v.kind == "op"), default=0)


def _scopes(vertices: list[Vertex], base: Grouping, level: int) -> Grouping:
    keys: dict[tuple[str, ...], int] = {}
    group = list(base)
    for v, x in enumerate(vertices):
        parts = _scope_parts(x.name)
        if base[v] is not None and x.kind == "op" and parts:
            group[v] = keys.setdefault(tuple(parts[:level]), v)
    return group


def _bands(vertices: list[Vertex], depth: list[int], base: Grouping, max_boxes: int
           ) -> tuple[Grouping, str]:
    """Group each op type within bands of consecutive rows; the band doubles until it fits."""
    band = 1
    while True:
        keys: dict[tuple[int, str], int] = {}
        group = list(base)
        for v, x in enumerate(vertices):
            if base[v] is not None and x.kind == "op":
                group[v] = keys.setdefault((depth[v] // band, x.op), v)
        if len(keys) <= max_boxes or band > len(vertices):
            return group, f"each op type grouped within bands of {band} rows"
        band *= 2


# --- boxes and positions ---------------------------------------------------------------------

def layout(proto: onnx.ModelProto, max_boxes: int) -> Layout:
    """Extract, collapse and place the graph of ``proto``."""
    vertices, edges, shapes = extract(proto)
    depth = depths(len(vertices), edges, [v.kind == "op" for v in vertices])
    grouping, how = collapse(vertices, edges, depth, max_boxes)
    members: dict[int, list[int]] = defaultdict(list)
    for v, g in enumerate(grouping):
        if g is not None:
            members[g].append(v)
    ids = list(members)  # in order of first member: graph order
    index = {g: i for i, g in enumerate(ids)}
    box_edges = sorted({(index[grouping[a]], index[grouping[b]]) for a, b in edges  # type: ignore[index]
                        if grouping[a] is not None and grouping[b] is not None
                        and grouping[a] != grouping[b]})
    rows = [min(depth[v] for v in members[g]) for g in ids]
    distinct = {d: r for r, d in enumerate(sorted(set(rows)))}  # no empty rows
    rows = [distinct[d] for d in rows]
    xs = _columns(rows, box_edges)
    boxes = tuple(_box(vertices, members[g], rows[i], xs[i], depth) for i, g in enumerate(ids))
    operators = sum(v.kind == "op" for v in vertices)
    return Layout(boxes, tuple(box_edges), operators, how, shapes)


def _columns(rows: list[int], edges: Sequence[tuple[int, int]]) -> list[float]:
    """x of each box: rows centred, each row ordered by its predecessors' mean x."""
    _, pred = _adjacency(len(rows), edges)
    by_row: dict[int, list[int]] = defaultdict(list)
    for b, r in enumerate(rows):
        by_row[r].append(b)
    x = [0.0] * len(rows)
    for r in sorted(by_row):
        row = by_row[r]
        # Barycentre ordering (a box under the mean of its inputs) keeps edges short and
        # uncrossed on most graphs; boxes without inputs keep their order in the graph.
        key = {b: (sum(x[p] for p in pred[b]) / len(pred[b]) if pred[b]
                   else i - (len(row) - 1) / 2, b) for i, b in enumerate(row)}
        for i, b in enumerate(sorted(row, key=key.__getitem__)):
            x[b] = i - (len(row) - 1) / 2
    return x


def _box(vertices: list[Vertex], members: list[int], row: int, x: float, depth: list[int]
         ) -> Box:
    first = vertices[members[0]]
    if len(members) == 1:
        label = first.name if first.kind != "op" else first.op
        return Box(first.kind, first.op, label, first.detail, 1, row, x)
    ops = Counter(vertices[v].op for v in members)
    main = min(ops, key=lambda o: (-ops[o], o))
    mix = ", ".join(f"{o} ×{n}" for o, n in sorted(ops.items(), key=lambda kv: (-kv[1], kv[0])))
    scope = _common_scope([vertices[v].name for v in members])
    lo, hi = min(depth[v] for v in members), max(depth[v] for v in members)
    if scope:
        label = f"{scope} ({len(members)})"
    elif len(ops) == 1:
        label = f"{main} ×{len(members)}"
    else:
        label = f"{main}… ({len(members)})"
    detail = "\n".join([f"{len(members)} operators" + (f" in /{scope}/" if scope else ""),
                        _short(mix), f"depth {lo}–{hi}",
                        f"first: {first.name}", f"last: {vertices[members[-1]].name}"])
    return Box("group", main, label, detail, len(members), row, x)


def _common_scope(names: list[str]) -> str:
    parts = [_scope_parts(n) for n in names]
    common: list[str] = []
    for level in zip(*parts):
        if len(set(level)) != 1:
            break
        common.append(level[0])
    return "/".join(common)
