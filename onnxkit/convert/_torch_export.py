"""Running torch.onnx's exporters: inputs and outputs as torch sees them, names, dynamic axes."""

from __future__ import annotations

import inspect
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from onnxkit.base import require
from onnxkit.convert._conversion import first_line
from onnxkit.errors import ConversionError, InputError, ParameterError

DynamicAxes = Mapping[str, Mapping[int, str]]
Axes = dict[str, dict[int, str]]
# TorchScript warns this when a Python `if` (or bool(), int()...) reads a tensor's value: the
# trace follows one path, which may be wrong for other inputs (or only a shape check).
VALUE_BRANCH = "Converting a tensor to a Python"


def as_torch_inputs(example: Any, torch: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """``example_inputs`` as positional and keyword tensors."""
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


def selecting(module: Any, keep: Sequence[str | int], torch: Any) -> Any:
    """``module`` returning only the outputs ``keep`` names (fields of a ``ModelOutput``, or
    positions of a tuple), with the same forward signature (exporters bind inputs by it)."""
    signature = inspect.signature(module.forward)

    class Selected(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.module = module

        def forward(self, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
            result = self.module(*args, **kwargs)
            return tuple(result[k] for k in keep)

    self_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    Selected.forward.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[self_param, *signature.parameters.values()])
    Selected.__name__ = type(module).__name__
    return Selected().train(module.training)


def torch_outputs(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any], torch: Any
                  ) -> tuple[list[str] | None, list[np.ndarray]]:
    """The module's outputs on the inputs, as arrays, with their field names when the forward
    returns a mapping (a transformers ``ModelOutput``: ``logits``...)."""
    try:
        with torch.no_grad():
            result = module(*args, **kwargs)
    except Exception as e:
        raise InputError(f"from_torch: the module fails on the example inputs "
                         f"({_shapes(args, kwargs)}): {type(e).__name__}: {first_line(str(e))}. "
                         "Pass inputs it accepts.") from e
    if isinstance(result, Mapping):
        names: list[str] | None = [str(k) for k in result]
        values = list(result.values())
    else:
        names, values = None, list(result) if isinstance(result, (tuple, list)) else [result]
    wrong = [(names[i] if names else str(i), type(v).__name__)
             for i, v in enumerate(values) if not isinstance(v, torch.Tensor)]
    if wrong:
        raise ConversionError(_not_tensors(wrong, names))
    return names, [v.detach().cpu().numpy() for v in values]


def _not_tensors(wrong: list[tuple[str, str]], names: list[str] | None) -> str:
    listed = ", ".join(f"{'output' if names is None else 'field'} {k!r} is a {t}"
                       for k, t in wrong)
    tensors = [n for n in (names or []) if n not in {k for k, _ in wrong}]
    keep = f"outputs={tensors!r}" if tensors else "outputs=[...] (the fields you need)"
    cache = any("cache" in t.lower() or "past" in k for k, t in wrong)
    how = (" or turn the cache off before converting (model.config.use_cache = False, or "
           "use_cache=False in the inputs)" if cache else "")
    return (f"from_torch(outputs=...) is needed: the module's forward returns more than tensors "
            f"({listed}), and ONNX graph outputs are tensors. Keep the tensors you want with "
            f"{keep}{how}.")


def _shapes(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    parts = [f"{tuple(a.shape)} {a.dtype}" for a in args]
    parts += [f"{k}: {tuple(v.shape)} {v.dtype}" for k, v in kwargs.items()]
    return ", ".join(parts)


def forward_names(module: Any, count: int) -> list[str]:
    """The first ``count`` positional parameter names of ``forward`` (``input_<i>`` beyond)."""
    try:
        params = [p for p in inspect.signature(module.forward).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    names = [p.name for p in params[:count]]
    return names + [f"input_{i}" for i in range(len(names), count)]


def requested_axes(inputs: list[str], outputs: list[str], dynamic_batch: bool,
                   dynamic_axes: DynamicAxes | None) -> Axes:
    """``{name: {axis: dim name}}``: axis 0 of everything with ``dynamic_batch``, plus
    ``dynamic_axes``."""
    axes: Axes = {n: {0: "batch"} for n in inputs + outputs} if dynamic_batch else {}
    for name, by_axis in (dynamic_axes or {}).items():
        if name not in inputs + outputs:
            raise ParameterError(f"from_torch(dynamic_axes=...) names '{name}', which is not an "
                                 f"input or output: inputs {inputs}, outputs {outputs}.")
        axes.setdefault(name, {}).update({int(a): str(d) for a, d in by_axis.items()})
    return axes


def run_exporter(name: str, module: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
                 opset: int | None, inputs: list[str], outputs: list[str], axes: Axes,
                 torch: Any) -> tuple[onnx.ModelProto, list[str]]:
    """Export with ``name`` (``"dynamo"`` or ``"torchscript"``); returns the model and the
    trace's notes on value-dependent Python branches, as ``file:line: message``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        proto = _export(name, module, args, kwargs, opset, inputs, outputs, axes, torch)
    notes = []
    for w in caught:
        if VALUE_BRANCH in str(w.message):
            notes.append(f"{Path(w.filename).name}:{w.lineno}: {first_line(str(w.message))}")
        elif not issubclass(w.category, (DeprecationWarning, FutureWarning)):
            # hand the rest on to the Conversion's record, except deprecations inside the
            # exporters' own code (torch's pytree, onnxscript): nothing the user could change
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return proto, list(dict.fromkeys(notes))


def _export(name: str, module: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
            opset: int | None, inputs: list[str], outputs: list[str], axes: Axes,
            torch: Any) -> onnx.ModelProto:
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


def _dynamic_shapes(inputs: list[str], kwargs: dict[str, Any], axes: Axes, torch: Any) -> Any:
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
