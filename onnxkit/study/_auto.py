"""``Study.auto``: build the usual deployment variants of a model and measure them together."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from onnxkit.errors import Cancelled, ParameterError
from onnxkit.models import Model
from onnxkit.prune import find_groups, structured
from onnxkit.quantize import dynamic, static
from onnxkit.transforms import fuse_transformer, has_attention, optimize, to_fp16

Recipe = Callable[[Model, dict[str, Any]], Model]


def _ort(level: str) -> Recipe:
    def build(model: Model, options: dict[str, Any]) -> Model:
        return optimize(model, level=level, simplify=False,  # type: ignore[arg-type]
                        providers=options["providers"])
    return build


def _slim(model: Model, options: dict[str, Any]) -> Model:
    return optimize(model, level=None)


def _fp16(model: Model, options: dict[str, Any]) -> Model:
    return to_fp16(model)


def _int8_dynamic(model: Model, options: dict[str, Any]) -> Model:
    return dynamic(model)


def _int8_static(model: Model, options: dict[str, Any]) -> Model:
    return static(model, options["calibration"], format="qdq", per_channel=True,
                  progress=_quiet_progress)


def _fused(model: Model, options: dict[str, Any]) -> Model:
    fused = fuse_transformer(model, providers=options["providers"], timed=False)  # timed here
    if not fused.lineage[-1].details.get("fused"):
        raise _NotApplicable("onnxruntime.transformers found no subgraph to fuse ("
                             f"attention: {fused.lineage[-1].details['attention']})")
    return fused


def _pruned(model: Model, options: dict[str, Any]) -> Model:
    return structured(model, PRUNE_RATIO)


def _quiet_progress(done: int, total: int) -> None:
    """Calibration is one step of the study's progress; no bar of its own."""


# name -> how to build it from the reference; the order is the table's
RECIPES: dict[str, Recipe] = {
    "ort-basic": _ort("basic"), "ort-all": _ort("all"), "slim": _slim, "fp16": _fp16,
    "int8-dynamic": _int8_dynamic, "int8-static": _int8_static, "pruned-25": _pruned,
    "fused": _fused,
}
PRUNE_RATIO = 0.25  # channels removed by the pruned-25 recipe (no fine-tuning)


class _NotApplicable(Exception):
    """A recipe that does not apply to this model: left out of the study, not a failure."""


def _not_applicable(name: str, model: Model, options: dict[str, Any]) -> str | None:
    if name == "int8-static" and options["calibration"] is None:
        return "no calibration data"
    if name == "pruned-25" and not find_groups(model.to_proto())[0]:
        return "no Conv/Gemm/MatMul whose channels can be pruned alone (see prune.find_groups)"
    if name == "fused" and not has_attention(model):
        return "no attention (a Softmax feeding a MatMul, directly or through a NaN guard)"
    return None


@dataclass
class Built:
    """What :func:`build_variants` made of the recipes: models, failures, recipes left out."""

    models: dict[str, Model] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def build_variants(reference: Model, recipes: Sequence[str], options: dict[str, Any],
                   progress: Callable[[int, int], None] | None, total: int) -> Built:
    """Each recipe applied to ``reference``; ``progress(i, total)`` before recipe ``i``. A
    recipe that fails is recorded, not raised (except a cancellation)."""
    built = Built()
    for done, name in enumerate(recipes):
        report(progress, done, total)
        why_not = _not_applicable(name, reference, options)
        if why_not is not None:
            built.skipped[name] = why_not
            continue
        try:
            with warnings.catch_warnings():
                # the Study reports error and speed itself, measured interleaved
                warnings.simplefilter("ignore")
                built.models[name] = RECIPES[name](reference, options)
        except _NotApplicable as e:
            built.skipped[name] = str(e)
        except Cancelled:
            raise
        except Exception as e:  # a recipe this model cannot take: record it and go on
            built.failed[name] = f"{type(e).__name__}: {e}"
    return built


def chosen_recipes(variants: Sequence[str] | None) -> list[str]:
    if variants is None:
        return list(RECIPES)
    if isinstance(variants, str) or not all(isinstance(v, str) for v in variants):
        raise ParameterError(f"Study.auto(variants=...) must be a list of recipe names from "
                             f"{list(RECIPES)}; got {variants!r}.")
    unknown = [v for v in variants if v not in RECIPES]
    if unknown:
        raise ParameterError(f"Study.auto(variants=...) has unknown recipe(s) {unknown}; "
                             f"choose from {list(RECIPES)}.")
    return list(dict.fromkeys(variants))


def report(progress: Callable[[int, int], None] | None, done: int, total: int) -> None:
    if progress is not None:
        progress(done, total)  # it may raise (Cancelled...) to stop: let that through


@contextlib.contextmanager
def progress_bar(progress: Callable[[int, int], None] | None, total: int, model: Model,
                 budget_s: float | None) -> Iterator[Callable[[int, int], None] | None]:
    """The caller's progress callback, or a tqdm bar over the recipes and the timing, whose
    title says how long the study is expected to take (its budget)."""
    if progress is not None:
        yield progress
        return
    from tqdm.auto import tqdm

    expected = f" (budget {budget_s:.0f} s)" if budget_s is not None else ""
    with tqdm(total=total, desc=f"Study.auto of '{model.name}'{expected}", leave=False) as bar:
        def step(done: int, _total: int) -> None:
            bar.update(done - bar.n)
            bar.set_postfix_str("timing" if done == total - 1 else "")

        yield step
