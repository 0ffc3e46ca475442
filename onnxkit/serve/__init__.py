"""Serving: a model or bundle as an HTTP (and gRPC) service speaking the Open Inference
Protocol (KServe v2), with Triton's dynamic batching policy (a lone request never waits),
bearer-token auth (required beyond loopback) and Prometheus metrics; on Ray Serve when one
machine is not enough.

* :func:`start` serves from this process (a background thread), loopback by default;
  ``onnxkit serve BUNDLE`` does the same from the shell, and a bundle's ``serve.py`` alone.
  A :class:`~onnxkit.llm.LanguageModel` is served with the protocol's generate extension
  (``/generate``, ``/generate_stream`` as server-sent events): a :class:`GenerateServer`.
* :func:`on_ray` deploys the same server as a Ray Serve application, with replicas (gRPC
  through Ray Serve's gRPC proxy with ``grpc_port``).
* :func:`infer` and :func:`load_test` call a server (any Open Inference Protocol server) the
  way clients do: binary tensors over keep-alive HTTP connections.

May import: :mod:`onnxkit.deploy`, :mod:`onnxkit.runtime`, :mod:`onnxkit.llm` and the stages
before them.
Needs the ``serve`` extra (starlette, uvicorn); :func:`on_ray` the ``cluster`` extra (Ray).
"""

from onnxkit.base import publish as _publish
from onnxkit.serve._client import LoadLevel, LoadTest, infer, load_test
from onnxkit.serve._generate import GenerateServer, start
from onnxkit.serve._local import Server, stop_all
from onnxkit.serve._ray import RayDeployment
from onnxkit.serve._ray_generate import RayGenerateDeployment, on_ray

__all__ = ["start", "Server", "GenerateServer", "stop_all", "on_ray", "RayDeployment",
           "RayGenerateDeployment", "infer", "load_test", "LoadTest", "LoadLevel"]

_publish(globals(), __name__, __all__)
