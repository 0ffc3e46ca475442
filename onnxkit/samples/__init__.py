"""Offline sample models, built in code and cached in the workspace (no downloads).

Each builder returns a :class:`Sample`: the model plus real inputs (and labels where the task
has them). The first call trains or builds the model, a few seconds on two cores; later calls
reuse the cached file as long as its recipe is unchanged.

=================  ==========================================================  ==========
sample             what                                                        needs
=================  ==========================================================  ==========
tiny_model()       2-layer MLP built with onnx.helper (a bare ``Model``)       nothing
digits_cnn()       CNN trained on scikit-learn's bundled 8x8 digits            torch
digits_torch()     the same CNN as a trained ``torch.nn.Module``, not converted torch
text_transformer() 2-layer BERT-style text classifier, synthetic sentiment     torch
sklearn_pipeline() StandardScaler + LogisticRegression on breast-cancer data    sklearn
detector()         grid detector trained on synthetic shape scenes (+ images)   torch
text_decoder()     4-layer Llama decoder trained on Python's docs (HF folder)  torch
=================  ==========================================================  ==========
"""

from onnxkit.base import publish as _publish
from onnxkit.samples._builders import (
    Sample,
    TorchSample,
    digits_cnn,
    digits_torch,
    sklearn_pipeline,
    text_transformer,
    tiny_model,
)
from onnxkit.samples._decoder import DecoderSample, text_decoder
from onnxkit.samples._detector import DetectionSample, detector

__all__ = ["Sample", "TorchSample", "tiny_model", "digits_cnn", "digits_torch",
           "text_transformer", "sklearn_pipeline", "text_decoder", "DecoderSample",
           "detector", "DetectionSample"]

_publish(globals(), __name__, __all__)
