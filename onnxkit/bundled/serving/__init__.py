"""The HTTP server a bundle runs (``serve.py``): Open Inference Protocol (KServe v2) codec,
dynamic batching, Prometheus metrics and the request handling, for Starlette/uvicorn and
Ray Serve alike.

These modules import only numpy and the standard library (plus Starlette in ``app``): they
are copied into every bundle as its ``serving`` package, so a bundle serves itself with its
own requirements, and ``onnxkit.serve`` runs the very same code in the notebook.
"""
