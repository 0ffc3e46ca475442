"""The server a bundle runs (``serve.py``), for uvicorn and Ray Serve alike:

- ``protocol``: the Open Inference Protocol (KServe v2) codec, JSON and binary tensors;
- ``batching``: Triton's dynamic batching policy and the batcher that applies it;
- ``engine``: one model behind the batcher, with the bundle's input checks;
- ``app``: the HTTP routes (404/405 as JSON, extensible with ``Handler.add_route``);
- ``grpc_server``, ``grpc_schema``: the same service over gRPC (its own server, or Ray
  Serve's gRPC proxy calling the replicas);
- ``auth``: the bearer token; ``metrics``: Prometheus text.

These modules import only numpy and the standard library (plus Starlette in ``app``; grpcio
and protobuf when gRPC is asked for; orjson when installed): they are copied into every
bundle as its ``serving`` package, so a bundle serves itself with its own requirements, and
``onnxkit.serve`` runs the very same code in the notebook.
"""
