"""``chain`` (one model feeding another) and ``ensemble`` (several models on the same inputs,
their outputs fused), each checked against running the parts one by one."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import onnx
from onnx import TensorProto, helper

from onnxkit.base import graph_inputs, graph_outputs, one_of
from onnxkit.bench import compare
from onnxkit.compose._graph import (
    Builder,
    aligned,
    check_pairs,
    join,
    processing_model,
    rename,
    saved,
    with_verification,
)
from onnxkit.errors import ParameterError
from onnxkit.models import Model, ModelLike, load
from onnxkit.runtime import random_inputs, run
from onnxkit.transforms import VerificationWarning, with_weights

How = Literal["mean", "vote", "concat"]
HOWS: tuple[How, ...] = ("mean", "vote", "concat")
RTOL, ATOL = 1e-5, 1e-6
IoMap = Mapping[str, str] | Sequence[tuple[str, str]]


def _full(model: Model) -> onnx.ModelProto:
    return with_weights(model, model.to_proto(with_weights=False))


def chain(first: ModelLike, second: ModelLike, io_map: IoMap | None = None, *,
          feeds: dict[str, np.ndarray] | None = None) -> Model:
    """``second`` fed by ``first``: one graph (``onnx.compose.merge_models``, each part under
    its own prefix, opsets and IR versions brought level).

    Args:
        io_map: ``{first's output: second's input}`` (or pairs); default every output of
            ``first`` whose name is an input of ``second``. The outputs of ``first`` not
            connected, and the inputs of ``second`` not fed, stay outside.
        feeds: inputs to verify on (default random ones).

    Raises:
        ParameterError: a name that is not there, or a pair whose element types or fixed
            dims differ.

    Examples:
        >>> import onnxkit
        >>> from onnxkit.compose import chain
        >>> tiny = onnxkit.samples.tiny_model()
        >>> head = onnxkit.extract(tiny, ["a"], ["y"])
        >>> whole = chain(onnxkit.extract(tiny, ["x"], ["a"]), head)
        >>> whole.lineage[-1].details["verification"]["passed"]
        True
    """
    a, b = load(first), load(second)
    pairs = _pairs(a, b, io_map)
    check_pairs(a, b, pairs, "chain")
    proto = join(_full(a), _full(b), pairs, where="chain")
    child = saved(a, proto, op="chain", tag="chain",
                  params={"second": str(b.path), "io_map": dict(pairs)})
    feeds = feeds if feeds is not None else random_inputs(child, batch=2)
    got = run(child, feeds)
    firsts = run(a, {i.name: feeds[i.name] for i in graph_inputs(a.proto.graph)})
    mapped = dict(pairs)
    seconds = run(b, {i.name: firsts[_source(i.name, mapped)] if i.name in mapped.values()
                      else feeds[i.name] for i in graph_inputs(b.proto.graph)})
    want = {**{k: v for k, v in firsts.items() if k not in mapped}, **seconds}
    return _checked(child, want, got, parts=2)


def _source(name: str, mapped: dict[str, str]) -> str:
    return next(k for k, v in mapped.items() if v == name)


def _pairs(a: Model, b: Model, io_map: IoMap | None) -> list[tuple[str, str]]:
    if io_map is None:
        takes = {i.name for i in graph_inputs(b.proto.graph)}
        pairs = [(o.name, o.name) for o in graph_outputs(a.proto.graph) if o.name in takes]
        if not pairs:
            raise ParameterError(f"chain: no output of '{a.name}' has the name of an input of "
                                 f"'{b.name}'; say which feeds which with io_map={{output: "
                                 "input}.")
        return pairs
    pairs = list(io_map.items()) if isinstance(io_map, Mapping) else [tuple(p) for p in io_map]
    if not pairs or any(len(p) != 2 for p in pairs):
        raise ParameterError(f"chain(io_map=...) must map outputs of the first model to inputs "
                             f"of the second ({{output: input}} or pairs); got {io_map!r}.")
    return pairs  # type: ignore[return-value]


def _checked(child: Model, want: dict[str, np.ndarray], got: dict[str, np.ndarray], *,
             parts: int) -> Model:
    result = compare(want, {k: got[k] for k in want}, rtol=RTOL, atol=ATOL)
    check = {"passed": bool(result), "rtol": RTOL, "atol": ATOL, "parts": parts,
             "max_abs": max((o.max_abs or 0.0 for o in result.outputs), default=0.0),
             "failed": [f"{o.name}: {o.reason}" for o in result.failed]}
    if not check["passed"]:
        warnings.warn(f"'{child.name}' differs from its parts run one by one: "
                      f"{check['failed']}", VerificationWarning, stacklevel=3)
    return with_verification(child, check)


# --- ensembles ------------------------------------------------------------------------------

def ensemble(models: Sequence[ModelLike], how: How = "mean", *,
             feeds: dict[str, np.ndarray] | None = None) -> Model:
    """Several models on the same inputs, one graph, their outputs fused.

    Args:
        how: ``"mean"``: every output averaged across the models (their outputs must share
            names and shapes); ``"vote"``: each model's first output read as class scores
            ``[batch, classes]``, its best class one vote: ``votes: float32[batch, classes]``
            and ``class: int64[batch]`` (ties go to the lower class); ``"concat"``: every
            output joined along its last axis.
        feeds: inputs to verify on (default random ones).

    Examples:
        >>> import onnxkit
        >>> from onnxkit.compose import ensemble
        >>> tiny = onnxkit.samples.tiny_model()
        >>> both = ensemble([tiny, onnxkit.to_fp16(tiny, keep_io_types=True)], how="vote")
        >>> [str(o) for o in onnxkit.summarize(both).outputs]
        ['votes: float32[batch, 3]', 'class: int64[batch]']
    """
    one_of(how, HOWS, "ensemble", "how")
    members = [load(m) for m in models]
    if len(members) < 2:
        raise ParameterError(f"ensemble(models=...) needs at least two models; got "
                             f"{len(members)}.")
    inputs = graph_inputs(members[0].proto.graph)
    for m in members[1:]:
        if graph_inputs(m.proto.graph) != inputs:
            raise ParameterError(
                f"ensemble: '{m.name}' takes {[str(i) for i in graph_inputs(m.proto.graph)]} "
                f"but '{members[0].name}' takes {[str(i) for i in inputs]}; the members must "
                "take the same inputs (names, types, shapes).")
    names = _fused_outputs(members, how)
    protos = aligned([_full(m) for m in members] + [_combiner(members, names, how)],
                     where="ensemble")
    graph = _merged(protos, [i.name for i in inputs], names)
    proto = helper.make_model(graph, opset_imports=protos[0].opset_import,
                              ir_version=protos[0].ir_version, producer_name="onnxkit.compose")
    child = saved(members[0], proto, op="ensemble", tag=f"ensemble-{how}",
                  params={"how": how, "models": [str(m.path) for m in members]})
    feeds = feeds if feeds is not None else random_inputs(child, batch=4)
    return _checked(child, _fused([run(m, feeds) for m in members], names, how),
                    run(child, feeds), parts=len(members))


def _fused_outputs(members: list[Model], how: How) -> list[str]:
    outs = [graph_outputs(m.proto.graph) for m in members]
    if how == "vote":
        first = outs[0][0]
        if first.shape is None or len(first.shape) != 2 or not isinstance(first.shape[1], int):
            raise ParameterError(f"ensemble(how='vote'): the first output '{first}' must be "
                                 "class scores [batch, classes] with a fixed class count.")
        return [o[0].name for o in outs]
    shared = [o.name for o in outs[0]]
    for m, o in zip(members[1:], outs[1:]):
        if [x.name for x in o] != shared:
            raise ParameterError(f"ensemble(how='{how}'): '{m.name}' outputs "
                                 f"{[x.name for x in o]} but '{members[0].name}' outputs "
                                 f"{shared}; the members must output the same names.")
    return shared


def _combiner(members: list[Model], names: list[str], how: How) -> onnx.ModelProto:
    """The fusing graph: inputs ``m<i>/<output>``, outputs the fused tensors."""
    b = Builder()
    n = len(members)
    ins, outs = [], []
    if how == "vote":
        classes = graph_outputs(members[0].proto.graph)[0].shape[1]  # type: ignore[index]
        ones = []
        for i, name in enumerate(names):
            ins.append(f"m{i}/{name}")
            best = b.node("ArgMax", [f"m{i}/{name}"], axis=1, keepdims=1)
            ones.append(b.node("Cast", [b.node("Equal", [best, b.const(list(range(classes)))])],
                               to=TensorProto.FLOAT))
        b.node("Sum", ones, out="votes")
        b.node("ArgMax", ["votes"], out="class", axis=1, keepdims=0)
        outs = [helper.make_tensor_value_info("votes", TensorProto.FLOAT, ["batch", classes]),
                helper.make_tensor_value_info("class", TensorProto.INT64, ["batch"])]
    else:
        for name in names:
            parts = [f"m{i}/{name}" for i in range(n)]
            ins += parts
            if how == "mean":
                b.node("Mean", parts, out=name)
            else:
                b.node("Concat", parts, out=name, axis=-1)
            outs.append(_fused_type(name, [{o.name: o for o in m.proto.graph.output}[name]
                                           for m in members], how))
    typed = {f"m{i}/{o.name}": o.type for i, m in enumerate(members)
             for o in m.proto.graph.output}
    inputs = [helper.make_value_info(name, typed[name]) for name in ins]
    return processing_model(b.nodes, f"ensemble_{how}", inputs, outs, b.inits)


def _fused_type(name: str, parts: list[onnx.ValueInfoProto], how: How
                ) -> onnx.ValueInfoProto:
    """The fused output's type: a member's (``mean``); the last dims summed (``concat``)."""
    out = helper.make_value_info(name, parts[0].type)
    if how == "concat":
        last = [p.type.tensor_type.shape.dim[-1] for p in parts
                if p.type.tensor_type.shape.dim]
        dim = out.type.tensor_type.shape.dim
        if dim and len(last) == len(parts) and all(d.HasField("dim_value") for d in last):
            dim[-1].dim_value = sum(d.dim_value for d in last)
        elif dim:
            dim[-1].dim_param = f"{name}_concat"
    return out


def _merged(protos: list[onnx.ModelProto], inputs: list[str], names: list[str]
            ) -> onnx.GraphProto:
    """The members under prefixes ``m<i>/``, reading the shared inputs, and the combiner."""
    *members, combiner = protos
    graph = onnx.GraphProto(name="ensemble")
    for i, proto in enumerate(members):
        prefixed = onnx.compose.add_prefix(proto, f"m{i}/")
        rename(prefixed.graph, {f"m{i}/{n}": n for n in inputs})
        if i == 0:
            graph.input.extend(prefixed.graph.input)
        for field in ("node", "initializer", "value_info"):
            getattr(graph, field).extend(getattr(prefixed.graph, field))
    graph.node.extend(combiner.graph.node)
    graph.initializer.extend(combiner.graph.initializer)
    graph.output.extend(combiner.graph.output)
    return graph


def _fused(outputs: list[dict[str, np.ndarray]], names: list[str], how: How
           ) -> dict[str, Any]:
    if how == "vote":
        scores = [o[name] for o, name in zip(outputs, names)]
        classes = scores[0].shape[1]
        votes = sum((np.argmax(s, axis=1)[:, None] == np.arange(classes)).astype(np.float32)
                    for s in scores)
        return {"votes": votes, "class": np.argmax(votes, axis=1).astype(np.int64)}
    if how == "mean":
        return {n: np.mean([o[n] for o in outputs], axis=0).astype(outputs[0][n].dtype)
                for n in names}
    return {n: np.concatenate([o[n] for o in outputs], axis=-1) for n in names}
