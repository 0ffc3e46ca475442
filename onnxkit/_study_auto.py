"""``Study.auto``: build the usual deployment variants of a model and measure them together."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from onnxkit._model import Model, ModelLike, load
from onnxkit._optimize import has_attention
from onnxkit.errors import Cancelled, ParameterError

if TYPE_CHECKING:
    from onnxkit._study import Study

Recipe = Callable[[Model, dict[str, Any]], Model]


def _ort(level: str) -> Recipe:
    def build(model: Model, options: dict[str, Any]) -> Model:
        from onnxkit._optimize import optimize

        return optimize(model, level=level, simplify=False,  # type: ignore[arg-type]
                        providers=options["providers"])
    return build


def _slim(model: Model, options: dict[str, Any]) -> Model:
    from onnxkit._optimize import optimize

    return optimize(model, level=None)


def _fp16(model: Model, options: dict[str, Any]) -> Model:
    from onnxkit._precision import to_fp16

    return to_fp16(model)


def _int8_dynamic(model: Model, options: dict[str, Any]) -> Model:
    from onnxkit.quantize import dynamic

    return dynamic(model)


def _int8_static(model: Model, options: dict[str, Any]) -> Model:
    from onnxkit.quantize import static

    return static(model, options["calibration"], format="qdq", per_channel=True,
                  progress=_quiet_progress)


def _fused(model: Model, options: dict[str, Any]) -> Model:
    from onnxkit._optimize import fuse_transformer

    # The Study times the fused model itself; fuse_transformer's own check is kept minimal.
    fused = fuse_transformer(model, providers=options["providers"], rounds=1, runs=1)
    if not fused.lineage[-1].details.get("fused"):
        raise _NotApplicable("onnxruntime.transformers found no subgraph to fuse")
    return fused


def _quiet_progress(done: int, total: int) -> None:
    """Calibration is one step of the study's progress; no bar of its own."""


# name -> how to build it from the reference; the order is the table's
RECIPES: dict[str, Recipe] = {
    "ort-basic": _ort("basic"), "ort-all": _ort("all"), "slim": _slim, "fp16": _fp16,
    "int8-dynamic": _int8_dynamic, "int8-static": _int8_static, "fused": _fused,
}


class _NotApplicable(Exception):
    """A recipe that does not apply to this model: left out of the study, not a failure."""


def _not_applicable(name: str, model: Model, options: dict[str, Any]) -> str | None:
    if name == "int8-static" and options["calibration"] is None:
        return "no calibration data"
    if name == "fused" and not has_attention(model):
        return "no attention (a Softmax feeding a MatMul) in the graph"
    return None


def auto(cls: type[Study], model: ModelLike, *, data: Any, labels: Any, calibration: Any,
         metric: Any, providers: Any, threads: int | None,
         progress: Callable[[int, int], None] | None, variants: Sequence[str] | None,
         feeds: Any, rounds: int, runs: int) -> Study:
    chosen = _chosen(variants)
    reference = load(model)
    study = cls.__new__(cls)  # set up without timing: the reference is timed with the rest
    study._setup(reference, feeds=feeds, data=data, labels=labels, metric=metric,
                 providers=providers, threads=threads, rounds=rounds, runs=runs)
    options = {"calibration": calibration, "providers": providers}
    built: dict[str, Model] = {}
    total = len(chosen) + 1  # each recipe, then measuring them all
    for done, name in enumerate(chosen):
        _report(progress, done, total)
        why_not = _not_applicable(name, reference, options)
        if why_not is not None:
            study._skipped[name] = why_not
            continue
        try:
            with warnings.catch_warnings():
                # the Study reports error and speed itself, measured interleaved
                warnings.simplefilter("ignore")
                built[name] = RECIPES[name](reference, options)
        except _NotApplicable as e:
            study._skipped[name] = str(e)
        except Cancelled:
            raise
        except Exception as e:  # a recipe this model cannot take: record it and go on
            study._record_failure(name, f"{type(e).__name__}: {e}")
    _report(progress, len(chosen), total)
    study._measure({"reference": reference, **built}, tolerate=True)
    _report(progress, total, total)
    return study


def _chosen(variants: Sequence[str] | None) -> list[str]:
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


def _report(progress: Callable[[int, int], None] | None, done: int, total: int) -> None:
    if progress is not None:
        progress(done, total)  # it may raise (Cancelled...) to stop: let that through
