"""``fuse_transformer``: onnxruntime.transformers' attention, LayerNorm and GELU fusions,
measured against the unfused model."""

from __future__ import annotations

import warnings
from typing import Any, Literal, get_args

from onnxkit.base import Params
from onnxkit.bench import measure_models
from onnxkit.errors import UnsupportedModelError
from onnxkit.models import Model, ModelLike, load, workspace
from onnxkit.runtime import Feeds, Providers
from onnxkit.transforms._attention import attention_geometry, has_attention
from onnxkit.transforms._derive import derive, op_changes, verified

FusionModelType = Literal["bert", "bart", "gpt2", "gpt_neox", "t5", "vit", "swin", "clip", "phi",
                          "qwen3", "conformer", "tnlr", "unet", "vae", "mmdit", "sam2",
                          "bert_tf", "bert_keras", "gpt2_tf"]
# onnxruntime.transformers' model types (its optimizer.MODEL_TYPES), in the order offered.
FUSION_MODEL_TYPES: tuple[FusionModelType, ...] = get_args(FusionModelType)
_ATTENTION_OPS = ("Attention", "MultiHeadAttention", "GroupQueryAttention", "PackedAttention")


class FusionSlowerWarning(UserWarning):
    """The fused transformer ran slower than the unfused model on the measured provider,
    beyond the measurement's spread."""


def fuse_transformer(model: ModelLike, *, model_type: str = "bert", num_heads: int | None = None,
                     hidden_size: int | None = None, providers: Providers = None,
                     feeds: Feeds | None = None, rounds: int = 5, max_rounds: int = 30,
                     budget_s: float = 20.0, timed: bool = True) -> Model:
    """Fuse attention, LayerNorm and GELU subgraphs with onnxruntime.transformers, and measure.

    Fusion does not always pay off (on a 2-core CPU a fused 6-layer BERT ran 1.8x slower than
    the unfused model under ORT's own ``all`` level), so both models are timed at ORT's
    ``all`` level in interleaved rounds (:func:`onnxkit.bench.measure`); the lineage records
    both p50 latencies and the speedup with its 95% interval, and a
    :class:`FusionSlowerWarning` is raised when the fused one is slower beyond that spread.
    The lineage also says which fusions matched, and when attention was found in the graph
    but onnxruntime's Attention fusion did not match it.

    Args:
        model_type: onnxruntime.transformers' model type (``"bert"``, ``"gpt2"``, ``"vit"``...).
        num_heads, hidden_size: the attention geometry; default: read from the graph
            (:func:`~onnxkit.transforms.attention_geometry`).
        feeds: inputs to time with (default: ``random_inputs``).
        rounds, max_rounds, budget_s: the timing (see :func:`onnxkit.bench.measure`).
        timed: False skips the timing (e.g. when a Study times the model itself).

    Raises:
        UnsupportedModelError: onnxruntime.transformers failed on this graph (the message
            names the fusion and its error), or the model has external data.
    """
    arg = Params("fuse_transformer")
    arg.one_of(model_type, FUSION_MODEL_TYPES, "model_type")
    parent = load(model)
    if parent.external_data:
        raise UnsupportedModelError("fuse_transformer works on models under 2 GB stored in one "
                                    "file; this one has external data.")
    found_heads, found_hidden = attention_geometry(parent)
    geometry = (num_heads or found_heads, hidden_size or found_hidden)
    fused = _optimized(parent, model_type, geometry, providers)
    stats = {k: v for k, v in fused.get_fused_operator_statistics().items() if v}
    params = {"model_type": model_type, "num_heads": num_heads, "hidden_size": hidden_size,
              "providers": providers}
    details: dict[str, Any] = {"fused": stats, "attention": _attention_note(parent, stats,
                                                                            geometry),
                               "num_heads": geometry[0], "hidden_size": geometry[1],
                               "op_changes": op_changes(parent.proto, fused.model)}
    child = derive(parent, fused.model, op="fuse_transformer", tag=f"fused-{model_type}",
                   params=params, details=details)
    child = verified(parent, child, rtol=1e-3, atol=1e-3)
    if not timed:
        return child
    how = {"min_rounds": arg.integer(rounds, "rounds", high=10_000),
           "max_rounds": max_rounds, "budget_s": budget_s}
    return _measured(parent, child, providers, feeds, how)


def _optimized(parent: Model, model_type: str, geometry: tuple[int | None, int | None],
               providers: Providers) -> Any:
    from onnxruntime.transformers.optimizer import optimize_model

    heads, hidden = geometry
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the optimizer logs each pattern it did not find
            return optimize_model(str(parent.path), model_type=model_type,
                                  num_heads=heads or 0, hidden_size=hidden or 0, opt_level=0,
                                  use_gpu=_wants_gpu(providers))
    except Exception as e:  # a pattern matcher that trips over this graph
        raise UnsupportedModelError(
            f"fuse_transformer(model_type={model_type!r}): onnxruntime.transformers' "
            f"{model_type} fusion failed on '{parent.name}' with {type(e).__name__}: {e}. "
            "Try another model_type (e.g. 'bert' for an encoder), or keep the model unfused "
            "(onnxkit.optimize(level='all') applies ORT's generic fusions).") from e


def _attention_note(parent: Model, stats: dict[str, int],
                    geometry: tuple[int | None, int | None]) -> str:
    fused = sum(stats.get(op, 0) for op in _ATTENTION_OPS)
    if fused:
        return f"fused {fused} attention block(s) ({geometry[0]} heads, hidden {geometry[1]})"
    if not has_attention(parent):
        return "no attention in the graph"
    if None in geometry:
        return ("not fused: the graph has attention, but its heads/hidden size could not be "
                "read from it; pass num_heads= and hidden_size=")
    return ("not fused: the graph has attention, but onnxruntime.transformers' Attention "
            "patterns did not match this export (other fusions were applied)")


def _wants_gpu(providers: Providers) -> bool:
    names = [providers] if isinstance(providers, (str, tuple)) else list(providers or [])
    return any("cuda" in str(p).lower() or "tensorrt" in str(p).lower() for p in names)


def _measured(parent: Model, child: Model, providers: Providers, feeds: Feeds | None,
              how: dict[str, Any]) -> Model:
    timing, _ = measure_models({"unfused": parent, "fused": child}, feeds, providers=providers,
                               where="fuse_transformer", **how)
    fast = timing.speedup("fused")
    before, after = timing.percentile("unfused", 50), timing.percentile("fused", 50)
    if fast.verdict == "slower":
        warnings.warn(f"The fused model is slower: p50 {after:.3f} ms vs {before:.3f} ms "
                      f"unfused, speedup {fast} on {providers or 'CPU'}. Keep the unfused "
                      "model with onnxkit.optimize(level='all') for this provider.",
                      FusionSlowerWarning, stacklevel=3)
    return workspace().annotate(child, p50_before_ms=before, p50_after_ms=after,
                                speedup=fast.median, speedup_low=fast.low,
                                speedup_high=fast.high, speedup_verdict=fast.verdict)
