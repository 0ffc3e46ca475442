"""Int8 dynamic and static quantization, and int4/int8 weight-only, via onnxruntime.quantization."""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import io
import json
import logging
import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, get_args

import onnx

from onnxkit.base import one_of
from onnxkit.errors import ParameterError, UnsupportedModelError
from onnxkit.models import Model, ModelLike, Step, load, workspace
from onnxkit.quantize._calibration import (
    Calibration,
    Progress,
    as_reader,
    calibration_feeds,
    check_equal_batches,
)
from onnxkit.transforms import census, derive, loadable, ort_optimized, slim, symbolic_stage

Method = Literal["minmax", "entropy", "percentile", "distribution"]
Format = Literal["qdq", "qoperator"]
Mode = Literal["dynamic", "static", "int4"]
# The vocabulary the panels and the CLI offer: how activation ranges are calibrated, how the
# quantized graph is written, and the recipes (int8 dynamic, int8 static, int4 weight-only).
METHODS: tuple[Method, ...] = get_args(Method)
FORMATS: tuple[Format, ...] = get_args(Format)
MODES: tuple[Mode, ...] = get_args(Mode)
_ORT_METHODS: dict[str, str] = dict(zip(METHODS, ("MinMax", "Entropy", "Percentile",
                                                  "Distribution")))
_ORT_FORMATS: dict[str, str] = dict(zip(FORMATS, ("QDQ", "QOperator")))
_TYPES = {"int8": "QInt8", "uint8": "QUInt8"}
_QUANTIZED_OPS = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "MatMulInteger",
                  "ConvInteger", "QLinearConv", "QLinearMatMul", "QGemm", "QAttention",
                  "MatMulNBits", "DynamicQuantizeMatMul", "QLinearAdd"}
PREPARE = "quantize.prepare"


def _choice(value: Any, allowed: Mapping[str, str], param: str, fn: str) -> str:
    """ORT's name for one of onnxkit's choices (any case)."""
    return allowed[one_of(value, tuple(allowed), fn, param, ignore_case=True)]


def prepare(model: ModelLike) -> Model:
    """The pre-processing quantization needs, done once: ``<name>.qprep.onnx``.

    onnxslim folding, ORT's ``basic`` optimizations (standard ops only) and shape inference:
    onnx's with data propagation, then ORT's symbolic pass where dims stay unknown, falling back
    to onnx's result when it gives up (it does on many TorchScript exports). Quantizing a raw
    export without this can fail with "Unable to find data type ... shape inference failed".
    Idempotent: a prepared model is returned as it is.
    """

    parent = load(model)
    if parent.lineage and parent.lineage[-1].op == PREPARE:
        return parent
    refuse_quantized(parent)
    proto = ort_optimized(slim(parent.to_proto(), parent.name), parent, "basic", None)
    proto = onnx.shape_inference.infer_shapes(proto, data_prop=True)
    stages = [{"stage": "onnx", **census(proto.graph)}]
    if stages[0]["unknown_dims"]:
        proto, stage = symbolic_stage(proto)
        stages.append(stage)
    details = {"steps": ["onnxslim", "ort basic optimization", "onnx shape inference",
                         *(["ort symbolic shape inference"] if len(stages) > 1 else [])],
               "shapes": stages, "nodes": len(proto.graph.node)}
    return derive(parent, proto, op=PREPARE, tag="qprep", params={}, details=details)


def refuse_quantized(model: Model) -> None:
    """Refuse models the quantizer would mangle: already quantized, or laid out for one CPU."""
    nodes = model.proto.graph.node
    found = sorted({n.op_type for n in nodes} & _QUANTIZED_OPS)
    if found:
        raise UnsupportedModelError(
            f"'{model.name}' is already quantized (it has {', '.join(found)} nodes). Quantize "
            "the float model instead.")
    # ORT's layout level writes NCHWc blocked convolutions and reorders for this CPU's vector
    # width; the quantizer cannot compute scales through them ("Unable to get valid
    # quantization scale for input 'reorder_token_0'").
    layout = sorted({n.op_type for n in nodes if n.domain == "com.microsoft.nchwc"})
    if layout:
        raise UnsupportedModelError(
            f"'{model.name}' has CPU-specific layout ops ({', '.join(layout)}) from ORT's "
            "'layout'/'all' optimization level, which cannot be quantized. Quantize the "
            "original model or onnxkit.optimize(model, level='basic'); ONNX Runtime applies "
            "the layout optimizations to the quantized model itself when it loads it.")


def _check_exclude(prepared: Model, exclude: Sequence[str] | None, fn: str) -> list[str]:
    if exclude is None:
        return []
    if isinstance(exclude, str) or not all(isinstance(e, str) for e in exclude):
        raise ParameterError(f"{fn}(exclude=...) must be a list of node names; got {exclude!r}.")
    names = [n.name for n in prepared.proto.graph.node]
    unknown = [e for e in exclude if e not in names]
    if unknown:
        close = {u: difflib.get_close_matches(u, names, n=1) for u in unknown}
        hints = "".join(f" Did you mean '{c[0]}' for '{u}'?" for u, c in close.items() if c)
        raise ParameterError(
            f"{fn}(exclude=...) names node(s) {unknown} that are not in the prepared graph "
            f"'{prepared.name}' (its nodes include {names[:8]}...). Take names from "
            f"onnxkit.quantize.debug(...).worst() or onnxkit.summarize.{hints}")
    return list(exclude)


class _FromOrtQuantization(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR or "onnxruntime" not in record.pathname


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """onnxruntime.quantization logs advice on the root logger and some calibrators print
    progress; keep the notebook readable. Only ORT's records are dropped, not the user's.
    Importing its matmul_nbits_quantizer calls ``logging.basicConfig(level=INFO)``: the root
    logger's level and handlers are put back as they were."""
    root, only_ort = logging.getLogger(), _FromOrtQuantization()
    ort_logger = logging.getLogger("onnxruntime.quantization")
    saved = root.level, list(root.handlers), ort_logger.level
    root.addFilter(only_ort)
    ort_logger.setLevel(logging.WARNING)  # its modules' loggers propagate past root's filter
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        root.removeFilter(only_ort)
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]
        ort_logger.setLevel(saved[2])


def _tag(readable: str, params: dict[str, Any], shown: set[str], defaults: dict[str, Any]
         ) -> str:
    """``readable`` plus a short hash of the options it does not show, when any differ from
    the defaults: different recipes never share (and overwrite) a file."""
    hidden = {k: v for k, v in params.items() if k not in shown and v != defaults.get(k)}
    if not hidden:
        return readable
    digest = hashlib.sha1(json.dumps(hidden, sort_keys=True).encode()).hexdigest()[:6]
    return f"{readable}-{digest}"


def _save(original: Model, prepared: Model, path: Path, *, op: str, tag: str,
          params: dict[str, Any]) -> Model:
    proto = onnx.load_model(str(path), load_external_data=True)
    details = {"size_ratio": None, "nodes": len(proto.graph.node)}
    step = Step(op, params, source=str(prepared.path), details=details)
    model = workspace().save(proto, stem=original.name, tag=tag, step=step, parent=prepared)
    model = loadable(model, op, "Keep the layer that fails in float with exclude=[...].")
    return workspace().annotate(model, size_ratio=model.size_bytes / original.size_bytes)


def dynamic(model: ModelLike, *, weight_type: Literal["int8", "uint8"] = "int8",
            per_channel: bool = False, reduce_range: bool = False,
            op_types: Sequence[str] | None = None, exclude: Sequence[str] | None = None) -> Model:
    """Int8 weights, activations quantized on the fly: no calibration data needed.

    Best for transformers and RNNs on CPU (MatMul/Gemm/Attention-heavy models).

    Args:
        op_types: op types to quantize (default: all ORT supports).
        exclude: node names to keep in float (names of the prepared graph).

    Examples:
        >>> import onnxkit
        >>> q = onnxkit.quantize.dynamic(onnxkit.samples.tiny_model())
        >>> q.name, [s.op for s in q.lineage][-2:]
        ('tiny.int8-dynamic', ['quantize.prepare', 'quantize.dynamic'])
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    qtype = getattr(QuantType, _choice(weight_type, _TYPES, "weight_type", "dynamic"))
    weight_type = weight_type.lower()  # type: ignore[assignment]
    original = load(model)
    prepared = prepare(original)
    excluded = _check_exclude(prepared, exclude, "dynamic")
    params = {"weight_type": weight_type, "per_channel": per_channel,
              "reduce_range": reduce_range, "op_types": list(op_types) if op_types else None,
              "exclude": excluded}
    with tempfile.TemporaryDirectory(prefix="onnxkit-q-") as tmp, quiet():
        out = Path(tmp, "q.onnx")
        quantize_dynamic(str(prepared.path), str(out), weight_type=qtype, per_channel=per_channel,
                         reduce_range=reduce_range, op_types_to_quantize=params["op_types"],
                         nodes_to_exclude=excluded)
        tag = _tag(f"{weight_type}-dynamic", params, {"weight_type"},
                   {"per_channel": False, "reduce_range": False, "op_types": None, "exclude": []})
        return _save(original, prepared, out, op="quantize.dynamic", tag=tag, params=params)


def static(model: ModelLike, calibration: Calibration, *, method: Method = "minmax",
           format: Format = "qdq", per_channel: bool = True,
           activation_type: Literal["int8", "uint8"] = "uint8",
           weight_type: Literal["int8", "uint8"] = "int8", exclude: Sequence[str] | None = None,
           samples: int | None = None, progress: Progress | None = None) -> Model:
    """Int8 weights and activations, with activation ranges calibrated on real inputs.

    Args:
        calibration: a numpy array (single-input models; rows are samples), an iterable of
            feed dicts, or an onnxruntime ``CalibrationDataReader``. Checked against the
            model's inputs before calibration starts.
        method: how ranges are chosen from the calibration activations: ``"minmax"``
            (the observed range), ``"entropy"`` and ``"percentile"`` (clip outliers);
            ``"distribution"`` is ORT's method for float8 and gives poor int8 ranges (warns).
        format: ``"qdq"`` (QuantizeLinear/DequantizeLinear pairs: portable, debuggable with
            :func:`debug`) or ``"qoperator"`` (QLinear* ops).
        exclude: node names to keep in float, e.g. ``debug(...).worst(3)``.
        samples: use at most this many calibration rows / feeds.
        progress: called with ``(done, total)`` per calibration feed instead of a tqdm bar;
            it may raise :class:`~onnxkit.quantize.Cancelled` to stop.
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    calib_method = getattr(CalibrationMethod, _choice(method, _ORT_METHODS, "method", "static"))
    quant_format = getattr(QuantFormat, _choice(format, _ORT_FORMATS, "format", "static"))
    act = getattr(QuantType, _choice(activation_type, _TYPES, "activation_type", "static"))
    weights = getattr(QuantType, _choice(weight_type, _TYPES, "weight_type", "static"))
    method, format = method.lower(), format.lower()  # type: ignore[assignment]
    activation_type, weight_type = activation_type.lower(), weight_type.lower()  # type: ignore
    if method == "distribution":
        warnings.warn("method='distribution' is ONNX Runtime's calibration for float8; for int8 "
                      "it usually loses much accuracy. Prefer 'minmax', 'entropy' or "
                      "'percentile'.", UserWarning, stacklevel=2)
    original = load(model)
    refuse_quantized(original)
    # fail fast, before any work
    feeds = calibration_feeds(original, calibration, samples, "static")
    if method != "minmax":
        check_equal_batches(feeds, method)
    prepared = prepare(original)
    excluded = _check_exclude(prepared, exclude, "static")
    params = {"method": method, "format": format, "per_channel": per_channel,
              "activation_type": activation_type, "weight_type": weight_type,
              "exclude": excluded, "samples": samples}
    readable = "-".join([f"{activation_type}-static-{format}"]
                        + ([method] if method != "minmax" else [])
                        + ([f"excl{len(excluded)}"] if excluded else []))
    tag = _tag(readable, params, {"activation_type", "format", "method"},
               {"per_channel": True, "weight_type": "int8", "exclude": [], "samples": None})
    with tempfile.TemporaryDirectory(prefix="onnxkit-q-") as tmp, quiet():
        out = Path(tmp, "q.onnx")
        quantize_static(str(prepared.path), str(out), as_reader(feeds, progress),
                        quant_format=quant_format, per_channel=per_channel, activation_type=act,
                        weight_type=weights, nodes_to_exclude=excluded,
                        calibrate_method=calib_method)
        model_out = _save(original, prepared, out, op="quantize.static", tag=tag, params=params)
    return workspace().annotate(model_out, calibration_feeds=len(feeds))
