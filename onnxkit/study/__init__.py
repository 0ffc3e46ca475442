"""Compare variants: a :class:`Study` measures variants of a model against a reference on the
same inputs (size, latency interleaved, memory, error, accuracy) and picks the one to ship.

May import: :mod:`onnxkit.quantize`, :mod:`onnxkit.transforms`, :mod:`onnxkit.runtime`,
:mod:`onnxkit.models` and the foundation.
"""

from onnxkit.base import front_door_names, publish
from onnxkit.study._best import Choice
from onnxkit.study._study import Study, Variant

__all__ = ["Study", "Variant", "Choice"]

publish(globals(), "onnxkit", front_door_names(__name__))
