"""``debug``: which activations lose the most to quantization (ORT's QDQ loss-debug tools)."""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from onnxkit.errors import UnsupportedModelError
from onnxkit.models import ModelLike, load
from onnxkit.quantize._calibration import Calibration, as_reader, calibration_feeds
from onnxkit.quantize._quantize import prepare, quiet
from onnxkit.results import Result, html_table

if TYPE_CHECKING:
    import plotly.graph_objects as go


@dataclass(frozen=True)
class LayerError(Result):
    """One activation: the quantized model's value vs the float model's, as SQNR in dB.

    The error accumulates from the input up to this tensor; higher is better (40 dB: noise
    at 1% of the signal's amplitude). ``node`` is empty for a graph input.
    """

    tensor: str
    node: str
    op_type: str
    sqnr_db: float


@dataclass(frozen=True)
class LayerErrors(Result):
    """Result of :func:`debug`: activations sorted worst first (lowest ``model_sqnr``)."""

    float_model: str
    quant_model: str
    layers: tuple[LayerError, ...]

    def worst(self, n: int = 3) -> list[str]:
        """Names of the nodes producing the ``n`` worst activations: pass them as ``exclude=``."""
        names: list[str] = []
        for layer in self.layers:
            if layer.node and layer.node not in names:
                names.append(layer.node)
            if len(names) == n:
                break
        return names

    def _rows(self) -> list[dict[str, Any]]:
        return [layer.to_dict() for layer in self.layers]

    def __repr__(self) -> str:
        lines = [f"LayerErrors {self.quant_model} vs {self.float_model} "
                 f"({len(self.layers)} activations, worst first; SQNR in dB, higher is better)"]
        lines += [f"  {x.sqnr_db:7.2f} dB  {x.op_type:<12} {x.node or x.tensor}"
                  for x in self.layers[:10]]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return html_table(
            ("node", "op", "tensor", "SQNR vs float (dB)"),
            ((x.node, x.op_type, x.tensor, f"{x.sqnr_db:.2f}") for x in self.layers),
            caption=f"{self.quant_model}: activation error vs {self.float_model}, worst first")

    def plot(self, n: int = 20) -> go.Figure:
        """SQNR of the ``n`` worst activations (lower bar = more quantization error)."""
        import plotly.graph_objects as go

        worst = self.layers[:n]
        fig = go.Figure(go.Bar(y=[x.node or x.tensor for x in worst],
                               x=[x.sqnr_db for x in worst], orientation="h"))
        fig.update_layout(title=f"{self.quant_model}: worst activations (SQNR vs float, dB)",
                          xaxis_title="SQNR (dB, higher is better)",
                          yaxis={"autorange": "reversed"},
                          height=max(300, 28 * len(worst) + 120))
        return fig


def debug(float_model: ModelLike, quant_model: ModelLike, calibration: Calibration, *,
          samples: int | None = 64) -> LayerErrors:
    """Per-activation error of a QDQ-quantized model against its float model.

    Runs both models on ``calibration`` with every activation exposed and compares them
    tensor by tensor (onnxruntime.quantization.qdq_loss_debug). The float side is the model
    as prepared for quantization, so names match the quantized graph and ``worst()`` gives
    node names that ``static(..., exclude=...)`` accepts.
    """
    from onnxruntime.quantization import qdq_loss_debug as qdb

    quant = load(quant_model)
    if not any(n.op_type == "DequantizeLinear" for n in quant.proto.graph.node):
        raise UnsupportedModelError(
            f"debug compares QDQ models; '{quant.name}' has no DequantizeLinear nodes. Quantize "
            "with onnxkit.quantize.static(..., format='qdq').")
    prepared = prepare(float_model)
    feeds = calibration_feeds(prepared, calibration, samples, "debug")
    with tempfile.TemporaryDirectory(prefix="onnxkit-qdebug-") as tmp, quiet():
        float_aug, quant_aug = Path(tmp, "float.onnx"), Path(tmp, "quant.onnx")
        qdb.modify_model_output_intermediate_tensors(str(prepared.path), str(float_aug))
        qdb.modify_model_output_intermediate_tensors(str(quant.path), str(quant_aug))
        float_acts = qdb.collect_activations(str(float_aug), as_reader(feeds, _silent))
        quant_acts = qdb.collect_activations(str(quant_aug), as_reader(feeds, _silent))
    matched = qdb.create_activation_matching(quant_acts, float_acts)
    errors = qdb.compute_activation_error(matched, _sqnr_db)
    producers = {o: n for n in prepared.proto.graph.node for o in n.output}
    # ORT also reports each tensor's own Q/DQ error ("qdq_err"); it is left out because where
    # the quantizer fused an activation into the op before it (Conv+Relu), the tensor it reads
    # is the pre-activation value and the figure is meaningless.
    layers = [LayerError(tensor, producers[tensor].name if tensor in producers else "",
                         producers[tensor].op_type if tensor in producers else "graph input",
                         _db(e.get("xmodel_err")))
              for tensor, e in errors.items()]
    order = {name: i for i, name in enumerate(producers)}  # ties keep the graph's order
    layers.sort(key=lambda x: (x.sqnr_db, order.get(x.tensor, -1)))
    return LayerErrors(prepared.name, quant.name, tuple(layers))


def _silent(done: int, total: int) -> None:
    """Progress sink: collecting activations is quick and needs no bar."""


def _sqnr_db(x: Any, y: Any) -> float:
    """ORT's SQNR (dB) in float64, over the elements finite in both: float32's squared norm
    overflows on large activations (attention masks at float32's minimum)."""
    def flat(v: Any) -> np.ndarray:
        return np.concatenate([v] if isinstance(v, np.ndarray) else list(v)).astype(
            np.float64).ravel()

    a, b = flat(x), flat(y)
    finite = np.isfinite(a) & np.isfinite(b)
    a, b = a[finite], b[finite]
    eps = float(np.finfo(np.float64).eps)
    return 20 * math.log10(max(float(np.linalg.norm(a)), eps)
                           / max(float(np.linalg.norm(a - b)), eps))


def _db(value: Any) -> float:
    return float(value) if value is not None and math.isfinite(float(value)) else math.inf
