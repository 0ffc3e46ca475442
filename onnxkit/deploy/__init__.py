"""Deployment: the ORT format for mobile, and self-contained bundles that run anywhere.

* :func:`to_ort_format` converts with onnxruntime's own converter, checks the ``.ort`` file
  gives the same outputs, and reports how the model suits ORT's mobile packages, the NNAPI and
  CoreML accelerators, and reduced-operator builds (:class:`MobileReport`).
* :func:`bundle` writes a folder with the model, a ``manifest.json`` (hashes, IO signature,
  tested versions), a standalone ``predict.py`` that needs only numpy and onnxruntime, pinned
  ``requirements.txt``, an HTTP server (``serve.py``, see :mod:`onnxkit.serve`), a
  ``Dockerfile`` and a README (for a :class:`~onnxkit.llm.LanguageModel`: its decoder and
  tokenizer, run by onnxruntime-genai; ``predict.py "prompt"`` generates and ``serve.py``
  answers the generate extension); :func:`verify` re-checks such a folder (``onnxkit bundle
  verify DIR`` in the shell); ``verify(..., platform="linux/arm64")`` runs it in an emulated
  arm64 Debian root (:func:`platform_root`) too and compares the outputs (:class:`PlatformCheck`).
* :func:`to_triton` writes a Triton Inference Server model repository (onnxruntime backend)
  and a KServe ``InferenceService`` for it.
"""

from onnxkit.base import publish as _publish
from onnxkit.deploy._bundle import Bundle, bundle
from onnxkit.deploy._emulated_root import TARGETS as _TARGETS
from onnxkit.deploy._emulated_root import PlatformRoot, platform_root
from onnxkit.deploy._mobile import EpReport, MobileReport
from onnxkit.deploy._ort_format import OrtConversion, to_ort_format
from onnxkit.deploy._platform import PlatformCheck
from onnxkit.deploy._triton import TritonExport, to_triton
from onnxkit.deploy._verify import BundleCheck, verify

__all__ = ["to_ort_format", "OrtConversion", "MobileReport", "EpReport", "bundle", "Bundle",
           "verify", "BundleCheck", "PlatformCheck", "platform_root", "PlatformRoot",
           "to_triton", "TritonExport"]

PLATFORMS: tuple[str, ...] = tuple(_TARGETS)  # what verify(..., platform=...) can emulate
__all__ += ["PLATFORMS"]

_publish(globals(), __name__, __all__)
