"""The mobile-usability report: onnxruntime's own usability checker, as structured fields.

onnxruntime ships ``onnxruntime.tools.mobile_helpers.usability_checker`` (the engine of
``python -m onnxruntime.tools.check_onnx_model_mobile_usability``). It optimizes the model at
the basic level, as the ORT-format conversion does, and checks every node against the op
lists of the mobile accelerators (NNAPI on Android, CoreML NeuralNetwork and MLProgram on
iOS), estimating how the graph would be split into partitions. It reports through a logger;
here the same checks are run with a capturing logger, and the numbers come straight from its
``PartitioningInfo`` objects rather than from parsing the text.

Since onnxruntime 1.19 the pre-built mobile packages (onnxruntime-android, onnxruntime-c/objc)
include every operator, so the CPU EP runs any standard model; what a mobile target can lack
is accelerator support (the EP lists) and, in a custom reduced-operator build, the kernels the
model needs: ``required_operators`` (from the conversion's config file) is that list.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnx

from onnxkit.results import Result, html_table

# The domains the pre-built packages have kernels for; anything else is a custom op.
STANDARD_DOMAINS = ("ai.onnx", "ai.onnx.ml", "com.microsoft")
# (report name, checker function name, extra argument: CoreML's op-list file)
_EPS = (("NNAPI", "check_nnapi_partitions", None),
        ("CoreML NeuralNetwork", "check_coreml_partitions",
         "coreml_supported_neuralnetwork_ops.md"),
        ("CoreML MLProgram", "check_coreml_partitions", "coreml_supported_mlprogram_ops.md"))


@dataclass(frozen=True)
class EpReport(Result):
    """How one mobile accelerator (NNAPI or CoreML) would take the model.

    ``suitability`` is the checker's verdict (``"YES"``, ``"MAYBE"``, ``"NO"``);
    ``suitability_if_fixed`` is its verdict were the dynamic input shapes fixed (``None`` when
    the model has none, or is already a ``"YES"``). ``unsupported_ops`` counts the nodes of each
    ``domain:op`` that the EP does not implement: they fall back to the CPU EP.
    """

    name: str
    suitability: str
    nodes: int
    supported_nodes: int
    partitions: int
    partition_sizes: tuple[int, ...]
    unsupported_ops: dict[str, int]
    unsupported_dynamic_shape: int
    unsupported_rank: int
    caveats: tuple[str, ...] = ()
    suitability_if_fixed: str | None = None

    @property
    def supported(self) -> bool:
        """The EP can take the whole model in a single partition."""
        return self.partitions == 1 and self.supported_nodes == self.nodes

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "suitability": self.suitability,
                "suitability_if_fixed": self.suitability_if_fixed, "nodes": self.nodes,
                "supported_nodes": self.supported_nodes, "partitions": self.partitions,
                "partition_sizes": list(self.partition_sizes),
                "unsupported_ops": dict(self.unsupported_ops),
                "unsupported_dynamic_shape": self.unsupported_dynamic_shape,
                "unsupported_rank": self.unsupported_rank, "caveats": list(self.caveats)}

    def summary(self) -> str:
        text = (f"{self.name}: {self.suitability} ({self.supported_nodes}/{self.nodes} nodes in "
                f"{self.partitions} partition{'s' * (self.partitions != 1)})")
        if self.unsupported_ops:
            text += "; lacks " + ", ".join(f"{k} x{v}" for k, v in self.unsupported_ops.items())
        if self.unsupported_dynamic_shape:
            text += f"; {self.unsupported_dynamic_shape} nodes blocked by dynamic shapes"
        if self.suitability_if_fixed:
            text += f"; with fixed shapes: {self.suitability_if_fixed}"
        return text


@dataclass(frozen=True)
class MobileReport(Result):
    """Whether a model suits ORT's mobile packages, accelerators and reduced-operator builds.

    Truthy (``supported``) when every operator is in a standard domain and at least one mobile
    accelerator implements each of them: nothing is left only to the CPU EP.

    Attributes:
        supported: no custom ops, and no op outside every mobile accelerator's list.
        unsupported_ops: ``{"ai.onnx:CumSum": 2}``: nodes no mobile accelerator implements.
        custom_ops: ``domain:op`` of non-standard domains (need a custom-op library on device).
        dynamic_inputs: inputs without a fixed shape (NNAPI needs fixed shapes).
        eps: one :class:`EpReport` per accelerator (NNAPI, CoreML NeuralNetwork, MLProgram).
        try_eps: the checker's advice: NNAPI or CoreML may be worth measuring.
        required_operators: ``{domain: {opset: [ops]}}`` a reduced-operator build must include
            (filled in by :func:`~onnxkit.deploy.to_ort_format` from the conversion's config).
        log: what the checker logged, verbatim.
    """

    supported: bool
    unsupported_ops: dict[str, int]
    custom_ops: tuple[str, ...]
    dynamic_inputs: tuple[str, ...]
    eps: tuple[EpReport, ...]
    try_eps: bool
    required_operators: dict[str, dict[int, list[str]]] = field(default_factory=dict)
    log: str = ""

    def __bool__(self) -> bool:
        return self.supported

    @property
    def recommendation(self) -> str:
        if self.custom_ops:
            return ("register a custom-op library on the device for " + ", ".join(self.custom_ops))
        if self.try_eps:
            return "compare NNAPI (Android) / CoreML (iOS) against the CPU EP"
        return "use the CPU EP (the accelerators would split the model too much)"

    def to_dict(self) -> dict[str, Any]:
        return {"supported": self.supported, "unsupported_ops": dict(self.unsupported_ops),
                "custom_ops": list(self.custom_ops), "dynamic_inputs": list(self.dynamic_inputs),
                "try_eps": self.try_eps, "recommendation": self.recommendation,
                "eps": [e.to_dict() for e in self.eps],
                "required_operators": {d: {str(k): v for k, v in o.items()}
                                       for d, o in self.required_operators.items()},
                "log": self.log}

    def lines(self) -> list[str]:
        verdict = "supported" if self.supported else "NOT fully supported"
        lines = [f"mobile: {verdict}; {self.recommendation}"]
        if self.unsupported_ops:
            lines.append("  no mobile accelerator has: " + ", ".join(
                f"{k} x{v}" for k, v in self.unsupported_ops.items()))
        if self.dynamic_inputs:
            lines.append(f"  dynamic inputs: {', '.join(self.dynamic_inputs)}")
        lines += [f"  {e.summary()}" for e in self.eps]
        return lines

    def __repr__(self) -> str:
        return "\n".join(self.lines())

    def _repr_html_(self) -> str:
        rows = [(e.name, e.suitability, f"{e.supported_nodes}/{e.nodes}", e.partitions,
                 ", ".join(f"{k} x{v}" for k, v in e.unsupported_ops.items()) or "-",
                 e.suitability_if_fixed or "-") for e in self.eps]
        caption = f"mobile: {'supported' if self.supported else 'NOT fully supported'}"
        return html_table(("EP", "verdict", "nodes", "partitions", "lacks", "if fixed"),
                             rows, caption=caption, bad=[not e.supported for e in self.eps])


def check_mobile(model_path: Path, work_dir: Path, display: Path | None = None) -> MobileReport:
    """Run onnxruntime's usability checks on ``model_path``; temp files go in ``work_dir``."""
    from onnxruntime.tools.mobile_helpers import usability_checker as uc
    from onnxruntime.tools.onnx_model_utils import ModelProtoWithShapeInfo, optimize_model

    logger, stream = _capturing_logger()
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        optimized = Path(tmp) / "basic.onnx"  # what the checker itself analyzes
        optimize_model(model_path, optimized, use_external_initializers=True)
        logger.info(f"Checking {display or model_path} for usability with ORT Mobile.")
        model = ModelProtoWithShapeInfo(optimized).model_with_shape_info
        dynamic, _ = uc.check_shapes(model.graph, logger)
        eps = tuple(_check_ep(uc, model, name, fn, arg, bool(dynamic), logger)
                    for name, fn, arg in _EPS)
    ops = Counter(_op_key(n) for n in _nodes(model.graph))
    custom = tuple(sorted(op for op in ops if op.split(":")[0] not in STANDARD_DOMAINS))
    lacking = set.intersection(*(set(e.unsupported_ops) for e in eps)) if eps else set()
    unsupported = {op: ops[op] for op in sorted(lacking | set(custom))}
    try_eps = any(_better(e) != "NO" for e in eps)
    return MobileReport(supported=not unsupported, unsupported_ops=unsupported,
                        custom_ops=custom, dynamic_inputs=tuple(i.name for i in dynamic),
                        eps=eps, try_eps=try_eps, log=stream.getvalue())


def _check_ep(uc: Any, model: onnx.ModelProto, name: str, fn_name: str, arg: str | None,
              dynamic: bool, logger: logging.Logger) -> EpReport:
    def partition(fixed_sizes: bool) -> Any:
        fn = getattr(uc, fn_name)
        return fn(model, fixed_sizes) if arg is None else fn(model, fixed_sizes, arg)

    logger.info(f"Checking {name}")
    info = partition(True)
    info.print_analysis(logger, name)
    verdict = info.suitability().name
    logger.info(f"Model should perform well with {name} as is: {verdict}")
    if_fixed = None
    if verdict != "YES" and dynamic:
        fixed = partition(False)
        logger.info("Partition information if the model was updated to make the shapes fixed:")
        fixed.print_analysis(logger, name)
        if_fixed = fixed.suitability().name
        logger.info(f"Model should perform well with {name} if modified to have fixed input "
                    f"shapes: {if_fixed}")
    ops = Counter(_op_key(n) for n in _nodes(model.graph))
    return EpReport(
        name=name, suitability=verdict, nodes=info.num_nodes,
        supported_nodes=info.num_supported_nodes, partitions=info.num_partitions,
        partition_sizes=tuple(len(g) for g in info.supported_groups),
        unsupported_ops={op: ops[op] for op in sorted(info.unsupported_ops)},
        unsupported_dynamic_shape=info.nodes_unsupported_due_to_dynamic_input,
        unsupported_rank=info.num_unsupported_nodes_due_to_rank,
        caveats=tuple(info.supported_ops_checker.get_caveats()), suitability_if_fixed=if_fixed)


def _better(ep: EpReport) -> str:
    order = ("NO", "MAYBE", "YES")
    return max(ep.suitability, ep.suitability_if_fixed or "NO", key=order.index)


def _op_key(node: onnx.NodeProto) -> str:
    return f"{node.domain or 'ai.onnx'}:{node.op_type}"


def _nodes(graph: onnx.GraphProto) -> Iterator[onnx.NodeProto]:
    for node in graph.node:
        yield node
        for attr in node.attribute:
            for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                yield from _nodes(sub)


def _capturing_logger() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    logger = logging.getLogger("onnxkit.deploy.mobile")
    logger.handlers[:] = [logging.StreamHandler(stream)]
    logger.handlers[0].setFormatter(logging.Formatter("%(message)s"))
    logger.setLevel(logging.INFO)
    logger.propagate = False  # the report holds the text; nothing goes to the notebook
    return logger, stream


@contextlib.contextmanager
def quiet_tools() -> Iterator[io.StringIO]:
    """Import onnxruntime's tools without their side effects on the user's logging.

    The tools call ``logging.basicConfig`` at import (a stderr handler on the root logger) and
    print progress; both are captured and the root logger is restored afterwards.
    """
    root = logging.getLogger()
    handlers = list(root.handlers)
    out = io.StringIO()
    tools_logger = logging.getLogger("ort_format_model.utils")
    propagate = tools_logger.propagate
    tools_logger.propagate = False
    try:
        with contextlib.redirect_stdout(out):
            yield out
    finally:
        root.handlers[:] = handlers
        tools_logger.propagate = propagate
