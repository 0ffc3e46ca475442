"""``optimize_pipeline``: the graph transforms a user picks, run in the one order that is
right (fix dims → fuse → optimize → float16), each a verified step in the model's lineage.
The Optimize panel and ``onnxkit optimize`` both run it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from onnxkit.base import one_of
from onnxkit.errors import ParameterError
from onnxkit.models import Model, ModelLike, load
from onnxkit.transforms._attention import has_attention
from onnxkit.transforms._fusion import FUSION_MODEL_TYPES, fuse_transformer
from onnxkit.transforms._optimize import Level, optimize
from onnxkit.transforms._precision import to_fp16
from onnxkit.transforms._shapes import fix_dims

OnStep = Callable[[str, int, int], None]  # (what runs now, steps done, steps in all)


def optimize_pipeline(model: ModelLike, *, fix: Mapping[str, int | Sequence[int]] | None = None,
                      fuse: str | None = None, level: Level | None = "basic",
                      simplify: bool = True, fp16: bool = False,
                      on_step: OnStep | None = None) -> Model:
    """Run the chosen transforms in order and return the last model (each step verified and
    recorded in its lineage; ``model.lineage[-1].call()`` reads as the call that made it).

    Args:
        fix: symbolic dims to fix first (:func:`fix_dims`), e.g. ``{"batch": 1}``.
        fuse: a :data:`FUSION_MODEL_TYPES` name to fuse transformer subgraphs
            (:func:`fuse_transformer`); the graph must have attention.
        level, simplify: :func:`optimize` (``level=None`` and ``simplify=False`` skip it).
        fp16: convert to float16 last (:func:`to_fp16`).
        on_step: called before each step with (description, steps done, steps in all).

    Examples:
        >>> import onnxkit
        >>> m = onnxkit.optimize_pipeline(onnxkit.samples.tiny_model(), level="basic")
        >>> m.lineage[-1].call()
        "optimize(level='basic', simplify=True)"
    """
    handle = load(model)
    steps = _steps(handle, fix, fuse, level, simplify, fp16)
    for done, (what, run) in enumerate(steps):
        if on_step is not None:
            on_step(what, done, len(steps))
        handle = run(handle)
    return handle


def _steps(handle: Model, fix: Mapping[str, int | Sequence[int]] | None, fuse: str | None,
           level: Level | None, simplify: bool, fp16: bool
           ) -> list[tuple[str, Callable[[Model], Model]]]:
    steps: list[tuple[str, Callable[[Model], Model]]] = []
    if fix:
        steps.append(("fixing dims", lambda m: fix_dims(m, fix)))
    if fuse is not None:
        one_of(fuse, FUSION_MODEL_TYPES, "optimize_pipeline", "fuse")
        if not has_attention(handle):
            raise ParameterError("optimize_pipeline(fuse=...): this graph has no attention, so "
                                 "transformer fusion does not apply. Pass fuse=None.")
        steps.append(("fusing transformer subgraphs",
                      lambda m: fuse_transformer(m, model_type=fuse)))
    if level is not None or simplify:
        steps.append(("optimizing the graph",
                      lambda m: optimize(m, level=level, simplify=simplify)))
    if fp16:
        steps.append(("converting to float16", to_fp16))
    if not steps:
        raise ParameterError("optimize_pipeline: nothing to do. Choose a level, simplify=True, "
                             "fuse= (transformer graphs), fp16=True or fix=.")
    return steps
