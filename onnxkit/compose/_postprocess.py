"""``with_postprocessing``: what the client did with a model's raw outputs — softmax, top-k,
class names, a decision threshold, non-maximum suppression — as graph outputs, checked
against the same steps in numpy."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
from onnx import TensorProto, helper

from onnxkit.base import TensorInfo, graph_outputs
from onnxkit.bench import compare
from onnxkit.compose._graph import OPSET, Builder, join, processing_model, saved, with_verification
from onnxkit.compose._nms import LETTERBOX, NMS, RAW_BOXES, RAW_SCORES, nms_graph
from onnxkit.errors import ParameterError
from onnxkit.models import Model, ModelLike, load
from onnxkit.runtime import random_inputs, run
from onnxkit.transforms import VerificationWarning, with_weights

RTOL, ATOL = 1e-5, 1e-5  # the same float steps as numpy's: rounding only
RAW = "raw"


def with_postprocessing(model: ModelLike, *, output: str | None = None,
                        softmax: bool | None = None, top_k: int | None = None,
                        labels: Sequence[str] | None = None, threshold: float | None = None,
                        nms: NMS | None = None, feeds: dict[str, np.ndarray] | None = None
                        ) -> Model:
    """``model`` followed by its post-processing, in one graph.

    A classifier's ``output`` (default its first; ``[batch, classes]``) becomes
    ``scores`` (after ``softmax=True``), ``class: int64[batch]`` (the best; with a
    ``threshold``: for two classes, class 1 when its score reaches it; otherwise the best
    when its score reaches it, else -1), ``label: string[batch]`` (with ``labels``; ``""``
    for -1), and with ``top_k``: ``top_scores``, ``top_classes`` (and ``top_labels``).
    A detector's outputs go through ``nms=NMS(...)`` instead (see :class:`NMS`); its
    ``labels`` name the classes. The model's other outputs pass through (but for those whose
    names the new outputs take: a classifier's own ``label``, say).

    Args:
        feeds: inputs to verify on (default random ones, batch 4).

    Returns:
        ``<name>.post.onnx``, verified against the same steps in numpy on ``feeds`` (strings
        and classes equal, scores and boxes within ``RTOL``/``ATOL``).

    Examples:
        >>> import onnxkit
        >>> from onnxkit.compose import with_postprocessing
        >>> m = with_postprocessing(onnxkit.samples.tiny_model(), softmax=True, top_k=2,
        ...                         labels=["cat", "dog", "bird"])
        >>> [o.name for o in onnxkit.summarize(m).outputs]
        ['scores', 'class', 'label', 'top_scores', 'top_classes', 'top_labels']
        >>> m.lineage[-1].details["verification"]["passed"]
        True
    """
    parent = load(model)
    outs = {o.name: o for o in graph_outputs(parent.proto.graph)}
    params = {"softmax": softmax, "top_k": top_k, "labels": list(labels) if labels else None,
              "threshold": threshold, "nms": asdict(nms) if nms else None}
    if nms is not None:
        if softmax or top_k or threshold is not None:
            raise ParameterError("with_postprocessing(nms=...) takes labels= alone; softmax, "
                                 "top_k and threshold are for classifiers (NMS has its own "
                                 "score threshold).")
        graph, io = _detection(nms, outs, labels, parent.name)
    else:
        source = _source(outs, output, parent.name)
        graph, io = _classification(source, softmax, top_k, labels, threshold), \
            [(source.name, RAW)]
    made = [o.name for o in graph.graph.output]  # they replace outputs of the same name
    kept = [n for n in outs if n not in made and n not in dict(io)] + made
    proto = join(with_weights(parent, parent.to_proto(with_weights=False)), graph, io,
                 at_least=OPSET, where="with_postprocessing", outputs=kept)
    child = saved(parent, proto, op="with_postprocessing", tag="post",
                  params={k: v for k, v in params.items() if v is not None})
    spec = {"nms": nms, "softmax": softmax, "top_k": top_k, "labels": labels,
            "threshold": threshold, "io": io}
    return _verified(parent, child, spec, feeds)


def _source(outs: dict[str, TensorInfo], output: str | None, name: str) -> TensorInfo:
    if output is not None and output not in outs:
        raise ParameterError(f"with_postprocessing(output=...): '{name}' has no output "
                             f"'{output}'; its outputs: {sorted(outs)}.")
    info = outs[output] if output is not None else next(iter(outs.values()))
    if not info.dtype.startswith("float") or info.shape is None or len(info.shape) != 2:
        raise ParameterError(f"with_postprocessing: '{info}' is not class scores "
                             "[batch, classes] (float); name that output with output=.")
    return info


def _classes(info: TensorInfo, labels: Sequence[str] | None) -> int | None:
    count = info.shape[-1] if info.shape else None
    if labels is not None and isinstance(count, int) and len(labels) != count:
        raise ParameterError(f"with_postprocessing(labels=...) has {len(labels)} names but "
                             f"'{info}' scores {count} classes; give one name per class.")
    return count if isinstance(count, int) else None


def _classification(info: TensorInfo, softmax: bool | None, top_k: int | None,
                    labels: Sequence[str] | None, threshold: float | None):
    classes = _classes(info, labels)
    if top_k is not None and (not isinstance(top_k, int) or top_k < 1 or
                              (classes is not None and top_k > classes)):
        raise ParameterError(f"with_postprocessing(top_k=...) must be an int from 1 to the "
                             f"{classes} classes; got {top_k!r}.")
    b = Builder()
    scores = b.node("Softmax", [RAW], out="scores", axis=-1) if softmax else \
        b.node("Identity", [RAW], out="scores")
    best = b.node("ArgMax", [scores], axis=1, keepdims=0)
    if threshold is None:
        b.node("Identity", [best], out="class")
    elif classes == 2:
        positive = b.node("Gather", [scores, b.const(1)], axis=1)
        b.node("Cast", [b.node("GreaterOrEqual", [positive, b.const(np.float32(threshold))])],
               out="class", to=TensorProto.INT64)
    else:
        top = b.node("ReduceMax", [scores, b.const([1])], keepdims=0)
        b.node("Where", [b.node("GreaterOrEqual", [top, b.const(np.float32(threshold))]), best,
                         b.const(np.int64(-1))], out="class")
    f, i, s = TensorProto.FLOAT, TensorProto.INT64, TensorProto.STRING
    outputs = [("scores", f, ["batch", classes]), ("class", i, ["batch"])]
    names = b.const(np.array(list(labels) + [""], dtype=object)) if labels else None
    if names:
        b.node("Gather", [names, "class"], out="label", axis=0)
        outputs.append(("label", s, ["batch"]))
    if top_k:
        b.nodes.append(helper.make_node("TopK", [scores, b.const([top_k])],
                                        ["top_scores", "top_classes"], axis=1))
        outputs += [("top_scores", f, ["batch", top_k]), ("top_classes", i, ["batch", top_k])]
        if names:
            b.node("Gather", [names, "top_classes"], out="top_labels", axis=0)
            outputs.append(("top_labels", s, ["batch", top_k]))
    inputs = [helper.make_tensor_value_info(RAW, f, ["batch", classes])]
    return processing_model(b.nodes, "postprocess", inputs,
                            [helper.make_tensor_value_info(*o) for o in outputs], b.inits)


def _detection(nms: NMS, outs: dict[str, TensorInfo], labels: Sequence[str] | None,
               name: str):
    for want in (nms.boxes, nms.scores):
        if want not in outs:
            raise ParameterError(f"with_postprocessing(nms=...): '{name}' has no output "
                                 f"'{want}' (its outputs: {sorted(outs)}); name the boxes and "
                                 "scores with NMS(boxes=..., scores=...).")
    box, score = outs[nms.boxes], outs[nms.scores]
    if box.shape is None or len(box.shape) != 3 or box.shape[-1] != 4 or \
            score.shape is None or len(score.shape) != 3:
        raise ParameterError(f"with_postprocessing(nms=...): boxes must be [batch, anchors, 4] "
                             f"and scores [batch, anchors, classes]; '{box}' and '{score}' "
                             "are not. Transpose them first (a YOLO export puts anchors "
                             "last).")
    _classes(score, labels)
    letterbox = "letterbox" in outs
    b = Builder()
    inputs, outputs = nms_graph(b, nms, letterbox=letterbox,
                                labels=list(labels) if labels else None)
    io = [(nms.boxes, RAW_BOXES), (nms.scores, RAW_SCORES)]
    if letterbox:
        io.append(("letterbox", LETTERBOX))
    return processing_model(b.nodes, "nms", inputs, outputs, b.inits), io


# --- the check --------------------------------------------------------------------------------

def reference(raw: dict[str, np.ndarray], spec: dict[str, Any]) -> dict[str, np.ndarray]:
    """The post-processing of ``raw`` (the bare model's outputs) in numpy."""
    labels = None if spec["labels"] is None else np.array(list(spec["labels"]) + [""], object)
    nms: NMS | None = spec["nms"]
    if nms is not None:
        out = nms.reference(raw[nms.boxes], raw[nms.scores], raw.get("letterbox"))
        if labels is not None:
            out["labels"] = labels[out["classes"]]
        return out
    x = raw[spec["io"][0][0]].astype(np.float32)
    if spec["softmax"]:
        e = np.exp(x - x.max(axis=1, keepdims=True))
        x = e / e.sum(axis=1, keepdims=True)
    best = x.argmax(axis=1)
    t = spec["threshold"]
    if t is not None:
        best = (x[:, 1] >= t).astype(np.int64) if x.shape[1] == 2 else \
            np.where(x.max(axis=1) >= t, best, -1)
    out = {"scores": x, "class": best.astype(np.int64)}
    if labels is not None:
        out["label"] = labels[out["class"]]
    if spec["top_k"]:
        order = np.argsort(-x, axis=1, kind="stable")[:, :spec["top_k"]]
        out["top_scores"] = np.take_along_axis(x, order, axis=1)
        out["top_classes"] = order.astype(np.int64)
        if labels is not None:
            out["top_labels"] = labels[order]
    return out


def _verified(parent: Model, child: Model, spec: dict[str, Any],
              feeds: dict[str, np.ndarray] | None) -> Model:
    feeds = feeds if feeds is not None else random_inputs(parent, batch=4)
    want = reference(run(parent, feeds), spec)
    got = run(child, feeds)
    exact = [k for k, v in want.items() if v.dtype.kind in "iOUb"]
    same = {k: bool(np.array_equal(got[k], want[k])) for k in exact}
    floats = compare({k: v for k, v in want.items() if k not in exact},
                     {k: got[k] for k in want if k not in exact}, rtol=RTOL, atol=ATOL)
    check = {"passed": all(same.values()) and bool(floats), "rtol": RTOL, "atol": ATOL,
             "equal": same, "max_abs": max((o.max_abs or 0.0 for o in floats.outputs),
                                           default=0.0)}
    if "count" in want:
        check["detections"] = int(want["count"].sum())
    if not check["passed"]:
        warnings.warn(f"'{child.name}' differs from the numpy reference of its "
                      f"post-processing: {check}", VerificationWarning, stacklevel=3)
    return with_verification(child, check)
