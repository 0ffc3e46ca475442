"""Predicates on shapes that fix_dims, make_dynamic and infer_shapes share."""

from __future__ import annotations

import re

import numpy as np
import onnx

from onnxkit.base import tensor_info

# onnx shape inference names dims it cannot relate to anything "unk__<n>": still unknown.
_PLACEHOLDER = re.compile(r"unk__\d+")


def fully_known(value: onnx.ValueInfoProto) -> bool:
    if value.type.WhichOneof("value") != "tensor_type":
        return True  # sequences and maps have no shape to complete
    shape = tensor_info(value).shape
    return shape is not None and all(isinstance(d, int) or is_dim_name(d) for d in shape)


def fully_fixed(value: onnx.ValueInfoProto) -> bool:
    shape = tensor_info(value).shape
    return shape is not None and all(isinstance(d, int) for d in shape)


def is_dim_name(dim: object) -> bool:
    return isinstance(dim, str) and dim != "?" and not _PLACEHOLDER.fullmatch(dim)


def is_size(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and bool(value > 0)
