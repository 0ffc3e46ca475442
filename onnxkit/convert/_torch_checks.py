"""Is an export right beyond its example? Requested dynamic axes really dynamic, and ONNX
Runtime agreeing with torch at other sizes and, when the trace branched on values, at other
values."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import onnx

from onnxkit.base import graph_inputs
from onnxkit.bench import Comparison, OutputDiff, compare
from onnxkit.convert._conversion import first_line
from onnxkit.convert._torch_export import Axes, torch_outputs
from onnxkit.models import Model

Variant = Callable[[Any, dict[int, str]], Any]  # (tensor, its requested dynamic axes) -> tensor


def fixed_axes(proto: onnx.ModelProto, names: list[str], axes: Axes) -> list[str]:
    """The requested dynamic input axes that the exported graph fixed to a size."""
    declared = {i.name: i.shape or () for i in graph_inputs(proto.graph)}
    problems = []
    for name in names:
        for axis, dim in sorted(axes.get(name, {}).items()):
            shape = declared.get(name, ())
            if axis < len(shape) and isinstance(shape[axis], int):
                problems.append(f"axis {axis} of input '{name}' ('{dim}') came out fixed at "
                                f"{shape[axis]}")
    return problems


def feeds(proto: onnx.ModelProto, names: list[str], tensors: list[Any]
          ) -> dict[str, np.ndarray]:
    """The tensors by graph input name (an exporter may drop an input the graph never reads)."""
    keyed = {n: t.detach().cpu().numpy() for n, t in zip(names, tensors)}
    return {i.name: keyed[i.name] for i in graph_inputs(proto.graph) if i.name in keyed}


def grown(tensor: Any, axes: dict[int, str]) -> Any:
    """Every requested dynamic axis one longer (the tensor's first slice repeated)."""
    import torch

    for axis in sorted(axes):
        if axis < tensor.ndim:
            tensor = torch.cat([tensor, tensor.narrow(axis, 0, 1)], dim=axis)
    return tensor


def revalued(tensor: Any, axes: dict[int, str]) -> Any:
    """Other values, same shape: floats drawn afresh (scaled like the example) and negated;
    0/1 masks with their last quarter padded out; ids drawn in the example's range."""
    import torch

    generator = torch.Generator().manual_seed(1)
    if tensor.is_floating_point():
        scale = float(tensor.abs().mean()) or 1.0
        return -scale * torch.randn(tensor.shape, generator=generator).to(tensor.dtype)
    if tensor.dtype == torch.bool or tensor.numel() == 0:
        return tensor
    low, high = int(tensor.min()), int(tensor.max())
    if (low, high) in ((0, 1), (1, 1)) and tensor.ndim:  # an attention mask
        masked = tensor.clone()
        length = tensor.shape[-1]
        masked[..., max(1, length - length // 4):] = 0
        return masked
    return torch.randint(low, high + 1, tensor.shape, generator=generator).to(tensor.dtype)


def agrees_elsewhere(module: Any, model: Model, names: list[str], args: tuple[Any, ...],
                     kwargs: dict[str, Any], axes: Axes, variant: Variant, what: str,
                     rtol: float, atol: float, torch: Any) -> Comparison:
    """torch and ONNX Runtime on other inputs (``variant`` of each example tensor)."""
    tensors = [variant(t, axes.get(n, {})) for n, t in zip(names, [*args, *kwargs.values()])]
    new_args, new_kwargs = tuple(tensors[:len(args)]), dict(zip(kwargs, tensors[len(args):]))
    _, expected = torch_outputs(module, new_args, new_kwargs, torch)
    reference = dict(zip([o.name for o in model.proto.graph.output], expected))
    try:
        return compare(reference, model, feeds(model.proto, names, tensors), rtol=rtol,
                       atol=atol)
    except Exception as e:  # ORT refused the inputs: the graph does not take these sizes
        why = f"fails {what}: {first_line(str(e))}"
        return Comparison("torch", model.name, rtol, atol,
                          tuple(OutputDiff(n, False, why, None) for n in reference))
