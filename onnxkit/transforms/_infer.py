"""``infer_shapes``: type and shape every intermediate value (onnx, then ORT's symbolic pass)."""

from __future__ import annotations

from typing import Any

import onnx

from onnxkit.errors import UnsupportedModelError
from onnxkit.models import Model, ModelLike, load
from onnxkit.transforms._derive import derive, verified_if_runnable, with_weights
from onnxkit.transforms._dims import fully_known


def infer_shapes(model: ModelLike, *, symbolic: bool = True) -> Model:
    """A copy of ``model`` with the type and shape of intermediate values filled in.

    First onnx shape inference (with data propagation, so shapes computed by Shape/Gather/
    Concat chains are followed); then, where dims stay unknown and ``symbolic`` is true, ONNX
    Runtime's symbolic shape inference, which relates them to the input dims (``sequence``
    instead of ``unk__1``). When that fails, the onnx result is kept and the reason recorded.
    The model's inputs never change.

    Args:
        model: anything :func:`onnxkit.load` accepts.
        symbolic: also run ONNX Runtime's symbolic shape inference (default True).

    Returns:
        ``<name>.shapes.onnx`` in the workspace; its lineage counts, after each stage, the
        intermediate values typed and those whose shape is still not fully known.

    Raises:
        UnsupportedModelError: onnx shape inference fails on the model.

    Examples:
        >>> import onnxkit
        >>> shaped = onnxkit.infer_shapes(onnxkit.samples.tiny_model())
        >>> [s["typed"] for s in shaped.lineage[-1].details["stages"]]
        [0, 2]
    """
    parent = load(model)
    proto = parent.to_proto(with_weights=False)
    stages = [{"stage": "before", **census(proto.graph)}]
    try:
        proto = onnx.shape_inference.infer_shapes(proto, data_prop=True)
    except Exception as e:  # onnx raises InferenceError, ValidationError or RuntimeError
        raise UnsupportedModelError(
            f"infer_shapes: onnx shape inference fails on '{parent.name}': {e}. Run "
            "onnxkit.check(model) to find the node at fault.") from e
    stages.append({"stage": "onnx", **census(proto.graph)})
    if symbolic and stages[-1]["unknown_dims"]:
        proto, stage = symbolic_stage(proto)
        stages.append(stage)
    child = derive(parent, with_weights(parent, proto), op="infer_shapes",
                   tag="shapes" if symbolic else "shapes-onnx", params={"symbolic": symbolic},
                   details={"stages": stages})
    return verified_if_runnable(parent, child, same_feeds=False)


def symbolic_stage(proto: onnx.ModelProto) -> tuple[onnx.ModelProto, dict[str, Any]]:
    try:
        result = _ort_symbolic(proto)
    except Exception as e:  # it fails with anything from asserts to IndexError
        why = str(e) if isinstance(e, _Incomplete) else f"{type(e).__name__}: {e}"
        return proto, {"stage": "symbolic", "failed": why.strip()}
    stage: dict[str, Any] = {"stage": "symbolic"}
    if list(result.graph.input) != list(proto.graph.input):
        # auto_merge may pin an input dim to a size it met; the model's interface stays as is
        stage["inputs_kept"] = [i.name for i, j in zip(proto.graph.input, result.graph.input)
                                if i != j]
        del result.graph.input[:]
        result.graph.input.extend(proto.graph.input)
    return result, {**stage, **census(result.graph)}


class _Incomplete(Exception):
    """ORT's symbolic inference gave up: recorded as the stage's reason, never raised out."""


def _ort_symbolic(proto: onnx.ModelProto) -> onnx.ModelProto:
    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < 7:
        raise _Incomplete(f"it needs opset 7 or newer; the model has {opset}")
    engine = SymbolicShapeInference(int_max=2**31 - 1, auto_merge=True, guess_output_rank=True,
                                    verbose=0)
    if not all(hasattr(engine, a) for a in ("_preprocess", "_infer_impl", "run_",
                                            "_update_output_from_vi")):
        return SymbolicShapeInference.infer_shapes(proto, auto_merge=True, guess_output_rank=True)
    # The same steps as SymbolicShapeInference.infer_shapes, which, when it gives up, saves
    # 'sym_shape_infer_temp.onnx' (and its weights) into the current folder.
    engine._preprocess(proto)
    complete = False
    while engine.run_:
        complete = engine._infer_impl()
    engine._update_output_from_vi()
    if not complete:
        raise _Incomplete("Incomplete symbolic shape inference")
    return engine.out_mp_


def census(graph: onnx.GraphProto) -> dict[str, int]:
    """Intermediate values: how many there are, are typed, and lack a fully known shape."""
    outputs = {o.name for o in graph.output}
    names = [n for node in graph.node for n in node.output if n and n not in outputs]
    typed = {v.name: v for v in graph.value_info if v.type.WhichOneof("value")}
    return {"intermediates": len(names), "typed": sum(n in typed for n in names),
            "unknown_dims": sum(n not in typed or not fully_known(typed[n]) for n in names)}
