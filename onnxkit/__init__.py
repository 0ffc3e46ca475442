"""onnxkit: take a trained model to deployment with ONNX and ONNX Runtime, from a notebook.

The kernel is a set of plain functions returning :class:`Model` handles or frozen result
objects. Heavy libraries are imported where they are used, so ``import onnxkit`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

from onnxkit import errors  # noqa: E402
from onnxkit._bench import BenchResult, benchmark  # noqa: E402
from onnxkit._check import CheckReport, check  # noqa: E402
from onnxkit._compare import Comparison, OutputDiff, compare  # noqa: E402
from onnxkit._extract import extract  # noqa: E402
from onnxkit._infer import infer_shapes  # noqa: E402
from onnxkit._inputs import random_inputs  # noqa: E402
from onnxkit._model import Model, Step, load  # noqa: E402
from onnxkit._optimize import FusionSlowerWarning, fuse_transformer, optimize  # noqa: E402
from onnxkit._precision import to_fp16  # noqa: E402
from onnxkit._profile import NodePlacement, NodeTime, OpProfile, placement, profile  # noqa: E402
from onnxkit._providers import ProviderFallbackWarning, ProviderTable, providers  # noqa: E402
from onnxkit._session import run, session  # noqa: E402
from onnxkit._shapes import fix_dims, make_dynamic  # noqa: E402
from onnxkit._structure import Problem  # noqa: E402
from onnxkit._summary import ModelSummary, summarize  # noqa: E402
from onnxkit._transform import VerificationWarning  # noqa: E402
from onnxkit._types import TensorInfo  # noqa: E402
from onnxkit._workspace import Workspace, set_workspace, workspace  # noqa: E402

# Subpackages with heavy dependencies load on first attribute access.
_LAZY_SUBMODULES = ("samples", "widgets", "cli", "quantize", "convert")

__all__ = [
    # models
    "load", "Model", "Step", "summarize", "ModelSummary", "TensorInfo", "check", "CheckReport",
    "Problem",
    # data
    "random_inputs",
    # run
    "providers", "ProviderTable", "ProviderFallbackWarning", "session", "run", "placement",
    "NodePlacement",
    # measure
    "compare", "Comparison", "OutputDiff", "benchmark", "BenchResult", "profile", "OpProfile",
    "NodeTime",
    # optimize
    "optimize", "fuse_transformer", "to_fp16", "fix_dims", "make_dynamic", "infer_shapes",
    "extract", "FusionSlowerWarning", "VerificationWarning",
    # workspace
    "workspace", "set_workspace", "Workspace",
    # modules
    "errors", "samples", "widgets", "quantize", "convert",
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"onnxkit.{name}")
    raise AttributeError(f"module 'onnxkit' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
