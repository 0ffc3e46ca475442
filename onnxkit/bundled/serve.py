"""Serve the bundled ONNX model: the Open Inference Protocol (KServe v2) that Triton, KServe
and MLServer clients speak, over HTTP (plus ``POST /predict`` and ``GET /metrics``) and,
with ``--grpc-port``, over gRPC. A language model's bundle answers the protocol's generate
extension instead (``/v2/models/{name}/generate`` and ``/generate_stream``), over HTTP.

Usage:
    python serve.py                         (127.0.0.1:8000, no token needed on loopback)
    ONNXKIT_SERVE_TOKEN=... python serve.py --host 0.0.0.0 --port 8080 --grpc-port 8081

Needs the bundle's requirements (numpy, onnxruntime, starlette, uvicorn; orjson, uvloop and
httptools make it faster; gRPC needs grpcio and protobuf). Before loading the model it checks
every file's SHA-256 against manifest.json, as predict.py does, and it checks each request the
same way. Batching follows Triton's dynamic batcher: whenever the model is free it runs what
is queued (up to --max-batch rows), waiting for more only with --max-queue-delay-ms. Bound
beyond loopback it refuses to start without a token (``Authorization: Bearer <token>``;
health probes stay open), unless --no-auth. Ctrl-C (SIGINT) or SIGTERM stops it after the
requests in flight are answered. Written by onnxkit's ``deploy.bundle``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # predict.py and the serving package sit next to this file

from predict import (  # noqa: E402
    LANGUAGE_MODEL,
    BundleError,
    check_files,
    choose_providers,
    load_manifest,
    postprocess,
    session_options,
    validate,
)
from serving.app import starlette_app  # noqa: E402
from serving.auth import TOKEN_ENV, required_token  # noqa: E402
from serving.engine import Engine  # noqa: E402
from serving.protocol import ServerError  # noqa: E402

ARGS_ENV = "ONNXKIT_SERVE_ARGS"  # the arguments, for each process of --processes


def engine(folder: Path, args: argparse.Namespace) -> Engine:
    """The bundle's model in an ONNX Runtime session, behind the batcher."""
    import onnxruntime as ort

    manifest = load_manifest(folder)
    check_files(folder, manifest)
    providers = choose_providers(args.providers, manifest)
    options = session_options(manifest)  # with onnxruntime-extensions' operators if used
    if args.threads:
        options.intra_op_num_threads = args.threads
    known = dict(zip(manifest.get("providers", []), manifest.get("provider_options", [])))
    session = ort.InferenceSession(str(folder / manifest["model"]["file"]), options,
                                   providers=providers,
                                   provider_options=[known.get(p) or {} for p in providers])
    return Engine(session=session, manifest=manifest, validate=validate,
                  postprocess=postprocess, client_error=BundleError,
                  max_batch=args.max_batch, max_queue_delay_ms=args.max_queue_delay_ms,
                  preferred_batch_sizes=args.preferred_batch_sizes, workers=args.workers,
                  max_queue_size=args.max_queue_size or None, timeout_ms=args.timeout_ms,
                  allow_nonfinite=args.allow_nonfinite,
                  max_body_bytes=int(args.max_body_mb * (1 << 20)))


def text_app(folder: Path, manifest: dict, args: argparse.Namespace):
    """A language model's bundle: the generate extension (``serving.generate``) over its
    onnxruntime-genai decoder (``serving.textgen``); prompts queued with equal settings are
    decoded one after the other (see textgen)."""
    from serving import generate, textgen

    if args.grpc_port is not None:
        raise BundleError("--grpc-port: a language model is served over HTTP only (the "
                          "generate extension); leave it out")
    check_files(folder, manifest)
    model = textgen.TextModel(folder, manifest["llm"], threads=args.threads)
    served = generate.TextEngine(
        generate=model.generate, name=manifest["model"]["name"],
        client_error=textgen.TextError, max_batch=args.max_batch,
        max_queue_delay_ms=args.max_queue_delay_ms, max_queue_size=args.max_queue_size or None,
        max_body_bytes=int(args.max_body_mb * (1 << 20)),
        versions={"onnxkit": manifest.get("created", {}).get("by", "").split(" ")[-1]})
    return generate.starlette_app(served, token=args.token, open_metrics=args.open_metrics)


def app(args: argparse.Namespace | None = None):
    """The ASGI app (HTTP, and gRPC started on its event loop); uvicorn calls this in each
    process of --processes, with the arguments from the environment."""
    args = args or parse_args(json.loads(os.environ[ARGS_ENV]))
    manifest = load_manifest(HERE)
    if manifest.get("kind") == LANGUAGE_MODEL:
        return text_app(HERE, manifest, args)
    served = engine(HERE, args)
    grpc: dict = {}

    async def start_grpc() -> None:
        if args.grpc_port is not None:
            from serving import grpc_server

            grpc["server"] = await grpc_server.start(served, args.host, args.grpc_port,
                                                     token=args.token)

    async def stop_grpc() -> None:
        if "server" in grpc:
            await grpc["server"].stop(grace=30)

    return starlette_app(served, token=args.token, open_metrics=args.open_metrics,
                         on_start=start_grpc, on_stop=stop_grpc)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Serve the bundled ONNX model (Open "
                                                 "Inference Protocol over HTTP and gRPC).")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default: loopback only)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--grpc-port", type=int, help="also serve gRPC on this port")
    parser.add_argument("--max-batch", type=int, default=32,
                        help="rows per model run when requests are batched (1: no batching)")
    parser.add_argument("--max-queue-delay-ms", "--max-delay-ms", type=float, default=0.0,
                        help="how long the oldest request may wait for a fuller batch "
                             "(default 0: never)")
    parser.add_argument("--preferred-batch-sizes", type=_sizes, default=(),
                        help="batch sizes to run at once when reached, e.g. 8,16")
    parser.add_argument("--max-queue-size", type=int, default=1024,
                        help="requests waiting at most; beyond, 503 with Retry-After (0: "
                             "unbounded)")
    parser.add_argument("--timeout-ms", type=float,
                        help="a request not started within this is answered 503")
    parser.add_argument("--workers", type=int, default=1, help="model runs at once")
    parser.add_argument("--processes", type=int, default=1,
                        help="server processes, each with its own model (request-bound loads)")
    parser.add_argument("--threads", type=int, default=0,
                        help="ONNX Runtime intra-op threads (0: its default)")
    parser.add_argument("--providers", help="comma-separated, e.g. cuda,cpu")
    parser.add_argument("--max-body-mb", type=float, default=32.0,
                        help="largest request body accepted")
    parser.add_argument("--allow-nonfinite", action="store_true",
                        help="pass NaN/inf inputs to the model instead of refusing them")
    parser.add_argument("--token", default=os.environ.get(TOKEN_ENV) or None,
                        help=f"bearer token clients must send (default: ${TOKEN_ENV})")
    parser.add_argument("--no-auth", action="store_true",
                        help="serve beyond loopback without a token, on purpose")
    parser.add_argument("--open-metrics", action="store_true",
                        help="serve /metrics without the token")
    args = parser.parse_args(argv)
    if args.max_batch < 1 or args.workers < 1 or args.processes < 1 or \
            args.max_queue_delay_ms < 0 or args.max_queue_size < 0:
        parser.error("--max-batch, --workers and --processes must be >= 1; "
                     "--max-queue-delay-ms and --max-queue-size >= 0")
    try:
        args.token = required_token(args.host, args.token, no_auth=args.no_auth)
    except ServerError as e:
        parser.error(str(e))
    return args


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes such as 8,16; got {text!r}") from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"batch sizes must be >= 1; got {text!r}")
    return sizes


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        check_files(HERE, load_manifest(HERE))  # once, before any process starts
        served = app(args) if args.processes == 1 else None
    except BundleError as e:
        print(f"serve.py: error: {e}", file=sys.stderr)
        return 1
    import uvicorn

    if args.token:
        print(f"serve.py: clients must send 'Authorization: Bearer <token>' (from --token or "
              f"${TOKEN_ENV})", file=sys.stderr)
    if served is None:  # each process imports this file and builds its own app()
        os.environ[ARGS_ENV] = json.dumps(argv if argv is not None else sys.argv[1:])
        uvicorn.run("serve:app", factory=True, app_dir=str(HERE), workers=args.processes,
                    host=args.host, port=args.port, log_level="warning",
                    timeout_graceful_shutdown=30)
        return 0
    uvicorn.run(served, host=args.host, port=args.port, log_level="warning",
                timeout_graceful_shutdown=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
