"""The whole pipeline in one graph: preprocessing (images, tokenizers), post-processing
(softmax, top-k, labels, thresholds, non-maximum suppression), chains, ensembles and splits.
Every function returns a new ``Model`` checked against a reference (numpy, PIL, the
``transformers`` tokenizer, or the parts it was made of), its outcome in the lineage.

May import: :mod:`onnxkit.transforms`, :mod:`onnxkit.bundled`, :mod:`onnxkit.bench`,
:mod:`onnxkit.runtime` and the stages before them.
"""

from onnxkit.base import publish
from onnxkit.compose._combine import HOWS, chain, ensemble
from onnxkit.compose._detection import (
    DetectionScore,
    evaluate_detector,
    mean_average_precision,
    plot_detections,
)
from onnxkit.compose._image import PIXEL_ATOL, ImagePrep
from onnxkit.compose._nms import NMS
from onnxkit.compose._postprocess import with_postprocessing
from onnxkit.compose._preprocess import token_check, with_preprocessing
from onnxkit.compose._split import cut_points, split
from onnxkit.compose._text import from_tokenizer

__all__ = [
    "with_preprocessing", "ImagePrep", "PIXEL_ATOL", "from_tokenizer", "token_check",
    "with_postprocessing", "NMS", "chain", "ensemble", "HOWS", "split", "cut_points",
    "mean_average_precision", "evaluate_detector", "DetectionScore", "plot_detections",
]

publish(globals(), "onnxkit.compose", __all__)
