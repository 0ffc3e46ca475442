"""ipywidgets panels over the kernel: state in traitlets, one kernel call per action.

Every panel can be driven from Python (``panel.run()``), runs button actions in the background
with progress and Cancel, shows failures in place, and prints its code (``panel.to_code()``).

=================  ===============================================================
panel              what
=================  ===============================================================
ClusterPanel       Ray: connect (local or a cluster), its nodes' hardware, evaluate on it
ComposePanel       a pipeline in one graph: pre-/post-processing, chain, ensemble, split
ConvertPanel       a torch / scikit-learn / Keras model from the notebook to ONNX, verified
DeployPanel        a self-contained bundle folder, its verification, the ORT format
GeneratePanel      a language model continues a prompt: text streaming in, tokens/s live
InspectPanel       pick a model; its summary, its graph inline or in Netron
OptimizePanel      ORT graph optimizations, onnxslim, transformer fusion, float16
ProviderPanel      providers in priority order with options; benchmark sweep, placement
QuantizePanel      dynamic / static / int4 quantization, assessment, layer debugging
ServePanel         the model as an HTTP service on loopback: call it, load-test it
TunePanel          the fastest model within an accuracy budget, searched and drawn live
StudyPanel         variants side by side (Study.auto, add), Pareto chart, best under a limit
Workbench          all of the above as tabs, sharing the current model and one study
=================  ===============================================================
"""

from onnxkit.base import publish as _publish
from onnxkit.widgets._base import Panel
from onnxkit.widgets._cluster import ClusterPanel
from onnxkit.widgets._compose import ComposePanel
from onnxkit.widgets._convert import ConvertPanel
from onnxkit.widgets._deploy import DeployPanel
from onnxkit.widgets._generate import GeneratePanel
from onnxkit.widgets._inspect import InspectPanel
from onnxkit.widgets._optimize import OptimizePanel
from onnxkit.widgets._providers import ProviderPanel
from onnxkit.widgets._quantize import QuantizePanel
from onnxkit.widgets._serve import ServePanel
from onnxkit.widgets._study import StudyPanel
from onnxkit.widgets._tune import TunePanel
from onnxkit.widgets._workbench import Workbench

__all__ = ["Panel", "ClusterPanel", "ComposePanel", "ConvertPanel", "DeployPanel",
           "GeneratePanel", "InspectPanel", "OptimizePanel", "ProviderPanel", "QuantizePanel",
           "ServePanel", "StudyPanel", "TunePanel", "Workbench"]

_publish(globals(), __name__, __all__)
