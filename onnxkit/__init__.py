"""onnxkit: take a trained model to deployment with ONNX and ONNX Runtime, from a notebook.

The kernel is a set of plain functions returning :class:`Model` handles or frozen result
objects. ``import onnxkit`` loads nothing heavy: each name below is imported from its module
on first use (onnx and numpy come with the first kernel call; torch, plotly, pandas,
onnxruntime's tools... only with the functions that need them).
"""

from __future__ import annotations

import importlib
from typing import Any

from onnxkit import errors

__version__ = "0.1.0"

# Public name -> the module that defines it, grouped by topic (the contract in DESIGN.md).
_EXPORTS: dict[str, str] = {
    # models
    "load": "_model", "Model": "_model", "Step": "_model", "summarize": "_summary",
    "ModelSummary": "_summary", "TensorInfo": "_types", "check": "_check",
    "CheckReport": "_check", "Problem": "_structure",
    # data
    "random_inputs": "_inputs",
    # run
    "providers": "_providers", "ProviderTable": "_providers",
    "ProviderFallbackWarning": "_providers", "provider_options": "_provider_options",
    "OptionSpec": "_provider_options", "session": "_session", "run": "_session",
    "placement": "_profile", "NodePlacement": "_profile",
    # measure
    "compare": "_compare", "Comparison": "_compare", "OutputDiff": "_compare",
    "benchmark": "_bench", "BenchResult": "_bench", "profile": "_profile",
    "OpProfile": "_profile", "NodeTime": "_profile", "sweep": "_sweep",
    "SweepResult": "_sweep",
    # compare variants
    "Study": "_study", "Variant": "_study",
    # optimize
    "optimize": "_optimize", "fuse_transformer": "_optimize", "to_fp16": "_precision",
    "fix_dims": "_shapes", "make_dynamic": "_shapes", "infer_shapes": "_infer",
    "extract": "_extract", "FusionSlowerWarning": "_optimize",
    "VerificationWarning": "_transform",
    # view
    "view": "_view", "graph_view": "_graph_view", "NetronView": "_view",
    "GraphView": "_graph_view", "stop_views": "_view",
    # workspace
    "workspace": "_workspace", "set_workspace": "_workspace", "Workspace": "_workspace",
    # the whole path on a sample, as an HTML report
    "demo": "_demo", "DemoReport": "_demo",
}
_SUBMODULES = ("samples", "widgets", "quantize", "convert", "deploy", "cli")

__all__ = [*_EXPORTS, "errors", "samples", "widgets", "quantize", "convert", "deploy",
           "__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"onnxkit.{_EXPORTS[name]}"), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"onnxkit.{name}")
    else:
        raise AttributeError(f"module 'onnxkit' has no attribute '{name}'")
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
