"""The runtime a bundle carries: what ``deploy.bundle`` writes into a bundle folder and what
``onnxkit.serve`` runs — the same code in both places.

- :mod:`~onnxkit.bundled.manifest`: ``manifest.json`` (file hashes, IO signature, versions,
  postprocessing) and the checks that decide what goes in it;
- :mod:`~onnxkit.bundled.predict`: the bundle's ``predict.py`` (numpy and onnxruntime only):
  the one file-hash check, input checks, postprocessing;
- :mod:`~onnxkit.bundled.serving`: the bundle's ``serving`` package (Open Inference Protocol
  codec, Triton's dynamic batching, metrics, bearer-token auth, the HTTP app and the gRPC
  service; for a language model the generate extension and ``textgen``, its decoding with
  onnxruntime-genai), and :mod:`~onnxkit.bundled.serve`, its
  ``serve.py``.

:func:`write_runtime` copies these files into a bundle. May import: :mod:`onnxkit.runtime`,
:mod:`onnxkit.models` and the foundation.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from onnxkit.bundled import manifest, predict

SERVING_MODULES = ("__init__.py", "app.py", "auth.py", "batching.py", "engine.py",
                   "grpc_schema.py", "grpc_server.py", "metrics.py", "protocol.py", "uploads.py")
# The files write_runtime puts in a bundle, by their name there.
RUNTIME_FILES = ("predict.py", "serve.py", *(f"serving/{m}" for m in SERVING_MODULES))
# A language model's bundle also carries the generate extension and its decoding.
TEXT_FILES = ("serving/generate.py", "serving/textgen.py")

__all__ = ["manifest", "predict", "write_runtime", "RUNTIME_FILES", "SERVING_MODULES",
           "TEXT_FILES"]


def write_runtime(folder: Path, *, text: bool = False) -> None:
    """``predict.py``, ``serve.py`` and the ``serving`` package into a bundle folder (with
    ``text``, a language model's: also :data:`TEXT_FILES`): the very modules this package
    holds, byte for byte."""
    package = resources.files(__name__)
    (folder / "serving").mkdir(exist_ok=True)
    for name in (*RUNTIME_FILES, *TEXT_FILES) if text else RUNTIME_FILES:
        (folder / name).write_text(package.joinpath(name).read_text(encoding="utf-8"),
                                   encoding="utf-8")
