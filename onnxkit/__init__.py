"""onnxkit: take a trained model to deployment with ONNX and ONNX Runtime, from a notebook.

The kernel is a set of plain functions returning :class:`Model` handles or frozen result
objects. ``import onnxkit`` loads nothing heavy: each name below is imported from its stage on
first use (onnx and numpy come with the first kernel call; torch, plotly, pandas,
onnxruntime's tools... only with the functions that need them).

The stages, each a subpackage that imports only the stages before it (the order is
enforced by ``tests/test_layering.py``, which lists them): ``models`` → ``inspect`` →
``runtime`` (run) → ``bench`` (measure) → ``bundled`` → ``transforms`` → ``compose`` → ``prune``
→ ``convert``, ``quantize`` → ``llm`` → ``samples`` → ``study``, ``deploy``, ``_view`` →
``serve``, ``cluster`` → ``_demo``, ``cli`` → ``widgets``.
"""

import importlib as _importlib
import typing as _typing

from onnxkit import errors
from onnxkit._version import __version__

# Public name -> the stage package that defines it, grouped by topic. These names are a
# contract, kept both ways by tests/test_public_api.py (a name may only leave through a
# deprecation alias). Each object's __module__ reads "onnxkit": this is its public home.
_EXPORTS: dict[str, str] = {
    # models
    "load": "models", "Model": "models", "ModelLike": "models", "Step": "models",
    "workspace": "models",
    "set_workspace": "models", "Workspace": "models",
    # inspect
    "summarize": "inspect", "ModelSummary": "inspect", "check": "inspect",
    "CheckReport": "inspect", "Problem": "inspect",
    # data
    "TensorInfo": "base", "random_inputs": "runtime",
    # run
    "providers": "runtime", "ProviderTable": "runtime", "ProviderFallbackWarning": "runtime",
    "provider_options": "runtime", "OptionSpec": "runtime", "session": "runtime",
    "run": "runtime", "OPT_LEVELS": "runtime", "EXECUTION_MODES": "runtime",
    # measure
    "compare": "bench", "Comparison": "bench", "OutputDiff": "bench",
    "benchmark": "bench", "BenchResult": "bench", "profile": "bench",
    "OpProfile": "bench", "NodeTime": "bench", "sweep": "bench", "SweepResult": "bench",
    "placement": "bench", "NodePlacement": "bench", "evaluate": "bench", "Evaluation": "bench",
    # optimize
    "optimize": "transforms", "OPTIMIZE_LEVELS": "transforms",
    "optimize_pipeline": "transforms",
    "fuse_transformer": "transforms", "FUSION_MODEL_TYPES": "transforms",
    "has_attention": "transforms",
    "to_fp16": "transforms", "fix_dims": "transforms", "make_dynamic": "transforms",
    "infer_shapes": "transforms", "extract": "transforms",
    "FusionSlowerWarning": "transforms", "VerificationWarning": "transforms",
    # compare variants
    "Study": "study", "Variant": "study", "Choice": "study",
    # view
    "view": "_view", "graph_view": "_view", "NetronView": "_view", "GraphView": "_view",
    "stop_views": "_view",
    # the whole path on a sample, as an HTML report
    "demo": "_demo", "DemoReport": "_demo",
}
# Public subpackages and modules, imported on first use too.
_SUBMODULES = ("samples", "widgets", "quantize", "convert", "prune", "deploy", "serve",
               "cluster", "results", "cli", "llm", "compose")

__all__ = [*_EXPORTS, "errors", *_SUBMODULES, "__version__"]

if _typing.TYPE_CHECKING:  # what type checkers and editors see; at run time, lazily
    from onnxkit import (
        cli,
        cluster,
        compose,
        convert,
        deploy,
        llm,
        prune,
        quantize,
        results,
        samples,
        serve,
        widgets,
    )
    from onnxkit._demo import DemoReport, demo
    from onnxkit._view import GraphView, NetronView, graph_view, stop_views, view
    from onnxkit.base import TensorInfo
    from onnxkit.bench import (
        BenchResult,
        Comparison,
        Evaluation,
        NodePlacement,
        NodeTime,
        OpProfile,
        OutputDiff,
        SweepResult,
        benchmark,
        compare,
        evaluate,
        placement,
        profile,
        sweep,
    )
    from onnxkit.inspect import CheckReport, ModelSummary, Problem, check, summarize
    from onnxkit.models import Model, ModelLike, Step, Workspace, load, set_workspace, workspace
    from onnxkit.runtime import (
        EXECUTION_MODES,
        OPT_LEVELS,
        OptionSpec,
        ProviderFallbackWarning,
        ProviderTable,
        provider_options,
        providers,
        random_inputs,
        run,
        session,
    )
    from onnxkit.study import Choice, Study, Variant
    from onnxkit.transforms import (
        FUSION_MODEL_TYPES,
        OPTIMIZE_LEVELS,
        FusionSlowerWarning,
        VerificationWarning,
        extract,
        fix_dims,
        fuse_transformer,
        has_attention,
        infer_shapes,
        make_dynamic,
        optimize,
        optimize_pipeline,
        to_fp16,
    )


def __getattr__(name: str) -> object:
    if name in _EXPORTS:
        value = getattr(_importlib.import_module(f"onnxkit.{_EXPORTS[name]}"), name)
    elif name in _SUBMODULES:
        value = _importlib.import_module(f"onnxkit.{name}")
    else:
        raise AttributeError(f"module 'onnxkit' has no attribute '{name}'")
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
