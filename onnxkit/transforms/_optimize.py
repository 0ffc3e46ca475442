"""``optimize``: onnxslim's simplification, then ONNX Runtime's offline graph optimizations."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Literal

import onnx

from onnxkit.base import one_of
from onnxkit.errors import ParameterError, SessionError, UnsupportedModelError
from onnxkit.models import Model, ModelLike, load
from onnxkit.runtime import Providers, register_custom_ops, resolve, session_options
from onnxkit.transforms._derive import derive, op_changes, verified

Level = Literal["basic", "extended", "layout", "all"]
# The levels an offline optimization can save (ORT's session levels without "disable").
OPTIMIZE_LEVELS: tuple[Level, ...] = ("basic", "extended", "layout", "all")


def optimize(model: ModelLike, *, level: Level | None = "all", simplify: bool = True,
             providers: Providers = None) -> Model:
    """Simplify with onnxslim, then apply ONNX Runtime's graph optimizations and save the result.

    Constant subgraphs (``ConstantOfShape``, shape arithmetic...) are folded, and the lineage
    records the op counts before/after and a check that the outputs are unchanged.

    Args:
        level: ORT's level: ``"basic"`` keeps standard ONNX ops (portable); ``"extended"``,
            ``"layout"`` and ``"all"`` add ORT-only fused ops tuned for the provider and CPU
            they ran on, so run the result with the same ORT build and hardware.
            ``None``: onnxslim only.
        simplify: run onnxslim's constant folding and simplification first.
        providers: the providers to optimize for (default CPU).

    Examples:
        >>> import onnxkit
        >>> fast = onnxkit.optimize(onnxkit.samples.tiny_model(), level="basic")
        >>> fast.name, fast.lineage[-1].details["verification"]["passed"]
        ('tiny.opt-basic', True)
    """
    if level is not None:
        one_of(level, OPTIMIZE_LEVELS, "optimize", "level",
               fix="pass level=None for onnxslim alone")
    if level is None and not simplify:
        raise ParameterError("optimize(level=None, simplify=False) would do nothing: set a "
                             "level or simplify=True.")
    parent = load(model)
    original = parent.to_proto()
    proto = slim(original, parent.name) if simplify else original
    if level is not None:
        proto = ort_optimized(proto, parent, level, providers)
    tag = (f"opt-{level}" if simplify else f"ort-{level}") if level else "slim"
    details: dict[str, Any] = {
        "nodes_before": len(original.graph.node), "nodes_after": len(proto.graph.node),
        "op_changes": op_changes(original, proto), "portable": level in (None, "basic")}
    params = {"level": level, "simplify": simplify, "providers": providers}
    child = derive(parent, proto, op="optimize", tag=tag, params=params, details=details)
    return verified(parent, child, rtol=1e-3, atol=1e-4)


def slim(proto: onnx.ModelProto, name: str) -> onnx.ModelProto:
    """onnxslim's simplification, the model's interface kept: inputs it found unused (the
    columns a ColumnTransformer ignores, say) stay, so callers feed what they fed before."""
    import onnxslim

    try:
        slimmed = onnxslim.slim(proto)
    except Exception as e:  # onnxslim raises assorted errors on graphs it cannot handle
        raise UnsupportedModelError(f"onnxslim could not simplify '{name}': {e}. Call "
                                    "optimize(..., simplify=False) to skip this step.") from e
    kept = {i.name for i in slimmed.graph.input}
    dropped = [i for i in proto.graph.input if i.name not in kept]
    if dropped:
        order = [i.name for i in proto.graph.input]
        inputs = sorted([*slimmed.graph.input, *dropped], key=lambda i: order.index(i.name)
                        if i.name in order else len(order))
        del slimmed.graph.input[:]
        slimmed.graph.input.extend(inputs)
    return slimmed


def ort_optimized(proto: onnx.ModelProto, parent: Model, level: Level,
                   providers: Providers) -> onnx.ModelProto:
    """Let ORT optimize while creating a session, and read back the graph it saved."""
    import onnxruntime as ort


    resolved, _ = resolve(providers)
    with tempfile.TemporaryDirectory(prefix="onnxkit-opt-", dir=parent.path.parent) as tmp:
        source, target = Path(tmp, "in.onnx"), Path(tmp, "out.onnx")
        # Written beside the parent so relative external-data locations still resolve.
        onnx.save_model(proto, str(source), save_as_external_data=bool(parent.external_data),
                        location="in.onnx.data")
        so = session_options(opt_level=level)
        so.optimized_model_filepath = str(target)
        register_custom_ops(so, parent)
        if parent.external_data:
            so.add_session_config_entry(
                "session.optimized_model_external_initializers_file_name", "out.onnx.data")
        try:
            ort.InferenceSession(str(source), so, providers=[n for n, _ in resolved],
                                 provider_options=[o for _, o in resolved])
        except Exception as e:
            raise SessionError(f"onnxruntime could not optimize '{parent.name}': {e}") from e
        return onnx.load_model(str(target), load_external_data=True)
