"""Transforms: a model in, a new verified ``Model`` out (written to the workspace with its
lineage). Graph optimization and fusion, precision, shapes, subgraphs.

May import: :mod:`onnxkit.runtime`, :mod:`onnxkit.inspect`, :mod:`onnxkit.models` and the
foundation.
"""

from onnxkit.base import front_door_names, publish
from onnxkit.transforms._attention import attention_geometry, has_attention
from onnxkit.transforms._derive import (
    VerificationWarning,
    derive,
    loadable,
    op_changes,
    verified,
    verify,
    with_weights,
)
from onnxkit.transforms._extract import extract
from onnxkit.transforms._fusion import (
    FUSION_MODEL_TYPES,
    FusionModelType,
    FusionSlowerWarning,
    fuse_transformer,
)
from onnxkit.transforms._infer import census, infer_shapes, symbolic_stage
from onnxkit.transforms._optimize import OPTIMIZE_LEVELS, optimize, ort_optimized, slim
from onnxkit.transforms._pipeline import optimize_pipeline
from onnxkit.transforms._precision import to_fp16
from onnxkit.transforms._shapes import fix_dims, make_dynamic

__all__ = [
    "VerificationWarning", "derive", "loadable", "op_changes", "verified", "verify", "with_weights",
    "extract", "FUSION_MODEL_TYPES", "FusionModelType", "FusionSlowerWarning",
    "fuse_transformer", "attention_geometry", "has_attention", "census", "infer_shapes",
    "symbolic_stage",
    "OPTIMIZE_LEVELS", "optimize", "optimize_pipeline", "ort_optimized", "slim", "to_fp16",
    "fix_dims", "make_dynamic",
]

publish(globals(), "onnxkit", front_door_names(__name__))
