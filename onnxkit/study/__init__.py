"""Compare and search: a :class:`Study` measures variants of a model against a reference on
the same inputs (size, latency interleaved, memory, error, accuracy) and picks the one to ship;
:func:`assess` sets quantized models beside their float model; :func:`tune` searches the
quantization, fusion, fp16 and pruning recipes for the fastest model within a budget;
:class:`LLMStudy` sets a decoder's precisions side by side on tokens/s vs perplexity.

One engine under all three: latency from :func:`onnxkit.bench.measure_models` (a
:class:`~onnxkit.bench.Speedup` on every row), quality from :func:`onnxkit.evaluate` over every
output (``_measure.quality``: the same figures here and on a cluster), and one rule to pick
a winner (``_pick.pick``).

May import: :mod:`onnxkit.llm`, :mod:`onnxkit.quantize`, :mod:`onnxkit.prune`,
:mod:`onnxkit.transforms`, :mod:`onnxkit.runtime`, :mod:`onnxkit.models` and the foundation.
"""

from onnxkit.base import front_door_names, publish
from onnxkit.study._assess import AssessedModel, QuantAssessment, assess
from onnxkit.study._best import Choice
from onnxkit.study._llm import LLMChoice, LLMStudy, LLMVariant
from onnxkit.study._study import Study, Variant
from onnxkit.study._trail import Candidate, TuningResult
from onnxkit.study._tune import tune

# tune and assess keep the public home users type: onnxkit.quantize.tune, .assess
_QUANTIZE_NAMES = ["assess", "QuantAssessment", "AssessedModel", "tune", "TuningResult",
                  "Candidate"]
__all__ = ["Study", "Variant", "Choice", "assess", "QuantAssessment", "AssessedModel", "tune",
           "TuningResult", "Candidate", "LLMStudy", "LLMVariant", "LLMChoice"]

publish(globals(), "onnxkit", front_door_names(__name__))
publish(globals(), __name__, ["LLMStudy", "LLMVariant", "LLMChoice"])  # onnxkit.study.LLMStudy
publish(globals(), "onnxkit.quantize", _QUANTIZE_NAMES)
