"""ipywidgets panels over the kernel: state in traitlets, one kernel call per action.

Every panel can be driven from Python (``panel.run()``), runs button actions in the background
with progress and Cancel, shows failures in place, and prints its code (``panel.to_code()``).

=================  ===============================================================
panel              what
=================  ===============================================================
ConvertPanel       a torch / scikit-learn / Keras model from the notebook to ONNX, verified
InspectPanel       pick a model; its summary, its graph inline or in Netron
QuantizePanel      dynamic / static / int4 quantization, assessment, layer debugging
=================  ===============================================================
"""

from __future__ import annotations

from onnxkit.widgets._base import Panel
from onnxkit.widgets._convert import ConvertPanel
from onnxkit.widgets._inspect import InspectPanel
from onnxkit.widgets._quantize import QuantizePanel

__all__ = ["Panel", "ConvertPanel", "InspectPanel", "QuantizePanel"]
