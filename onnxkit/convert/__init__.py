"""Conversion to ONNX, each result verified against the source framework.

``from_torch`` (torch.onnx: dynamo, falling back to TorchScript), ``from_sklearn`` (skl2onnx),
``from_keras`` / ``from_tensorflow`` (tf2onnx, through a ``tf.function``: Keras 3 safe) return a
:class:`Conversion`; ``to_opset`` (onnx's version converter) returns a ``Model``.
"""

from onnxkit.base import publish as _publish
from onnxkit.convert._conversion import Conversion
from onnxkit.convert._opset import to_opset
from onnxkit.convert._sklearn import from_sklearn
from onnxkit.convert._sources import example_inputs, load_source
from onnxkit.convert._tensorflow import from_keras, from_tensorflow
from onnxkit.convert._torch import from_torch
from onnxkit.errors import ConversionError

__all__ = ["from_torch", "from_sklearn", "from_keras", "from_tensorflow", "to_opset",
           "Conversion", "ConversionError", "load_source", "example_inputs"]

_publish(globals(), __name__, __all__)
