"""``fuse_transformer``: onnxruntime.transformers' attention, LayerNorm and GELU fusions,
measured against the unfused model; ``has_attention``: is there anything to fuse."""

from __future__ import annotations

import statistics
import warnings
from typing import Any, Literal, get_args

from onnxkit.base import one_of
from onnxkit.errors import UnsupportedModelError
from onnxkit.models import Model, ModelLike, load, workspace
from onnxkit.runtime import Feeds, Providers, benchmark, prepare_feeds
from onnxkit.transforms._derive import derive, op_changes, verified

FusionModelType = Literal["bert", "bart", "gpt2", "gpt_neox", "t5", "vit", "swin", "clip", "phi",
                          "qwen3", "conformer", "tnlr", "unet", "vae", "mmdit", "sam2",
                          "bert_tf", "bert_keras", "gpt2_tf"]
# onnxruntime.transformers' model types (its optimizer.MODEL_TYPES), in the order offered.
FUSION_MODEL_TYPES: tuple[FusionModelType, ...] = get_args(FusionModelType)


class FusionSlowerWarning(UserWarning):
    """The fused transformer ran slower than the unfused model on the measured provider."""


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
    from onnxruntime.transformers.optimizer import optimize_model

    one_of(model_type, FUSION_MODEL_TYPES, "fuse_transformer", "model_type")
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
        >>> from onnxkit.transforms import has_attention
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
