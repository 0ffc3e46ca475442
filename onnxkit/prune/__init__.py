"""Pruning: weights removed from a model, every result a new ``Model`` with its lineage.

* :func:`magnitude` zeroes the smallest weights (unstructured sparsity): smaller once
  compressed, but no faster on ONNX Runtime's dense CPU kernels — the lineage says so.
* :func:`structured` removes whole channels (and the inputs that read them), so the tensors
  shrink and the model runs faster; groups whose channels must stay aligned (residual Add,
  Concat) are left whole, with the reason recorded.
* :func:`find_groups` lists what :func:`structured` can prune and why the rest cannot be.

Left out: 2:4 semi-structured sparsity. ONNX Runtime has no CPU kernel for it and its GPU
path (TensorRT's sparse tensor cores) cannot be checked here, so its gain could not be
verified.

May import: :mod:`onnxkit.transforms`, :mod:`onnxkit.runtime` and the stages before them.
"""

from onnxkit.base import publish as _publish
from onnxkit.prune._magnitude import magnitude
from onnxkit.prune._measures import flops, parameters, zipped_size
from onnxkit.prune._structured import find_groups, structured

__all__ = ["magnitude", "structured", "find_groups", "flops", "parameters", "zipped_size"]

_publish(globals(), __name__, __all__)
