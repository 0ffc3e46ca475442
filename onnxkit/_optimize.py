"""``optimize`` (onnxslim + ORT's offline graph optimizations) and ``fuse_transformer``."""

from __future__ import annotations

import statistics
import tempfile
import warnings
from pathlib import Path
from typing import Any, Literal

import onnx

from onnxkit._feeds import Feeds, prepare_feeds
from onnxkit._model import Model, ModelLike, load
from onnxkit._session import Providers, session_options
from onnxkit._transform import derive, op_changes, verified
from onnxkit.errors import ParameterError, SessionError, UnsupportedModelError

Level = Literal["basic", "extended", "layout", "all"]
LEVELS = ("basic", "extended", "layout", "all")


class FusionSlowerWarning(UserWarning):
    """The fused transformer ran slower than the unfused model on the measured provider."""


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
    if level is not None and level not in LEVELS:
        raise ParameterError(f"optimize(level=...) must be one of {list(LEVELS)} or None; got "
                             f"{level!r}.")
    if level is None and not simplify:
        raise ParameterError("optimize(level=None, simplify=False) would do nothing: set a "
                             "level or simplify=True.")
    parent = load(model)
    original = parent.to_proto()
    proto = _slim(original, parent.name) if simplify else original
    if level is not None:
        proto = _ort_optimized(proto, parent, level, providers)
    tag = f"opt-{level}" if level else "slim"
    details: dict[str, Any] = {
        "nodes_before": len(original.graph.node), "nodes_after": len(proto.graph.node),
        "op_changes": op_changes(original, proto), "portable": level in (None, "basic")}
    params = {"level": level, "simplify": simplify, "providers": providers}
    child = derive(parent, proto, op="optimize", tag=tag, params=params, details=details)
    return verified(parent, child, rtol=1e-3, atol=1e-4)


def _slim(proto: onnx.ModelProto, name: str) -> onnx.ModelProto:
    import onnxslim

    try:
        return onnxslim.slim(proto)
    except Exception as e:  # onnxslim raises assorted errors on graphs it cannot handle
        raise UnsupportedModelError(f"onnxslim could not simplify '{name}': {e}. Call "
                                    "optimize(..., simplify=False) to skip this step.") from e


def _ort_optimized(proto: onnx.ModelProto, parent: Model, level: Level,
                   providers: Providers) -> onnx.ModelProto:
    """Let ORT optimize while creating a session, and read back the graph it saved."""
    import onnxruntime as ort

    from onnxkit._providers import resolve

    resolved, _ = resolve(providers)
    with tempfile.TemporaryDirectory(prefix="onnxkit-opt-", dir=parent.path.parent) as tmp:
        source, target = Path(tmp, "in.onnx"), Path(tmp, "out.onnx")
        # Written beside the parent so relative external-data locations still resolve.
        onnx.save_model(proto, str(source), save_as_external_data=bool(parent.external_data),
                        location="in.onnx.data")
        so = session_options(opt_level=level)
        so.optimized_model_filepath = str(target)
        if parent.external_data:
            so.add_session_config_entry(
                "session.optimized_model_external_initializers_file_name", "out.onnx.data")
        try:
            ort.InferenceSession(str(source), so, providers=[n for n, _ in resolved],
                                 provider_options=[o for _, o in resolved])
        except Exception as e:
            raise SessionError(f"onnxruntime could not optimize '{parent.name}': {e}") from e
        return onnx.load_model(str(target), load_external_data=True)


def fuse_transformer(model: ModelLike, *, model_type: str = "bert", num_heads: int | None = None,
                     hidden_size: int | None = None, providers: Providers = None,
                     feeds: Feeds | None = None, rounds: int = 3, runs: int = 30) -> Model:
    """Fuse attention, LayerNorm and GELU subgraphs with onnxruntime.transformers, and measure.

    Fusion does not always pay off (on a 2-core CPU a fused 6-layer BERT ran 1.8x slower than
    the unfused model under ORT's own ``all`` level), so both models are benchmarked at ORT's
    ``all`` level, interleaved over ``rounds``; the lineage records both p50 latencies, and a
    :class:`FusionSlowerWarning` is raised when the fused one is slower.

    Args:
        model_type: onnxruntime.transformers' model type (``"bert"``, ``"gpt2"``, ``"vit"``...).
        num_heads, hidden_size: the attention geometry; default: detected from the graph.
        feeds: inputs to benchmark with (default: ``random_inputs``).
    """
    from onnxruntime.transformers.optimizer import MODEL_TYPES, optimize_model

    if model_type not in MODEL_TYPES:
        raise ParameterError(f"fuse_transformer(model_type=...) must be one of "
                             f"{sorted(MODEL_TYPES)}; got {model_type!r}.")
    parent = load(model)
    if parent.external_data:
        raise UnsupportedModelError("fuse_transformer works on models under 2 GB stored in one "
                                    "file; this one has external data.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the optimizer logs each pattern it did not find
        fused = optimize_model(str(parent.path), model_type=model_type, num_heads=num_heads or 0,
                               hidden_size=hidden_size or 0, opt_level=0,
                               use_gpu=_wants_gpu(providers))
    stats = {k: v for k, v in fused.get_fused_operator_statistics().items() if v}
    params = {"model_type": model_type, "num_heads": num_heads, "hidden_size": hidden_size,
              "providers": providers}
    details: dict[str, Any] = {"fused": stats, "op_changes": op_changes(parent.proto, fused.model)}
    child = derive(parent, fused.model, op="fuse_transformer", tag=f"fused-{model_type}",
                   params=params, details=details)
    child = verified(parent, child, rtol=1e-3, atol=1e-3)
    return _measured(parent, child, providers, prepare_feeds(parent, feeds), rounds, runs)


def has_attention(model: ModelLike) -> bool:
    """Whether :func:`fuse_transformer` has something to fuse: attention's signature,
    softmax(scores) @ V, a Softmax whose output feeds a MatMul.

    Examples:
        >>> import onnxkit
        >>> from onnxkit._optimize import has_attention
        >>> has_attention(onnxkit.samples.tiny_model())
        False
    """
    nodes = load(model).proto.graph.node
    softmax_outputs = {out for n in nodes if n.op_type == "Softmax" for out in n.output}
    return any(n.op_type == "MatMul" and softmax_outputs & set(n.input) for n in nodes)


def _wants_gpu(providers: Providers) -> bool:
    names = [providers] if isinstance(providers, (str, tuple)) else list(providers or [])
    return any("cuda" in str(p).lower() or "tensorrt" in str(p).lower() for p in names)


def _measured(parent: Model, child: Model, providers: Providers, feeds: dict[str, Any],
              rounds: int, runs: int) -> Model:
    from onnxkit._bench import benchmark
    from onnxkit._workspace import workspace

    before, after = [], []
    for _ in range(rounds):  # interleaved, so machine drift hits both alike
        before.append(benchmark(parent, feeds, providers=providers, runs=runs).p50_ms)
        after.append(benchmark(child, feeds, providers=providers, runs=runs).p50_ms)
    p50_before, p50_after = statistics.median(before), statistics.median(after)
    speedup = p50_before / p50_after
    if speedup < 1.0:
        warnings.warn(f"The fused model is slower: p50 {p50_after:.3f} ms vs {p50_before:.3f} ms "
                      f"unfused ({1 / speedup:.2f}x) on {providers or 'CPU'}. Keep the unfused "
                      "model with onnxkit.optimize(level='all') for this provider.",
                      FusionSlowerWarning, stacklevel=2)
    return workspace().annotate(child, p50_before_ms=p50_before, p50_after_ms=p50_after,
                                speedup=speedup)
