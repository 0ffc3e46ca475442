"""Shapes: fix symbolic dims to sizes, and make fixed dims dynamic (proven by running).

Every step works on the proto without external weights (shape work never needs them, and a
model over 2 GB cannot go through one protobuf), and loads them only to save the result.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import onnx

from onnxkit.base import TensorInfo, clean_ort_message, graph_inputs, graph_outputs
from onnxkit.errors import InputError, ParameterError, SessionError, UnsupportedModelError
from onnxkit.models import Model, ModelLike, load
from onnxkit.runtime import graph_feeds, register_custom_ops, session, session_options
from onnxkit.transforms._derive import (
    derive,
    verified_if_runnable,
    with_weights,
)
from onnxkit.transforms._dims import fully_fixed, fully_known, is_dim_name, is_size
from onnxkit.transforms._infer import symbolic_stage

# --- fix_dims -------------------------------------------------------------------------------

def fix_dims(model: ModelLike, dims: Mapping[str, int | Sequence[int]]) -> Model:
    """A copy of ``model`` with symbolic dims fixed, for tools and runtimes that need them.

    Uses ONNX Runtime's ``onnx_model_utils``: a dim name is replaced everywhere it appears
    (inputs, outputs, intermediate values), then outputs whose shape became fully known get it.

    Args:
        model: anything :func:`onnxkit.load` accepts.
        dims: ``{dim name: size}`` for symbolic dims of the inputs (``{"batch": 1}``), and/or
            ``{input name: shape}`` for one input's whole shape (``{"x": [1, 4]}``).

    Returns:
        ``<name>.fixed-batch1.onnx`` in the workspace. Its lineage records the check that its
        outputs match the original's on the same random inputs.

    Raises:
        ParameterError: a key is neither a symbolic dim nor an input, or a size is not a
            positive integer.
        InputError: a whole shape has the wrong rank or contradicts a fixed dim.

    Examples:
        >>> import onnxkit
        >>> fixed = onnxkit.fix_dims(onnxkit.samples.tiny_model(), {"batch": 2})
        >>> fixed.name, [str(t) for t in onnxkit.summarize(fixed).outputs]
        ('tiny.fixed-batch2', ['y: float32[2, 3]'])
        >>> fixed.lineage[-1].details["verification"]["passed"]
        True
    """
    from onnxruntime.tools.onnx_model_utils import make_dim_param_fixed, make_input_shape_fixed

    parent = load(model)
    proto = parent.to_proto(with_weights=False)
    sizes, shapes = _split_dims(dims, proto.graph)
    declared = {i.name: i for i in graph_inputs(proto.graph)}
    for name, size in sizes.items():
        make_dim_param_fixed(proto.graph, name, size)
    for name, shape in shapes.items():
        _check_whole_shape(name, shape, declared[name], proto.graph)  # may clash with dims set
        make_input_shape_fixed(proto.graph, name, shape)
    _fix_output_shapes(proto)
    tag = "fixed-" + "-".join([f"{k}{v}" for k, v in sizes.items()]
                              + [f"{k}{'x'.join(map(str, v))}" for k, v in shapes.items()])
    child = derive(parent, with_weights(parent, proto), op="fix_dims", tag=tag,
                   params={"dims": {k: sizes.get(k, shapes.get(k)) for k in dims}},
                   details=_io_details(proto))
    return verified_if_runnable(parent, child, same_feeds=True)


def _split_dims(dims: Mapping[str, Any], graph: onnx.GraphProto
                ) -> tuple[dict[str, int], dict[str, list[int]]]:
    """``dims`` checked and split into ``{dim name: size}`` and ``{input name: shape}``."""
    if not isinstance(dims, Mapping) or not dims:
        raise ParameterError(f"fix_dims(dims=...) must be a non-empty mapping such as "
                             f"{{'batch': 1}}; got {dims!r}.")
    inputs = {i.name: i for i in graph_inputs(graph)}
    params = sorted({d for i in inputs.values() for d in (i.shape or ()) if is_dim_name(d)})
    sizes: dict[str, int] = {}
    shapes: dict[str, list[int]] = {}
    for key, value in dims.items():
        if key in inputs and not (key in params and is_size(value)):
            shapes[key] = _shape_value(key, value)
        elif key in params:
            if not is_size(value):
                raise ParameterError(f"fix_dims(dims={{'{key}': ...}}) must be a positive "
                                     f"integer size; got {value!r}.")
            sizes[key] = int(value)
        else:
            raise ParameterError(
                f"fix_dims(dims=...) names '{key}', which is neither a symbolic dim nor an "
                f"input. Symbolic dims: {params or 'none'}; inputs: {sorted(inputs)}. Use one "
                "of those names.")
    return sizes, shapes


def _shape_value(name: str, value: Any) -> list[int]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)) or not all(
            is_size(v) for v in value):
        raise ParameterError(f"fix_dims(dims={{'{name}': ...}}) gives input '{name}' a whole "
                             f"shape, which must be a list of positive integers such as "
                             f"[1, 4]; got {value!r}.")
    return [int(v) for v in value]


def _check_whole_shape(name: str, shape: list[int], info: TensorInfo, graph: onnx.GraphProto
                       ) -> None:
    """``shape`` against the input as declared and as the dims fixed so far left it."""
    if not info.is_tensor:
        raise ParameterError(f"fix_dims(dims={{'{name}': ...}}): input '{name}' is a "
                             f"{info.dtype}, not a tensor, so it has no shape to fix.")
    declared = info.shape
    if declared is None:  # unknown rank: give it one, the ORT helper then fills the sizes
        value = next(v for v in graph.input if v.name == name)
        for _ in shape:
            value.type.tensor_type.shape.dim.add()
        return
    current = next(i for i in graph_inputs(graph) if i.name == name).shape or ()
    if len(shape) != len(declared):
        raise InputError(f"fix_dims(dims={{'{name}': {shape}}}) has rank {len(shape)}, but "
                         f"input '{name}' has rank {len(declared)} {list(declared)}. Give one "
                         "size per axis.")
    for axis, (got, want, was) in enumerate(zip(shape, current, declared)):
        if isinstance(want, int) and got != want:
            why = (f"input '{name}' fixes it to {want} (declared {list(declared)})"
                   if isinstance(was, int) else f"the other dims given set '{was}' to {want}")
            raise InputError(f"fix_dims(dims={{'{name}': {shape}}}) sets axis {axis} to {got}, "
                             f"but {why}. Use {want} there, or change the other dims.")


def _fix_output_shapes(proto: onnx.ModelProto) -> None:
    """Outputs whose shape is now fully known get it.

    ORT's ``fix_output_shapes`` does the same but then runs ``onnx.checker.check_model``,
    which rejects a proto whose weights live in external files.
    """
    inferred = onnx.shape_inference.infer_shapes(proto)
    for out, new in zip(proto.graph.output, inferred.graph.output):
        if fully_fixed(new) and not fully_fixed(out):
            out.type.tensor_type.shape.CopyFrom(new.type.tensor_type.shape)


# --- make_dynamic ---------------------------------------------------------------------------

def make_dynamic(model: ModelLike, axes: Mapping[str, Mapping[int, str]], *,
                 sizes: Mapping[str, int | Sequence[int]] | None = None) -> Model:
    """A copy of ``model`` whose given axes take any size, proven by running it at new sizes.

    The axes get symbolic dims, stale intermediate shapes are dropped and shape inference
    carries the new dims to the outputs. Before anything is saved, ONNX Runtime runs the model
    with each new input dim at two sizes other than the original (``original + 1`` and ``2``,
    or ``3``), and outputs that carry the dim must come out at the size fed.

    Args:
        model: anything :func:`onnxkit.load` accepts.
        axes: ``{input or output name: {axis: dim name}}``, e.g. ``{"image": {0: "batch"}}``.
            Axes may be negative (and, as in the JSON lineage, digit strings).
        sizes: ``{dim name: size or sizes}`` to try instead of the defaults, for models that
            only take some sizes (a U-Net wants multiples of its total stride).

    Returns:
        ``<name>.dynamic-<dims>.onnx`` in the workspace; its lineage records the sizes tried.

    Raises:
        ParameterError: a name, axis or dim name the model does not have or accept.
        UnsupportedModelError: ONNX Runtime fails at another size, or an output keeps its old
            size: the size is baked into the graph. Nothing is saved then.

    Examples:
        >>> import onnxkit
        >>> fixed = onnxkit.fix_dims(onnxkit.samples.tiny_model(), {"batch": 1})
        >>> again = onnxkit.make_dynamic(fixed, {"x": {0: "n"}})
        >>> [str(t) for t in onnxkit.summarize(again).outputs], again.lineage[-1].details["tried"]
        (['y: float32[n, 3]'], [{'n': 2}, {'n': 3}])
    """
    parent = load(model)
    proto = parent.to_proto(with_weights=False)
    plan = _plan_axes(axes, proto.graph)
    original = _set_dim_params(proto.graph, plan)
    proto = _reinfer(proto, plan)
    fed = {d for i in graph_inputs(proto.graph) for d in (i.shape or ()) if d in original}
    trials = _trials({k: v for k, v in original.items() if k in fed}, sizes)
    _prove_dynamic(parent, proto, trials)
    child = derive(parent, with_weights(parent, proto), op="make_dynamic",
                   tag="dynamic-" + "-".join(original),
                   params={"axes": {k: dict(v) for k, v in plan.items()},
                           "sizes": _jsonable(sizes)},
                   details={"tried": trials, **_io_details(proto)})
    return verified_if_runnable(parent, child, same_feeds=False)


def _plan_axes(axes: Mapping[str, Any], graph: onnx.GraphProto) -> dict[str, dict[int, str]]:
    """``axes`` checked, with non-negative axes: ``{value name: {axis: dim name}}``."""
    if not isinstance(axes, Mapping) or not axes:
        raise ParameterError(f"make_dynamic(axes=...) must be a non-empty mapping such as "
                             f"{{'image': {{0: 'batch'}}}}; got {axes!r}.")
    values = {i.name: i for i in graph_inputs(graph) + graph_outputs(graph)}
    plan: dict[str, dict[int, str]] = {}
    for name, by_axis in axes.items():
        if name not in values:
            raise ParameterError(
                f"make_dynamic(axes=...) names '{name}', which is not an input or output. "
                f"Inputs and outputs: {', '.join(str(v) for v in values.values())}. Use one of "
                "those names.")
        plan[name] = _plan_one(name, by_axis, values[name])
    return plan


def _plan_one(name: str, by_axis: Any, info: TensorInfo) -> dict[int, str]:
    if info.shape is None:
        raise ParameterError(f"make_dynamic(axes={{'{name}': ...}}): '{name}' has no declared "
                             "shape (unknown rank), so it has no axes to name; it is already "
                             "fully dynamic.")
    if not isinstance(by_axis, Mapping) or not by_axis:
        raise ParameterError(f"make_dynamic(axes={{'{name}': ...}}) must map axes to dim names, "
                             f"e.g. {{0: 'batch'}}; got {by_axis!r}.")
    rank, out = len(info.shape), {}
    for axis, dim in by_axis.items():
        if isinstance(axis, str) and re.fullmatch(r"-?\d+", axis):
            axis = int(axis)
        if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool) or not (
                -rank <= axis < rank) or int(axis) % rank in out:
            raise ParameterError(
                f"make_dynamic(axes={{'{name}': {{{axis!r}: ...}}}}): '{name}' has rank {rank} "
                f"{list(info.shape)}, so an axis is one of {-rank}..{rank - 1}, each once; got "
                f"{axis!r}.")
        if not isinstance(dim, str) or not dim.strip() or dim == "?" or dim.isdigit():
            raise ParameterError(f"make_dynamic(axes={{'{name}': {{{axis}: ...}}}}) must name "
                                 f"the dim with a non-numeric string such as 'batch'; got "
                                 f"{dim!r}.")
        out[int(axis) % rank] = dim
    return out


def _set_dim_params(graph: onnx.GraphProto, plan: dict[str, dict[int, str]]
                    ) -> dict[str, int | None]:
    """Name the planned axes; ``{dim name: its former fixed size, or None}``."""
    original: dict[str, int | None] = {}
    for value in list(graph.input) + list(graph.output):
        for axis, name in plan.get(value.name, {}).items():
            dim = value.type.tensor_type.shape.dim[axis]
            if original.get(name) is None:
                original[name] = dim.dim_value if dim.HasField("dim_value") else None
            dim.Clear()
            dim.dim_param = name
    return original


def _reinfer(proto: onnx.ModelProto, plan: dict[str, dict[int, str]]) -> onnx.ModelProto:
    """Drop shapes that may be stale (old fixed sizes) and infer them afresh from the new dims.

    ORT's symbolic inference runs only where onnx cannot relate an output dim to the inputs
    (``Reshape(x, [-1, 12])`` gives ``unk__0``; it gives ``batch``).
    """
    del proto.graph.value_info[:]
    for out in proto.graph.output:
        for axis, dim in enumerate(out.type.tensor_type.shape.dim):
            if axis not in plan.get(out.name, {}):
                dim.Clear()
    proto = onnx.shape_inference.infer_shapes(proto, data_prop=True)
    if not all(fully_known(o) for o in proto.graph.output):

        proto, _ = symbolic_stage(proto)
        _set_dim_params(proto.graph, plan)  # it rewrites outputs: the caller's names stay
    return proto


def _trials(original: dict[str, int | None], sizes: Mapping[str, Any] | None
            ) -> list[dict[str, int]]:
    """Two runs; in each, every new dim at a size that differs from its original."""
    chosen: dict[str, list[int]] = {}
    for name, size in original.items():
        base = size or 1
        chosen[name] = list(dict.fromkeys(s for s in (base + 1, 2, base + 2, 3) if s != size))[:2]
    if sizes is not None and not isinstance(sizes, Mapping):
        raise ParameterError(f"make_dynamic(sizes=...) must map dim names to sizes, e.g. "
                             f"{{'batch': [2, 8]}}; got {sizes!r}.")
    for name, value in (sizes or {}).items():
        values = [value] if is_size(value) else value
        if name not in original or isinstance(values, (str, bytes)) or not isinstance(
                values, (Sequence, np.ndarray)) or len(values) == 0 or not all(
                map(is_size, values)):
            raise ParameterError(f"make_dynamic(sizes={{'{name}': ...}}) must give one of the new "
                                 f"input dims {list(original)} a positive integer size or a "
                                 f"list of them; got {name!r}: {value!r}.")
        chosen[name] = [int(v) for v in values]
    runs = max((len(v) for v in chosen.values()), default=1)  # outputs named only: run once
    return [{name: v[min(i, len(v) - 1)] for name, v in chosen.items()} for i in range(runs)]


def _prove_dynamic(parent: Model, proto: onnx.ModelProto, trials: list[dict[str, int]]) -> None:
    sess = _memory_session(parent, proto, trials[0])
    for trial in trials:
        feeds = _feeds(proto.graph, trial)
        try:
            outputs = sess.run(None, feeds)
        except Exception as e:  # ORT raises its own exception types
            raise _baked_in(parent, trial, clean_ort_message(str(e))) from e
        for info, array in zip(graph_outputs(proto.graph), outputs):
            for axis, dim in enumerate(info.shape or ()):
                if dim in trial and axis < array.ndim and array.shape[axis] != trial[dim]:
                    raise _baked_in(parent, trial, f"output '{info.name}' came out with size "
                                    f"{array.shape[axis]} on axis {axis} ('{dim}') instead of "
                                    f"{trial[dim]}.")


def _memory_session(parent: Model, proto: onnx.ModelProto, trial: dict[str, int]) -> Any:
    import onnxruntime as ort


    so = session_options()
    so.log_severity_level = 4  # a failure here is expected and reported; keep stderr quiet
    register_custom_ops(so, parent)
    if parent.external_data:  # the weights stay in their files, found from the parent's folder
        so.add_session_config_entry("session.model_external_initializers_file_folder_path",
                                    str(parent.path.parent))
    try:
        return ort.InferenceSession(proto.SerializeToString(), so,
                                    providers=["CPUExecutionProvider"])
    except Exception as e:
        _runs_at_all(parent)
        raise _baked_in(parent, trial, clean_ort_message(str(e))) from e


def _runs_at_all(parent: Model) -> None:
    """Refuse plainly when ORT cannot load even the original (a custom op, say)."""

    try:
        session(parent)
    except SessionError as e:
        raise UnsupportedModelError(
            f"make_dynamic needs to run '{parent.name}' to prove the new axes dynamic, but "
            f"ONNX Runtime cannot load it: {e} Make it loadable first.") from e


def _feeds(graph: onnx.GraphProto, trial: dict[str, int]) -> dict[str, np.ndarray]:
    """Like ``random_inputs``, for a proto that is not saved yet."""

    return graph_feeds(graph, dims=trial, batch=1, seed=0)


def _baked_in(parent: Model, trial: dict[str, int], what: str) -> UnsupportedModelError:
    at = ", ".join(f"{k}={v}" for k, v in trial.items())
    return UnsupportedModelError(
        f"make_dynamic: '{parent.name}' does not run with {at}: {what.rstrip('. ')}. The size "
        "is baked into the graph (e.g. a Reshape whose target shape was recorded as a constant "
        "when the model was traced, or a weight whose shape depends on it). Re-export the "
        "model with these axes dynamic (torch.onnx.export(..., dynamic_axes=...) or "
        "dynamic_shapes=...), or try sizes it supports with make_dynamic(..., sizes=...). "
        "Nothing was saved.")


def _io_details(proto: onnx.ModelProto) -> dict[str, list[str]]:
    return {"inputs": [str(i) for i in graph_inputs(proto.graph)],
            "outputs": [str(o) for o in graph_outputs(proto.graph)]}


def _jsonable(sizes: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if sizes is None:
        return None
    return {k: int(v) if is_size(v) else [int(x) for x in v] for k, v in sizes.items()}
