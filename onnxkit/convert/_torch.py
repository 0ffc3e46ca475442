"""``from_torch``: torch.onnx's dynamo exporter (falling back to TorchScript), verified.

The judge of an export is ONNX Runtime agreeing with torch: on the example inputs, at other
sizes along every requested dynamic axis, and, when the TorchScript trace branched on a tensor's
value, at other values. An exporter whose result fails any of these is not used (the next one
is tried, the reason recorded); its file is not kept.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import onnx

from onnxkit.base import require
from onnxkit.bench import Comparison, compare
from onnxkit.convert._conversion import (
    ATOL,
    RTOL,
    Conversion,
    call_code,
    captured,
    root_cause,
)
from onnxkit.convert._torch_checks import agrees_elsewhere, feeds, fixed_axes, grown, revalued
from onnxkit.convert._torch_export import (
    Axes,
    DynamicAxes,
    as_torch_inputs,
    forward_names,
    requested_axes,
    run_exporter,
    selecting,
    torch_outputs,
)
from onnxkit.errors import ConversionError, ParameterError, WorkspaceError
from onnxkit.models import Model, Step, free_target, workspace

Exporter = Literal["dynamo", "torchscript"]


def from_torch(module: Any, example_inputs: Any, *, exporter: Exporter | None = None,
               opset: int | None = None, input_names: Sequence[str] | None = None,
               output_names: Sequence[str] | None = None,
               outputs: Sequence[str | int] | None = None, dynamic_batch: bool = False,
               dynamic_axes: DynamicAxes | None = None, out: str | os.PathLike[str] | None = None,
               rtol: float = RTOL, atol: float = ATOL) -> Conversion:
    """Export a ``torch.nn.Module`` to ONNX and check ONNX Runtime against torch.

    Args:
        example_inputs: a tensor, a tuple of tensors (positional arguments) or a dict
            (keyword arguments); numpy arrays are accepted too.
        exporter: ``"dynamo"`` (torch.export based; needs onnxscript) or ``"torchscript"``;
            default: dynamo, falling back to TorchScript with the reason recorded.
        opset: ONNX opset (default: the exporter's).
        input_names, output_names: graph names (default: the forward's argument names, and
            the output fields' names, e.g. ``logits``; ``output_<i>`` for a plain tuple).
        outputs: keep only these outputs, by field name (``["logits"]``) or position: for a
            forward that also returns things that are not tensors, such as a KV cache.
        dynamic_batch: make axis 0 of every input and output a ``batch`` dim.
        dynamic_axes: ``{name: {axis: dim name}}`` for further dynamic axes (e.g. sequence).
        out: write the model there (must not exist); default: the workspace.

    The module runs in eval mode (its mode is restored afterwards). Every requested dynamic
    input axis must be dynamic in the file, and the model is run again with each one a step
    longer and compared with torch there (``Conversion.resized``). A TorchScript trace that
    branched on a tensor's value (its TracerWarnings are kept, with file:line, in
    ``Conversion.warnings``) is also compared at other input values (``revalued``); only a
    mismatch there refuses it: most such branches are shape checks that hold everywhere.
    """
    torch = require("torch", purpose="Converting PyTorch models")
    if not isinstance(module, torch.nn.Module):
        raise ParameterError(f"from_torch(module=...) must be a torch.nn.Module; got "
                             f"{type(module).__name__}.")
    if exporter not in (None, "dynamo", "torchscript"):
        raise ParameterError(f"from_torch(exporter=...) must be 'dynamo', 'torchscript' or None; "
                             f"got {exporter!r}.")
    args, kwargs = as_torch_inputs(example_inputs, torch)
    if out is not None:
        free_target(out)  # refused now, before any export work
    params = {"exporter": exporter, "opset": opset,
              "input_names": list(input_names) if input_names else None,
              "output_names": list(output_names) if output_names else None,
              "outputs": list(outputs) if outputs is not None else None,
              "dynamic_batch": dynamic_batch,
              "dynamic_axes": {k: dict(v) for k, v in (dynamic_axes or {}).items()} or None}
    was_training = module.training
    module.eval()
    try:
        job = _job(module, args, kwargs, params, out, rtol, atol, torch)
        with captured() as log:
            attempt = _first_that_holds(job, [exporter] if exporter else ["dynamo",
                                                                           "torchscript"])
    finally:
        module.train(was_training)
    code = call_code("from_torch", "module", "example_inputs", **{
        k: v for k, v in params.items() if v not in (None, False)})
    return Conversion(attempt.model, attempt.verification, attempt.exporter, log.seconds, code,
                      attempt.resized, attempt.fallback, (*attempt.notes, *log.unique()),
                      attempt.revalued)


@dataclass
class _Job:
    """What every exporter is asked for, and how its result is judged."""

    module: Any
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    expected: list[Any]
    inputs: list[str]
    outputs: list[str]
    axes: Axes
    opset: int | None
    out: str | os.PathLike[str] | None
    params: dict[str, Any]
    rtol: float
    atol: float
    torch: Any


@dataclass
class _Attempt:
    exporter: str
    model: Model
    verification: Comparison
    resized: Comparison | None
    revalued: Comparison | None
    notes: tuple[str, ...]
    fallback: str | None = None

    @property
    def holds(self) -> bool:
        return all(c is None or bool(c) for c in (self.verification, self.resized,
                                                  self.revalued))


def _job(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any], params: dict[str, Any],
         out: Any, rtol: float, atol: float, torch: Any) -> _Job:
    outputs, output_names = params["outputs"], params["output_names"]
    if outputs is not None:
        module = selecting(module, list(outputs), torch)
    fields, expected = torch_outputs(module, args, kwargs, torch)
    names_out = list(output_names) if output_names else (
        [str(k) for k in outputs] if outputs is not None and all(
            isinstance(k, str) for k in outputs) else
        fields or [f"output_{i}" for i in range(len(expected))])
    if len(names_out) != len(expected):
        raise ParameterError(f"from_torch(output_names=...) gives {len(names_out)} names for "
                             f"{len(expected)} outputs.")
    names_in = params["input_names"] or (
        list(kwargs) if kwargs else forward_names(module, len(args)))
    axes = requested_axes(names_in, names_out, params["dynamic_batch"], params["dynamic_axes"])
    return _Job(module, args, kwargs, expected, names_in, names_out, axes, params["opset"], out,
                params, rtol, atol, torch)


def _first_that_holds(job: _Job, exporters: list[str]) -> _Attempt:
    """Each exporter in turn until one's model holds, the reasons of those before it kept.

    A model that exports but differs from torch is returned (a falsy Conversion, to inspect)
    when no exporter does better, except a trace that branched on a value and differs at
    other values: that is data-dependent control flow, refused.
    """
    reasons: dict[str, str] = {}
    kept: _Attempt | None = None  # the last model that exported but did not hold
    for name in exporters:
        try:
            attempt = _attempt(job, name)
        except WorkspaceError:
            raise  # where to write, not how to export: the same for every exporter
        except Exception as e:  # exporters raise many types; the reason is what matters
            reasons[name] = root_cause(e)
            continue
        if kept is not None:
            workspace().discard(kept.model)
            kept = None
        if attempt.holds:
            attempt.fallback = _listed(reasons, "failed") or None
            return attempt
        reasons[name] = _why_not(attempt)
        if attempt.revalued is not None and not attempt.revalued:
            workspace().discard(attempt.model)
        else:
            kept = attempt
    if kept is not None:
        kept.fallback = _listed({k: v for k, v in reasons.items() if k != kept.exporter},
                                "failed") or None
        return kept
    raise ConversionError(f"from_torch could not export {type(job.module).__name__} "
                          f"({_listed(reasons, '')}). Data-dependent Python control flow and "
                          "unsupported ops are the usual causes: rewrite that part with torch "
                          "ops, or try the other exporter.")


def _listed(reasons: dict[str, str], verb: str) -> str:
    return "; ".join(f"{k}{' ' + verb if verb else ''}: {v}" for k, v in reasons.items())


def _attempt(job: _Job, name: str) -> _Attempt:
    torch = job.torch
    proto, notes = run_exporter(name, job.module, job.args, job.kwargs, job.opset, job.inputs,
                                job.outputs, job.axes, torch)
    fixed = fixed_axes(proto, job.inputs, job.axes)
    if fixed:
        raise ConversionError(f"the exporter fixed requested dynamic axes: {'; '.join(fixed)}")
    step = Step("convert.from_torch", {**job.params, "exporter": name},
                details={"used": name, "value_branches": list(notes)})
    model = workspace().save(_named(proto, job), stem=type(job.module).__name__.lower(),
                             out=job.out, step=step)
    tensors = [*job.args, *job.kwargs.values()]
    reference = dict(zip([o.name for o in model.proto.graph.output], job.expected))
    verification = compare(reference, model, feeds(model.proto, job.inputs, tensors),
                           rtol=job.rtol, atol=job.atol)
    elsewhere = (job.module, model, job.inputs, job.args, job.kwargs, job.axes)
    resized = agrees_elsewhere(*elsewhere, grown, "at other sizes", job.rtol, job.atol,
                               torch) if _has_dynamic_inputs(job) else None
    revalued_check = agrees_elsewhere(*elsewhere, revalued, "at other values", job.rtol,
                                      job.atol, torch) if notes else None
    return _Attempt(name, model, verification, resized, revalued_check, tuple(notes))


def _has_dynamic_inputs(job: _Job) -> bool:
    return any(job.axes.get(n) for n in job.inputs)


def _named(proto: onnx.ModelProto, job: _Job) -> onnx.ModelProto:
    proto.graph.name = proto.graph.name or type(job.module).__name__
    return proto


def _why_not(attempt: _Attempt) -> str:
    if attempt.revalued is not None and not attempt.revalued:
        return ("the trace took a Python branch on a tensor value, and the graph gives other "
                "outputs than torch at other input values (data-dependent control flow, at "
                f"{attempt.notes[0].split(': ')[0]})")
    for what, check in (("on the example inputs", attempt.verification),
                        ("at other sizes", attempt.resized)):
        if check is not None and not check:
            failed = check.failed[0]
            return f"ONNX Runtime differs from torch {what} ({failed.name}: {failed.reason})"
    return "it does not hold"
