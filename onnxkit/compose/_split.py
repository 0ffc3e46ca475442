"""``split``: one graph cut into stages at named tensors (to run them on different devices or
machines), checked: the stages run one after another equal the whole."""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Sequence

import onnx

from onnxkit.base import graph_inputs, graph_outputs
from onnxkit.bench import compare
from onnxkit.errors import ParameterError
from onnxkit.models import Model, ModelLike, load, workspace
from onnxkit.runtime import random_inputs, run
from onnxkit.transforms import VerificationWarning, extract

RTOL, ATOL = 1e-5, 1e-6
Cut = str | Sequence[str]


def split(model: ModelLike, at: Sequence[Cut], *, feeds: dict | None = None
          ) -> tuple[Model, ...]:
    """``model`` cut at the tensors ``at`` into ``len(at) + 1`` stages (:func:`onnxkit.extract`).

    Args:
        at: the cuts, in order; each a tensor name or a list of names that together carry
            everything the rest needs. A stage also takes the model inputs it reads (a mask,
            say), so those are fed from outside.
        feeds: inputs to check on (default random ones, batch 2).

    Returns:
        The stages, in order: stage ``k`` outputs cut ``k``, the last one the model's
        outputs. Each records in its lineage the check that the stages run in turn equal
        the whole (``compose.chain`` joins them back into one graph).

    Examples:
        >>> import onnxkit
        >>> from onnxkit.compose import split
        >>> first, second = split(onnxkit.samples.tiny_model(), at=["a"])
        >>> [str(t) for t in onnxkit.summarize(second).inputs]
        ['a: float32[batch, 8]']
        >>> second.lineage[-1].details["split"]["passed"]
        True
    """
    whole = load(model)
    cuts = [_names(c) for c in at] if not isinstance(at, str) else [_names(at)]
    if not cuts:
        raise ParameterError("split(at=...) needs at least one cut: a tensor name.")
    graph = whole.proto.graph
    _check_names(graph, [n for c in cuts for n in c])
    ends = [*cuts, [o.name for o in graph_outputs(graph)]]
    stages, given = [], [i.name for i in graph_inputs(graph)]
    for outs in ends:
        ins = [n for n in given if n in _reads(graph, outs, set(given))]
        stages.append(extract(whole, ins, outs))
        given = outs + [i.name for i in graph_inputs(graph)]
    return _checked(whole, stages, feeds)


def cut_points(model: ModelLike, *, limit: int = 1000) -> list[str]:
    """The tensors one cut can split ``model`` at cleanly: the rest of the graph needs that
    tensor alone (no model input again), in graph order. Empty for graphs over ``limit``
    nodes (the search is quadratic).

    Examples:
        >>> import onnxkit
        >>> cut_points(onnxkit.samples.tiny_model())
        ['h', 'a']
    """
    graph = load(model).proto.graph
    if len(graph.node) > limit:
        return []
    inputs = {i.name for i in graph_inputs(graph)}
    outputs = [o.name for o in graph_outputs(graph)]
    found = []
    for name in (o for n in graph.node for o in n.output if o and o not in outputs):
        if _reads(graph, outputs, inputs | {name}) == {name}:
            found.append(name)
    return found


def _names(cut: Cut) -> list[str]:
    names = [cut] if isinstance(cut, str) else list(cut)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ParameterError(f"split(at=...): each cut is a tensor name or a list of them; got "
                             f"{cut!r}.")
    return names


def _check_names(graph: onnx.GraphProto, names: list[str]) -> None:
    made = [o for n in graph.node for o in n.output if o]
    for name in names:
        if name not in made:
            close = difflib.get_close_matches(name, made, n=3, cutoff=0.5)
            hint = f" Close matches: {close}." if close else ""
            raise ParameterError(f"split(at=...): the model has no tensor named '{name}' that a "
                                 f"node computes.{hint} onnxkit.view(model) shows every name.")


def _reads(graph: onnx.GraphProto, outputs: list[str], given: set[str]) -> set[str]:
    """The tensors of ``given`` that computing ``outputs`` reads (walking back from them)."""
    made_by = {o: n for n in graph.node for o in n.output}
    seen, todo, found = set(), list(outputs), set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in given and name not in outputs:
            found.add(name)
            continue
        node = made_by.get(name)
        if node is not None:
            todo.extend(n for n in node.input if n)
            todo.extend(_outer(node))
    return found


def _outer(node: onnx.NodeProto) -> list[str]:
    """Names a node's subgraphs (If/Loop bodies) read from around them."""
    names = []
    for attr in node.attribute:
        for g in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
            names += [i for n in g.node for i in n.input if i]
    return names


def _checked(whole: Model, stages: list[Model], feeds: dict | None) -> tuple[Model, ...]:
    feeds = feeds if feeds is not None else random_inputs(whole, batch=2)
    want = run(whole, feeds)
    pool = dict(feeds)
    for stage in stages:
        pool.update(run(stage, {i.name: pool[i.name] for i in graph_inputs(stage.proto.graph)}))
    result = compare(want, {k: pool[k] for k in want}, rtol=RTOL, atol=ATOL)
    check = {"passed": bool(result), "rtol": RTOL, "atol": ATOL, "stages": len(stages),
             "max_abs": max((o.max_abs or 0.0 for o in result.outputs), default=0.0)}
    if not check["passed"]:
        warnings.warn(f"split: the stages of '{whole.name}' run in turn differ from the whole: "
                      f"{[f'{o.name}: {o.reason}' for o in result.failed]}",
                      VerificationWarning, stacklevel=3)
    return tuple(workspace().annotate(s, split={**check, "stage": k + 1})
                 for k, s in enumerate(stages))
