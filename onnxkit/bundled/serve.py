"""Serve the bundled ONNX model over HTTP: the Open Inference Protocol (KServe v2) that
Triton, KServe and MLServer clients speak, plus ``POST /predict`` and ``GET /metrics``.

Usage:
    python serve.py                         (127.0.0.1:8000)
    python serve.py --host 0.0.0.0 --port 8080 --max-batch 32 --max-delay-ms 2

Needs the bundle's requirements (numpy, onnxruntime, starlette, uvicorn). Before loading the
model it checks every file's SHA-256 against manifest.json, as predict.py does, and it checks
each request the same way. Concurrent requests are batched along the first axis (up to
--max-batch rows, waiting at most --max-delay-ms). Ctrl-C (SIGINT) or SIGTERM stops it after
the requests in flight are answered. Written by onnxkit's ``deploy.bundle``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # predict.py and the serving package sit next to this file

from predict import (  # noqa: E402
    BundleError,
    check_files,
    choose_providers,
    load_manifest,
    postprocess,
    validate,
)
from serving.app import Engine, starlette_app  # noqa: E402


def engine(folder: Path, args: argparse.Namespace) -> Engine:
    """The bundle's model in an ONNX Runtime session, behind the batcher."""
    import onnxruntime as ort

    manifest = load_manifest(folder)
    check_files(folder, manifest)
    providers = choose_providers(args.providers, manifest)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if args.threads:
        options.intra_op_num_threads = args.threads
    known = dict(zip(manifest.get("providers", []), manifest.get("provider_options", [])))
    session = ort.InferenceSession(str(folder / manifest["model"]["file"]), options,
                                   providers=providers,
                                   provider_options=[known.get(p) or {} for p in providers])
    return Engine(session=session, manifest=manifest, validate=validate,
                  postprocess=postprocess, client_error=BundleError,
                  max_batch=args.max_batch, max_delay_ms=args.max_delay_ms,
                  workers=args.workers, allow_nonfinite=args.allow_nonfinite,
                  max_body_bytes=int(args.max_body_mb * (1 << 20)))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Serve the bundled ONNX model over HTTP.")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default: loopback only)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--max-batch", type=int, default=32,
                        help="rows per model run when requests are batched (1: no batching)")
    parser.add_argument("--max-delay-ms", type=float, default=2.0,
                        help="how long a request may wait for others to batch with")
    parser.add_argument("--workers", type=int, default=1, help="model runs at once")
    parser.add_argument("--threads", type=int, default=0,
                        help="ONNX Runtime intra-op threads (0: its default)")
    parser.add_argument("--providers", help="comma-separated, e.g. cuda,cpu")
    parser.add_argument("--max-body-mb", type=float, default=32.0,
                        help="largest request body accepted")
    parser.add_argument("--allow-nonfinite", action="store_true",
                        help="pass NaN/inf inputs to the model instead of refusing them")
    args = parser.parse_args(argv)
    if args.max_batch < 1 or args.workers < 1 or args.max_delay_ms < 0:
        parser.error("--max-batch and --workers must be >= 1, --max-delay-ms >= 0")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        app = starlette_app(engine(HERE, args))
    except BundleError as e:
        print(f"serve.py: error: {e}", file=sys.stderr)
        return 1
    import uvicorn

    uvicorn.run(app, host=args.host, port=args.port, log_level="warning",
                timeout_graceful_shutdown=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
