"""``from_torch``: torch.onnx's dynamo exporter (falling back to TorchScript), verified."""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnx

from onnxkit.base import graph_inputs, require
from onnxkit.convert._conversion import (
    ATOL,
    RTOL,
    Conversion,
    call_code,
    captured,
    first_line,
    root_cause,
)
from onnxkit.errors import ConversionError, InputError, ParameterError
from onnxkit.models import Step, workspace
from onnxkit.runtime import Comparison, OutputDiff, compare

Exporter = Literal["dynamo", "torchscript"]
DynamicAxes = Mapping[str, Mapping[int, str]]


def from_torch(module: Any, example_inputs: Any, *, exporter: Exporter | None = None,
               opset: int | None = None, input_names: Sequence[str] | None = None,
               output_names: Sequence[str] | None = None, dynamic_batch: bool = False,
               dynamic_axes: DynamicAxes | None = None, out: str | os.PathLike[str] | None = None,
               rtol: float = RTOL, atol: float = ATOL) -> Conversion:
    """Export a ``torch.nn.Module`` to ONNX and check ONNX Runtime against torch.

    Args:
        example_inputs: a tensor, a tuple of tensors (positional arguments) or a dict
            (keyword arguments); numpy arrays are accepted too.
        exporter: ``"dynamo"`` (torch.export based; needs onnxscript) or ``"torchscript"``;
            default: dynamo, falling back to TorchScript with the reason recorded.
        opset: ONNX opset (default: the exporter's).
        input_names, output_names: graph names (default: the forward's argument names for
            dynamo, ``input_<i>``/``output_<i>`` otherwise).
        dynamic_batch: make axis 0 of every input and output a ``batch`` dim.
        dynamic_axes: ``{name: {axis: dim name}}`` for further dynamic axes (e.g. sequence).
        out: write the model there (must not exist); default: the workspace.

    The module runs in eval mode (its mode is restored afterwards). With dynamic axes, the
    model is also run at other sizes along them (the inputs extended by their own first
    slice) and compared with torch there: ``Conversion.resized``.
    """
    torch = require("torch", purpose="Converting PyTorch models")
    if not isinstance(module, torch.nn.Module):
        raise ParameterError(f"from_torch(module=...) must be a torch.nn.Module; got "
                             f"{type(module).__name__}.")
    if exporter not in (None, "dynamo", "torchscript"):
        raise ParameterError(f"from_torch(exporter=...) must be 'dynamo', 'torchscript' or None; "
                             f"got {exporter!r}.")
    args, kwargs = _as_torch_inputs(example_inputs, torch)
    was_training = module.training
    module.eval()
    try:
        expected = _torch_outputs(module, args, kwargs, torch)
        names_in = list(input_names) if input_names else None
        names_out = list(output_names) if output_names else [f"output_{i}"
                                                              for i in range(len(expected))]
        if len(names_out) != len(expected):
            raise ParameterError(f"from_torch(output_names=...) gives {len(names_out)} names for "
                                 f"{len(expected)} outputs.")
        with captured() as log:
            proto, used, fallback = _export(module, args, kwargs, exporter, opset, names_in,
                                            names_out, dynamic_batch, dynamic_axes, torch)
        params = {"exporter": exporter, "opset": opset, "input_names": names_in,
                  "output_names": list(output_names) if output_names else None,
                  "dynamic_batch": dynamic_batch,
                  "dynamic_axes": {k: dict(v) for k, v in (dynamic_axes or {}).items()} or None}
        model = workspace().save(proto, stem=type(module).__name__.lower(), out=out,
                                 step=Step("convert.from_torch", params, details={"used": used}))
        feeds = _feeds(model.proto, args, kwargs)
        reference = dict(zip([o.name for o in model.proto.graph.output], expected))
        verification = compare(reference, model, feeds, rtol=rtol, atol=atol)
        resized = _check_resized(module, model, args, kwargs, rtol, atol, torch)
    finally:
        module.train(was_training)
    code = call_code("from_torch", "module", "example_inputs", **{
        k: v for k, v in params.items() if v not in (None, False)})
    return Conversion(model, verification, used, log.seconds, code, resized, fallback,
                      log.unique())


def _as_torch_inputs(example: Any, torch: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    def tensor(x: Any, where: str) -> Any:
        if isinstance(x, torch.Tensor):
            return x
        if isinstance(x, np.ndarray):
            return torch.from_numpy(x)
        raise InputError(f"from_torch(example_inputs=...): {where} is a {type(x).__name__}; "
                         "pass torch tensors (or numpy arrays).")

    if isinstance(example, Mapping):
        return (), {k: tensor(v, f"'{k}'") for k, v in example.items()}
    items = example if isinstance(example, (tuple, list)) else (example,)
    return tuple(tensor(x, f"input {i}") for i, x in enumerate(items)), {}


def _torch_outputs(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any], torch: Any
                   ) -> list[np.ndarray]:
    try:
        with torch.no_grad():
            result = module(*args, **kwargs)
    except Exception as e:
        raise InputError(f"from_torch: the module fails on the example inputs "
                         f"({_shapes(args, kwargs)}): {type(e).__name__}: {first_line(str(e))}. "
                         "Pass inputs it accepts.") from e
    flat = list(result.values()) if isinstance(result, Mapping) else (
        list(result) if isinstance(result, (tuple, list)) else [result])
    wrong = [type(t).__name__ for t in flat if not isinstance(t, torch.Tensor)]
    if wrong:
        raise ConversionError(f"from_torch: the module's forward returns {', '.join(wrong)}, not "
                              "only tensors; ONNX graph outputs must be tensors.")
    return [t.detach().cpu().numpy() for t in flat]


def _shapes(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    parts = [f"{tuple(a.shape)} {a.dtype}" for a in args]
    parts += [f"{k}: {tuple(v.shape)} {v.dtype}" for k, v in kwargs.items()]
    return ", ".join(parts)


def _export(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any], exporter: str | None,
            opset: int | None, input_names: list[str] | None, output_names: list[str],
            dynamic_batch: bool, dynamic_axes: DynamicAxes | None, torch: Any
            ) -> tuple[onnx.ModelProto, str, str | None]:
    names = input_names or (list(kwargs) if kwargs else _forward_names(module, len(args)))
    axes = _axes(names, output_names, dynamic_batch, dynamic_axes)
    tries = [exporter] if exporter else ["dynamo", "torchscript"]
    reasons: dict[str, str] = {}
    for name in tries:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                proto = _run_exporter(name, module, args, kwargs, opset, names, output_names,
                                      axes, torch)
            _refuse_value_dependent_trace(caught)
            for w in caught:  # hand them on to the Conversion's record...
                # ...except deprecations inside the exporters' own code (torch's pytree,
                # onnxscript): nothing the user's model or call could change.
                if not issubclass(w.category, (DeprecationWarning, FutureWarning)):
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            fallback = f"dynamo failed: {reasons['dynamo']}" if reasons else None
            return proto, name, fallback
        except Exception as e:  # exporters raise many types; the reason is what matters
            reasons[name] = root_cause(e)
    tried = "; ".join(f"{k}: {v}" for k, v in reasons.items())
    raise ConversionError(f"from_torch could not export {type(module).__name__} ({tried}). "
                          "Data-dependent Python control flow and unsupported ops are the usual "
                          "causes: rewrite that part with torch ops, or try the other exporter.")


def _refuse_value_dependent_trace(caught: list[warnings.WarningMessage]) -> None:
    """TorchScript traces one path through Python ``if``s on tensor values and warns; the
    graph it writes would silently be wrong for other inputs, so that counts as failing."""
    for w in caught:
        if "Python boolean" in str(w.message):
            raise ConversionError("the TorchScript trace took a Python branch on a tensor value "
                                  "(data-dependent control flow), so the exported graph would "
                                  "be wrong for other inputs")


def _forward_names(module: Any, count: int) -> list[str]:
    import inspect

    try:
        params = [p for p in inspect.signature(module.forward).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    names = [p.name for p in params[:count]]
    return names + [f"input_{i}" for i in range(len(names), count)]


def _axes(inputs: list[str], outputs: list[str], dynamic_batch: bool,
          dynamic_axes: DynamicAxes | None) -> dict[str, dict[int, str]]:
    axes: dict[str, dict[int, str]] = {n: {0: "batch"} for n in inputs + outputs} \
        if dynamic_batch else {}
    for name, by_axis in (dynamic_axes or {}).items():
        if name not in inputs + outputs:
            raise ParameterError(f"from_torch(dynamic_axes=...) names '{name}', which is not an "
                                 f"input or output: inputs {inputs}, outputs {outputs}.")
        axes.setdefault(name, {}).update({int(a): str(d) for a, d in by_axis.items()})
    return axes


def _run_exporter(name: str, module: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
                  opset: int | None, inputs: list[str], outputs: list[str],
                  axes: dict[str, dict[int, str]], torch: Any) -> onnx.ModelProto:
    common: dict[str, Any] = {"input_names": inputs, "output_names": outputs,
                              "opset_version": opset}
    if name == "dynamo":
        require("onnxscript", purpose="torch.onnx's dynamo exporter")
        program = torch.onnx.export(module, args, kwargs=kwargs or None, dynamo=True,
                                    verbose=False, **common,
                                    dynamic_shapes=_dynamic_shapes(inputs, kwargs, axes, torch))
        return program.model_proto
    common["dynamic_axes"] = axes or None
    if kwargs:
        args = args + (kwargs,)  # TorchScript takes keyword arguments as a trailing dict
    with tempfile.TemporaryDirectory(prefix="onnxkit-torch-") as tmp:
        path = Path(tmp, "model.onnx")
        torch.onnx.export(module, args, str(path), dynamo=False, **common)
        return onnx.load_model(str(path), load_external_data=True)


def _dynamic_shapes(inputs: list[str], kwargs: dict[str, Any],
                    axes: dict[str, dict[int, str]], torch: Any) -> Any:
    """dynamo's form of the inputs' dynamic axes (``dynamic_axes`` is deprecated there): one
    ``Dim`` per axis name, so inputs sharing a name (``batch``) must agree. Output axes
    follow from the graph."""
    if not axes:
        return None
    dims: dict[str, Any] = {}

    def spec(name: str) -> dict[int, Any] | None:
        by_axis = axes.get(name)
        if not by_axis:
            return None
        return {axis: dims.setdefault(dim, torch.export.Dim(_identifier(dim)))
                for axis, dim in by_axis.items()}

    if kwargs:
        return {name: spec(name) for name in kwargs}
    return tuple(spec(name) for name in inputs)


def _identifier(name: str) -> str:
    cleaned = "".join(c if c.isalnum() else "_" for c in name)
    return cleaned if cleaned[:1].isalpha() else f"d_{cleaned}"


def _feeds(proto: onnx.ModelProto, args: tuple[Any, ...], kwargs: dict[str, Any]
           ) -> dict[str, np.ndarray]:
    values = [t.detach().cpu().numpy() for t in list(args) + list(kwargs.values())]
    names = [i.name for i in graph_inputs(proto.graph)]
    if len(names) != len(values):  # an exporter dropped an unused input
        used = set(names)
        keyed = dict(zip(_forward_like(kwargs, args, names), values))
        return {k: v for k, v in keyed.items() if k in used}
    return dict(zip(names, values))


def _forward_like(kwargs: dict[str, Any], args: tuple[Any, ...], names: list[str]) -> list[str]:
    return list(kwargs) if kwargs else names + [f"_unused_{i}" for i in range(len(args))]


def _check_resized(module: Any, model: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
                   rtol: float, atol: float, torch: Any) -> Any:
    """Run torch and ORT with every dynamic input axis one longer: do they still agree?"""

    inputs = graph_inputs(model.proto.graph)
    tensors = list(args) + list(kwargs.values())
    if not any(isinstance(d, str) for i in inputs for d in (i.shape or ())) or \
            len(inputs) != len(tensors):
        return None
    grown = []
    for info, t in zip(inputs, tensors):
        for axis, dim in enumerate(info.shape or ()):
            if isinstance(dim, str):
                t = torch.cat([t, t.narrow(axis, 0, 1)], dim=axis)
        grown.append(t)
    new_args, new_kwargs = tuple(grown[:len(args)]), dict(zip(kwargs, grown[len(args):]))
    expected = _torch_outputs(module, new_args, new_kwargs, torch)
    reference = dict(zip([o.name for o in model.proto.graph.output], expected))
    feeds = {i.name: t.numpy() for i, t in zip(inputs, grown)}
    try:
        return compare(reference, model, feeds, rtol=rtol, atol=atol)
    except Exception as e:  # ORT refused the new sizes: the dims are not really dynamic

        why = f"fails at other sizes: {first_line(str(e))}"
        return Comparison("torch", model.name, rtol, atol,
                          tuple(OutputDiff(n, False, why, None) for n in reference))
