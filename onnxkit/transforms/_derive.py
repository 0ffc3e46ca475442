"""What every model transform shares: saving the result with its lineage, and verifying it
against its parent."""

from __future__ import annotations

import warnings
from collections import Counter
from typing import Any

import numpy as np
import onnx

from onnxkit.base import graph_inputs
from onnxkit.bench import compare
from onnxkit.errors import InputError, SessionError, UnsupportedModelError
from onnxkit.inspect import count_ops
from onnxkit.models import Model, Step, workspace
from onnxkit.runtime import crashes_onnxruntime, random_inputs, run, session

# Outputs of a shape-only change match the parent's; ORT may fuse differently once shapes
# are known, so allow float rounding.
SHAPE_RTOL, SHAPE_ATOL = 1e-5, 1e-6



def derive(parent: Model, proto: onnx.ModelProto, *, op: str, tag: str,
           params: dict[str, Any], details: dict[str, Any] | None = None) -> Model:
    """Save ``proto`` as ``<parent>.<tag>.onnx`` in the workspace, one lineage step further."""
    if proto.ir_version > parent.proto.ir_version and _opsets(proto) == _opsets(parent.proto):
        # Some onnx helpers stamp their own (newer) IR version, which onnxruntime may refuse.
        proto.ir_version = parent.proto.ir_version
    step = Step(op, params, source=str(parent.path), details=details or {})
    return workspace().save(proto, stem=parent.name, tag=tag, step=step, parent=parent)


def _opsets(proto: onnx.ModelProto) -> dict[str, int]:
    return {o.domain: o.version for o in proto.opset_import}


def op_changes(before: onnx.ModelProto, after: onnx.ModelProto) -> dict[str, list[int]]:
    """``{op: [count before, count after]}`` for every op type whose count changed."""
    a, b = Counter[str](), Counter[str]()
    count_ops(before.graph.node, a)
    count_ops(after.graph.node, b)
    return {op: [a[op], b[op]] for op in sorted(set(a) | set(b)) if a[op] != b[op]}


def loadable(child: Model, what: str, fix: str) -> Model:
    """``child`` if ONNX Runtime can create a session for it without crashing; else it is
    deleted and an :class:`~onnxkit.errors.UnsupportedModelError` says what crashed (the
    check runs in a child process: the notebook's kernel survives either way)."""
    crash = crashes_onnxruntime(child)
    if crash is None:
        return child
    workspace().discard(child)
    raise UnsupportedModelError(
        f"{what}: onnxruntime crashes ({crash}) creating a session for the result, an "
        f"onnxruntime bug; nothing was saved. {fix}")


def verified(parent: Model, child: Model, *, rtol: float, atol: float,
             feeds: dict[str, Any] | None = None, top1_suffices: bool = False) -> Model:
    """``child`` with the outcome of :func:`verify` recorded in its last lineage step.

    Warns (:class:`VerificationWarning`) when the outputs changed beyond tolerance, or when
    they could not be compared: a model whose inputs have a domain (categories a one-hot
    encoder knows, say) may refuse random inputs; its check is then left to the user.
    """
    check = verify(parent, child, rtol=rtol, atol=atol, feeds=feeds)
    if check["passed"] is None:
        warnings.warn(f"'{child.name}' was not verified: {check['skipped']}. Compare it on real "
                      f"inputs: onnxkit.compare(parent, child, feeds).", VerificationWarning,
                      stacklevel=3)
    elif top1_suffices and check["argmax_agreement"] == 1.0:
        check["passed"] = True  # class scores moved within tolerance of the decision
    if check["passed"] is False:
        warnings.warn(f"'{child.name}' differs from '{parent.name}' beyond rtol={rtol:g}, "
                      f"atol={atol:g}: {'; '.join(check['failed'])}. See its lineage.",
                      VerificationWarning, stacklevel=3)
    return workspace().annotate(child, verification=check)


class VerificationWarning(UserWarning):
    """A transformed model's outputs differ from its parent's beyond tolerance."""


def verify(reference: Model, candidate: Model, *, rtol: float, atol: float,
           feeds: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run both on the same (random) inputs; a summary fit for the lineage.

    A transform may change float precision at the interface (``to_fp16(keep_io_types=False)``):
    the candidate then gets the feeds cast to its input types, and its outputs are compared
    by value.
    """

    given = feeds is not None
    feeds = feeds or random_inputs(reference, batch=2)
    try:
        expected = run(reference, feeds)
    except SessionError as e:
        if given:
            raise
        return {"passed": None, "skipped": f"'{reference.name}' itself fails on random "
                                           f"inputs ({e})"}
    types = {i.name: i.dtype for i in graph_inputs(candidate.proto.graph)}
    got = run(candidate, {k: _cast_float(v, types.get(k)) for k, v in feeds.items()})
    got = {k: _cast_float(v, expected[k].dtype if k in expected else None)
           for k, v in got.items()}
    result = compare(expected, got, rtol=rtol, atol=atol)
    worst = max(result.outputs, key=lambda o: o.max_abs or 0.0)
    return {"passed": bool(result), "rtol": rtol, "atol": atol, "max_abs": worst.max_abs,
            "argmax_agreement": worst.argmax_agreement,
            "failed": [f"{o.name}: {o.reason}" for o in result.failed]}


def _cast_float(array: Any, dtype: Any) -> Any:
    """``array`` as ``dtype`` when both are floats of different precision, else unchanged."""
    if dtype is None or not isinstance(array, np.ndarray) or array.dtype.kind != "f":
        return array
    try:
        target = np.dtype(dtype)
    except TypeError:  # sequences, maps: nothing to cast
        return array
    return array.astype(target) if target.kind == "f" and target != array.dtype else array


def with_weights(parent: Model, proto: onnx.ModelProto) -> onnx.ModelProto:
    """``proto`` (made from ``parent.to_proto(with_weights=False)``) with its weights loaded."""
    if parent.external_data:
        onnx.load_external_data_for_model(proto, str(parent.path.parent))
    return proto


def verified_if_runnable(parent: Model, child: Model, *, same_feeds: bool) -> Model:
    """``verified(parent, child)`` at the tolerance of a shape-only change, unless ONNX Runtime
    cannot run even the parent (then the lineage says why it was not verified)."""
    try:
        session(parent)
        feeds = random_inputs(child if same_feeds else parent, batch=2)
    except (SessionError, InputError, UnsupportedModelError) as e:
        return workspace().annotate(child, verification={"skipped": str(e)})
    return verified(parent, child, rtol=SHAPE_RTOL, atol=SHAPE_ATOL, feeds=feeds)
