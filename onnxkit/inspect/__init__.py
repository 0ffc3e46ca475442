"""Inspect a model without running it through a user's code path: ``summarize`` (what it is,
read from the proto alone) and ``check`` (is it valid, can ONNX Runtime load it; the native
checks run in a child process, so a crash there is a failing report, not a dead kernel).

May import: :mod:`onnxkit.models` and the foundation (base, results, errors).
"""

from onnxkit.base import front_door_names, publish
from onnxkit.inspect._check import STAGES, CheckReport, check
from onnxkit.inspect._structure import Problem, structural_problems
from onnxkit.inspect._summary import (
    InitializerInfo,
    ModelSummary,
    count_ops,
    op_key,
    subgraphs,
    summarize,
    tensor_bytes,
)

__all__ = ["STAGES", "CheckReport", "check", "Problem", "structural_problems", "InitializerInfo",
           "ModelSummary", "count_ops", "op_key", "subgraphs", "summarize", "tensor_bytes"]

publish(globals(), "onnxkit", front_door_names(__name__))
