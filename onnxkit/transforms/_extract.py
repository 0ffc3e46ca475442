"""``extract``: the runnable subgraph between given tensors, e.g. a CNN's backbone."""

from __future__ import annotations

import difflib
import hashlib
import json
import warnings
from collections.abc import Iterable, Sequence

import onnx

from onnxkit.errors import OnnxkitError, ParameterError, UnsupportedModelError
from onnxkit.models import Model, ModelLike, load, workspace
from onnxkit.runtime import random_inputs, run
from onnxkit.transforms._derive import VerificationWarning, derive, with_weights

_LISTED = 20  # tensor names shown when a name is not found


def extract(model: ModelLike, inputs: Sequence[str], outputs: Sequence[str]) -> Model:
    """The part of ``model`` that computes ``outputs`` from ``inputs``, as a model of its own.

    Uses ``onnx.utils.Extractor`` on the shape-inferred model, so the new inputs and outputs
    have types and shapes. The cut must be clean: every tensor the kept nodes read is one of
    ``inputs``, a weight, or computed by a kept node, and every one of ``inputs`` is read.

    Args:
        model: anything :func:`onnxkit.load` accepts.
        inputs: names of the tensors that become the inputs (graph inputs or intermediates).
        outputs: names of the tensors that become the outputs.

    Returns:
        ``<name>.extract-<digest>.onnx`` in the workspace. Its lineage records the names and
        a run on random inputs (the shapes fed and produced); a failed run is recorded and
        warned about (random values may not suit every subgraph, e.g. one fed shape tensors).

    Raises:
        ParameterError: a name is not a tensor of the model, or the cut leaves a tensor
            unconnected (an input that does not lead to the outputs, or outputs that need a
            tensor not among the inputs).
        UnsupportedModelError: shape inference cannot type one of the names.

    Examples:
        >>> import onnxkit
        >>> hidden = onnxkit.extract(onnxkit.samples.tiny_model(), ["x"], ["a"])
        >>> [str(t) for t in onnxkit.summarize(hidden).outputs]
        ['a: float32[batch, 8]']
        >>> hidden.lineage[-1].details["check"]["outputs"]
        {'a': [1, 8]}
    """
    parent = load(model)
    ins, outs = _names("inputs", inputs), _names("outputs", outputs)
    proto = _inferred(parent)
    _check_names(proto.graph, ins, outs)
    sub = onnx.utils.Extractor(proto).extract_model(ins, outs)
    _check_cut(sub.graph, proto.graph, ins, outs)
    digest = hashlib.sha1(json.dumps([ins, outs]).encode()).hexdigest()[:8]
    child = derive(parent, with_weights(parent, sub), op="extract", tag=f"extract-{digest}",
                   params={"inputs": ins, "outputs": outs},
                   details={"nodes": [len(sub.graph.node), len(proto.graph.node)]})
    return _smoke_run(child)


def _inferred(parent: Model) -> onnx.ModelProto:
    """The model with intermediate types: Extractor copies the cut points' value_info, and
    (unlike ``onnx.utils.extract_model``) does not infer it."""
    try:
        return onnx.shape_inference.infer_shapes(parent.to_proto(with_weights=False),
                                                 data_prop=True)
    except Exception as e:  # onnx raises InferenceError, ValidationError or RuntimeError
        raise UnsupportedModelError(
            f"extract: onnx shape inference fails on '{parent.name}', and the new inputs and "
            f"outputs need its types: {e}. Run onnxkit.check(model) to find the node at "
            "fault.") from e


def _names(param: str, names: Sequence[str]) -> list[str]:
    names = [names] if isinstance(names, str) else names  # one name is forgiven
    if not isinstance(names, Sequence) or not names or not all(
            isinstance(n, str) and n for n in names):
        raise ParameterError(f"extract({param}=...) must be a non-empty list of tensor names; "
                             f"got {names!r}.")
    names = list(names)
    if len(set(names)) != len(names):
        raise ParameterError(f"extract({param}=...) lists a name twice: {names}. List each "
                             "once.")
    return names


def _check_names(graph: onnx.GraphProto, ins: list[str], outs: list[str]) -> None:
    weights = {t.name for t in graph.initializer}
    tensors = [i.name for i in graph.input if i.name not in weights]
    tensors += [n for node in graph.node for n in node.output if n]
    typed = {v.name for v in list(graph.input) + list(graph.output) + list(graph.value_info)}
    for param, names in (("inputs", ins), ("outputs", outs)):
        for name in names:
            if name in weights:
                raise ParameterError(f"extract({param}=...): '{name}' is a weight "
                                     "(initializer), not a computed tensor; weights stay inside "
                                     "the extracted model. Drop it from the list.")
            if name not in tensors:
                raise ParameterError(_not_found(param, name, tensors))
            if name not in typed:
                raise UnsupportedModelError(
                    f"extract({param}=...): onnx shape inference finds no type for '{name}' "
                    f"({_producer(graph, name)}), so it cannot become a graph "
                    f"{param[:-1]}. Run onnxkit's infer_shapes(model) first and extract from its "
                    "result, or choose a neighbouring tensor.")


def _not_found(param: str, name: str, tensors: list[str]) -> str:
    close = difflib.get_close_matches(name, tensors, n=5, cutoff=0.5)
    hint = f" Close matches: {close}." if close else ""
    listed = ", ".join(tensors[:_LISTED]) + (f" ... ({len(tensors)} in all)"
                                              if len(tensors) > _LISTED else "")
    return (f"extract({param}=...): the model has no tensor named '{name}'.{hint} Tensors: "
            f"{listed}. onnxkit.view(model) shows every name.")


def _producer(graph: onnx.GraphProto, name: str) -> str:
    op = next((n.op_type for n in graph.node if name in n.output), None)
    return f"made by a {op} node" if op else "a graph input"


def _check_cut(sub: onnx.GraphProto, full: onnx.GraphProto, ins: list[str], outs: list[str]
               ) -> None:
    if not sub.node:
        raise ParameterError(f"extract: the outputs {outs} are all among the inputs, so there "
                             "is nothing to extract. Choose outputs computed from the inputs.")
    reads = set().union(*(_reads(n) for n in sub.node))
    available = set(ins) | {t.name for t in sub.initializer} | _produced(sub.node)
    weights = {t.name: t for t in full.initializer}
    for name in sorted(reads - available):
        if name in weights:  # read only inside an If/Loop body: Extractor does not look there
            sub.initializer.append(weights[name])
            continue
        raise ParameterError(
            f"extract(inputs={ins}): the outputs also need tensor '{name}' "
            f"({_producer(full, name)}), which is not among the inputs. Add '{name}' to "
            "inputs, or choose outputs that do not depend on it.")
    for name in ins:
        if name not in reads and name not in outs:
            raise ParameterError(
                f"extract(inputs=...): input '{name}' does not lead to the outputs {outs}: no "
                "kept node reads it (the outputs do not depend on it, or only through another "
                "of the inputs). Drop it from inputs.")


def _reads(node: onnx.NodeProto) -> set[str]:
    """Names a node reads, including those its subgraphs take from the enclosing graph."""
    names = {n for n in node.input if n}
    for attr in node.attribute:
        for g in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
            names |= _outer_reads(g)
    return names


def _outer_reads(graph: onnx.GraphProto) -> set[str]:
    defined = {i.name for i in graph.input} | {t.name for t in graph.initializer}
    defined |= _produced(graph.node)
    return set().union(*(_reads(n) for n in graph.node)) - defined


def _produced(nodes: Iterable[onnx.NodeProto]) -> set[str]:
    return {o for n in nodes for o in n.output if o}


def _smoke_run(child: Model) -> Model:
    """Run the extracted model on random inputs and record what went in and came out."""

    try:
        feeds = random_inputs(child)
        results = run(child, feeds)
    except OnnxkitError as e:
        warnings.warn(f"extract: '{child.name}' did not run on random inputs: {e} Feed it "
                      "real values to check it; see its lineage.", VerificationWarning,
                      stacklevel=3)
        return workspace().annotate(child, check={"ran": False, "reason": str(e)})
    return workspace().annotate(child, check={
        "ran": True, "feeds": {k: list(v.shape) for k, v in feeds.items()},
        "outputs": {k: list(v.shape) for k, v in results.items()}})
