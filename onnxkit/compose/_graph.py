"""What every composition shares: models brought to one opset and IR version, joined with
``onnx.compose`` under prefixes (the outside names kept), and saved with their lineage."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from onnxkit.base import graph_inputs, graph_outputs
from onnxkit.errors import ParameterError, UnsupportedModelError
from onnxkit.models import Model, Step, workspace

# The opset onnxkit writes its own processing graphs in, at least (Resize's antialias, the
# reductions' axes as inputs); a model with an older one is converted up to it.
OPSET = 18
# onnxruntime-extensions' operators (tokenizers): a session needs its library registered.
CONTRIB = "ai.onnx.contrib"


def opset_of(proto: onnx.ModelProto, domain: str = "") -> int:
    return next((o.version for o in proto.opset_import if o.domain == domain), 0)


def aligned(protos: Sequence[onnx.ModelProto], *, at_least: int = 0, where: str
            ) -> list[onnx.ModelProto]:
    """The models at one default-domain opset (the highest among them, at least
    ``at_least``), one version per other domain and one IR version, as ``onnx.compose``
    needs."""
    target = max([at_least] + [opset_of(p) for p in protos])
    domains: dict[str, int] = {}
    for proto in protos:
        for o in proto.opset_import:
            domains[o.domain] = max(domains.get(o.domain, 0), o.version)
    domains[""] = target
    out = []
    for proto in protos:
        if 0 < opset_of(proto) < target:
            try:
                proto = onnx.version_converter.convert_version(proto, target)
            except Exception as e:  # the converter raises RuntimeError or ValidationError
                raise UnsupportedModelError(
                    f"{where}: onnx's version converter cannot bring '{proto.graph.name}' from "
                    f"opset {opset_of(proto)} to {target}, which the other part needs: {e}. "
                    "Convert it yourself (onnxkit.convert.to_opset) and try again.") from e
        out.append(proto)
    ir = max(p.ir_version for p in out)
    for proto in out:
        proto.ir_version = ir
        del proto.opset_import[:]
        proto.opset_import.extend(helper.make_opsetid(d, v) for d, v in sorted(domains.items()))
        del proto.metadata_props[:]  # differing values would stop merge_models
    return out


def processing_model(nodes: list[onnx.NodeProto], name: str, inputs: list[onnx.ValueInfoProto],
                     outputs: list[onnx.ValueInfoProto],
                     initializers: Iterable[onnx.TensorProto] = (), *, opset: int = OPSET,
                     domains: dict[str, int] | None = None) -> onnx.ModelProto:
    """A small graph of onnxkit's own (pre- or post-processing) as a model."""
    graph = helper.make_graph(nodes, name, inputs, outputs, list(initializers))
    opsets = [helper.make_opsetid("", opset)]
    opsets += [helper.make_opsetid(d, v) for d, v in (domains or {}).items()]
    return helper.make_model(graph, opset_imports=opsets, ir_version=8,
                             producer_name="onnxkit.compose")


def join(first: onnx.ModelProto, second: onnx.ModelProto, io_map: Sequence[tuple[str, str]],
         *, at_least: int = 0, where: str, outputs: Sequence[str] | None = None
         ) -> onnx.ModelProto:
    """``second`` fed by ``first`` through ``io_map`` (``onnx.compose.merge_models``, each
    part under its own prefix so inner names never clash); the joined graph's inputs and
    outputs keep their own names. ``outputs``: which to keep (default: every one left)."""
    first, second = aligned([first, second], at_least=at_least, where=where)
    p1, p2 = "a/", "b/"
    kept = None if outputs is None else [_prefixed(n, first, second, p1, p2) for n in outputs]
    try:
        merged = onnx.compose.merge_models(first, second, io_map=list(io_map), prefix1=p1,
                                           prefix2=p2, outputs=kept,
                                           producer_name="onnxkit.compose")
    except (ValueError, onnx.checker.ValidationError) as e:
        raise UnsupportedModelError(f"{where}: onnx.compose could not join the two graphs: "
                                    f"{e}") from e
    _dedupe_opsets(merged)
    outer = [v.name for v in list(merged.graph.input) + list(merged.graph.output)]
    bare = {n: n[len(p1):] if n.startswith(p1) else n[len(p2):] for n in outer}
    clash = sorted({b for b in bare.values() if list(bare.values()).count(b) > 1})
    if clash:
        raise ParameterError(f"{where}(...): both parts have an input or output named {clash} "
                             "that stays outside the joined model; connect it in io_map or "
                             "rename it in one part first.")
    rename(merged.graph, bare)
    merged.graph.name = f"{first.graph.name}+{second.graph.name}"
    return merged


def _prefixed(name: str, first: onnx.ModelProto, second: onnx.ModelProto, p1: str,
              p2: str) -> str:
    return p2 + name if name in {o.name for o in second.graph.output} else p1 + name


def _dedupe_opsets(proto: onnx.ModelProto) -> None:
    versions = {o.domain: o.version for o in proto.opset_import}
    del proto.opset_import[:]
    proto.opset_import.extend(helper.make_opsetid(d, v) for d, v in sorted(versions.items()))


def rename(graph: onnx.GraphProto, mapping: dict[str, str]) -> None:
    """Rename tensors everywhere in ``graph`` (its subgraphs' reads of them too)."""
    mapping = {k: v for k, v in mapping.items() if k != v}
    if not mapping:
        return
    for value in list(graph.input) + list(graph.output) + list(graph.value_info):
        value.name = mapping.get(value.name, value.name)
    for tensor in graph.initializer:
        tensor.name = mapping.get(tensor.name, tensor.name)
    for node in graph.node:
        node.input[:] = [mapping.get(n, n) for n in node.input]
        node.output[:] = [mapping.get(n, n) for n in node.output]
        for attr in node.attribute:
            for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                rename(sub, mapping)


def check_pairs(first: Model | onnx.ModelProto, second: Model | onnx.ModelProto,
                io_map: Sequence[tuple[str, str]], where: str) -> None:
    """Every pair connects an output of ``first`` to an input of ``second`` of the same
    element type and a compatible shape; else a :class:`ParameterError` saying which."""
    g1 = first.proto.graph if isinstance(first, Model) else first.graph
    g2 = second.proto.graph if isinstance(second, Model) else second.graph
    outs = {t.name: t for t in graph_outputs(g1)}
    ins = {t.name: t for t in graph_inputs(g2)}
    for out, inp in io_map:
        if out not in outs:
            raise ParameterError(f"{where}(io_map=...): the first model has no output '{out}'; "
                                 f"its outputs: {sorted(outs)}.")
        if inp not in ins:
            raise ParameterError(f"{where}(io_map=...): the second model has no input '{inp}'; "
                                 f"its inputs: {sorted(ins)}.")
        a, b = outs[out], ins[inp]
        if a.dtype != b.dtype:
            raise ParameterError(f"{where}(io_map=...): '{out}' is {a.dtype} but '{inp}' takes "
                                 f"{b.dtype}; cast one side first (e.g. with a Cast node).")
        if a.shape is not None and b.shape is not None and not _shapes_meet(a.shape, b.shape):
            raise ParameterError(f"{where}(io_map=...): '{out}' has shape {list(a.shape)} but "
                                 f"'{inp}' takes {list(b.shape)}; fix the dims first "
                                 "(onnxkit.fix_dims / make_dynamic) or reshape between them.")


def _shapes_meet(a: Sequence[Any], b: Sequence[Any]) -> bool:
    return len(a) == len(b) and all(
        not (isinstance(x, int) and isinstance(y, int)) or x == y or x < 0 or y < 0
        for x, y in zip(a, b))


def saved(parent: Model, proto: onnx.ModelProto, *, op: str, tag: str,
          params: dict[str, Any], details: dict[str, Any] | None = None) -> Model:
    """``proto`` as ``<parent>.<tag>.onnx`` in the workspace, one lineage step further."""
    step = Step(op, params, source=str(parent.path), details=details or {})
    return workspace().save(proto, stem=parent.name, tag=tag, step=step, parent=parent)


def with_verification(model: Model, check: dict[str, Any]) -> Model:
    """``model`` with the outcome of its check recorded in its last lineage step."""
    return workspace().annotate(model, verification=check)


class Builder:
    """Nodes and constants with generated names (each part is prefixed when joined)."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []

    def const(self, value: Any) -> str:
        array = np.asarray(value, np.int64) if isinstance(value, list) else np.asarray(value)
        name = f"c{len(self.inits)}"
        self.inits.append(numpy_helper.from_array(array, name))
        return name

    def node(self, op: str, inputs: list[str], *, out: str | None = None, **attrs: Any) -> str:
        out = out or f"{op.lower()}{len(self.nodes)}"
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def resize(self, x: str, sizes: str, antialias: bool) -> str:
        # exclude_outside: the weights renormalized over the pixels inside, as PIL does
        # (without it, onnxruntime's antialiased edges differ by up to ~14 grey levels)
        # Sizes for all four axes: onnxruntime's transpose optimizer mishandles Resize's
        # `axes` when a Transpose follows (the sizes arrive empty).
        batch_channels = self.node("Slice", [self.node("Shape", [x]), self.const([0]),
                                             self.const([2])])
        full = self.node("Concat", [batch_channels, sizes], axis=0)
        return self.node("Resize", [x, "", "", full], mode="linear",
                         antialias=int(antialias), exclude_outside=int(antialias),
                         coordinate_transformation_mode="half_pixel")
