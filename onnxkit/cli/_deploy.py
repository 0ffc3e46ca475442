"""``bundle create|verify`` and ``demo``: a model made ready to ship."""

from __future__ import annotations

import argparse
import json
from typing import Any

import onnxkit
from onnxkit.cli._common import providers, show


def _bundle_create(args: argparse.Namespace) -> int:
    labels = [s.strip() for s in args.labels.split(",")] if args.labels else None
    result = onnxkit.deploy.bundle(args.model, args.out_dir, providers=providers(args),
                                   labels=labels, threshold=args.threshold, output=args.output,
                                   overwrite=args.overwrite)
    show(result, args.json)
    return 0


def _bundle_verify(args: argparse.Namespace) -> int:
    check = onnxkit.deploy.verify(args.bundle_dir, platform=args.platform)
    show(check, args.json)
    return 0 if check else 1


def _add_bundle_commands(sub: Any) -> None:
    group = sub.add_parser("bundle", help="make or verify a deployable bundle folder",
                           description="A bundle is a folder with the model, manifest.json "
                                       "(hashes, IO, versions), a standalone predict.py, pinned "
                                       "requirements.txt and a README.")
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = actions.add_parser("create", help="write a bundle folder for a model",
                           description="Write a bundle folder (smoke-tested, atomically).")
    p.add_argument("model", help="path of the .onnx file, or a language model's folder "
                                 "(onnxkit llm export's)")
    p.add_argument("out_dir", help="the folder to create (must be new or empty)")
    p.add_argument("--providers", help="comma-separated, in priority order (e.g. cuda,cpu)")
    p.add_argument("--labels", help="comma-separated class names: predict.py prints the label "
                                    "of the highest score")
    p.add_argument("--threshold", type=float, help="binary cut-off on the score")
    p.add_argument("--output", help="the output labels/threshold apply to (default: first)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a previous bundle in out_dir (never any other folder)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(handler=_bundle_create)
    p = actions.add_parser("verify", help="check a bundle's hashes and run its model once; "
                                          "exit 1 if it fails",
                           description="Check every file's SHA-256 against manifest.json, then "
                                       "run one smoke inference; exit 1 if either fails.")
    p.add_argument("bundle_dir", help="the bundle folder")
    p.add_argument("--platform", help="also run it on this platform (linux/arm64: an emulated "
                                      "arm64 Debian root, built once; needs root) and compare "
                                      "its outputs with this machine's")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(handler=_bundle_verify)


def _demo(args: argparse.Namespace) -> int:
    def progress(stage: Any) -> None:
        if not args.json:
            print(stage.line(), flush=True)

    report = onnxkit.demo(args.out, bundle_dir=args.bundle, quick=args.quick,
                          overwrite=args.overwrite, progress=progress)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        print(f"{'total':<9} {report.seconds:5.1f} s  {'passed' if report else 'FAILED'}, "
              f"best '{report.best}'")
        print(f"report: {report.path}")
        print(f"bundle: {report.bundle_dir}")
    return 0 if report else 1


def _add_demo_command(sub: Any) -> None:
    p = sub.add_parser("demo", help="run the whole path on a sample (convert, optimize, "
                                    "quantize, compare, bundle) and write an HTML report",
                       description="Train the digits CNN in PyTorch, convert it to ONNX, "
                                   "optimize and quantize it, compare the variants, bundle the "
                                   "best one and verify the bundle; write a self-contained "
                                   "HTML report with the plots (works offline). Exit 1 if the "
                                   "conversion or the bundle check fails.")
    p.add_argument("--out", default="report.html",
                   help="the report's path (default report.html; must not exist)")
    p.add_argument("--bundle", metavar="DIR",
                   help="the bundle folder, new or empty (default: in the workspace)")
    p.add_argument("--quick", action="store_true",
                   help="fewer latency rounds and runs: quicker, noisier timings")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing report, and a previous bundle in --bundle")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(handler=_demo)


def _serve(args: argparse.Namespace) -> int:
    import signal
    import threading

    done = threading.Event()  # before the server starts: a stop may come at any time
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    server = onnxkit.serve.start(args.target, host=args.host, port=args.port,
                                 max_batch=args.max_batch,
                                 max_queue_delay_ms=args.max_queue_delay_ms,
                                 preferred_batch_sizes=_sizes(args.preferred_batch_sizes),
                                 max_queue_size=args.max_queue_size, timeout_ms=args.timeout_ms,
                                 workers=args.workers, threads=args.threads,
                                 providers=providers(args), token=args.token,
                                 no_auth=args.no_auth, grpc_port=args.grpc_port)
    grpc = (f", gRPC on port {server.settings['grpc_port']}"
            if "grpc_port" in server.settings else "")
    routes = (f"generate: POST {server.generate_url}, generate_stream: POST "
              f"{server.stream_url}" if isinstance(server, onnxkit.serve.GenerateServer)
              else f"infer: POST {server.infer_url}{grpc}")
    print(f"serving '{server.model}' at {server.url} ({routes}); Ctrl-C to stop", flush=True)
    done.wait()
    server.stop()  # answers the requests in flight first
    print("stopped", flush=True)
    return 0


def _sizes(text: str | None) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",")) if text else ()
    except ValueError:
        raise onnxkit.errors.ParameterError(
            f"onnxkit serve --preferred-batch-sizes takes comma-separated integers such as "
            f"4,8; got {text!r}.") from None


def _add_serve_command(sub: Any) -> None:
    p = sub.add_parser("serve", help="serve a bundle or model over HTTP (Open Inference "
                                     "Protocol, dynamic batching, /metrics)",
                       description="Serve a bundle folder (or an .onnx file, bundled first) "
                                   "over HTTP: the Open Inference Protocol (KServe v2) that "
                                   "Triton/KServe clients speak, POST /predict, and Prometheus "
                                   "metrics at /metrics. Loopback only unless --host says "
                                   "otherwise. Ctrl-C or SIGTERM stops it after the requests "
                                   "in flight are answered.")
    p.add_argument("target", help="a bundle folder, an .onnx file, or a language model's "
                                   "folder (onnxkit llm export: served with /generate)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    p.add_argument("--port", type=int, default=8000, help="port (0: a free one)")
    p.add_argument("--max-batch", type=int, default=32,
                   help="rows per model run when requests are batched (1: no batching)")
    p.add_argument("--max-queue-delay-ms", type=float, default=0.0,
                   help="how long a batch may wait for more requests when a full one cannot "
                        "be formed (default 0, as Triton: run as soon as a model run is free)")
    p.add_argument("--preferred-batch-sizes", help="comma-separated batch sizes to form first")
    p.add_argument("--max-queue-size", type=int, default=1024,
                   help="requests waiting at most; beyond it 503 with Retry-After")
    p.add_argument("--timeout-ms", type=float, help="a request waiting longer gets 503")
    p.add_argument("--token", default=None,
                   help="bearer token clients must send (default: $ONNXKIT_SERVE_TOKEN); "
                        "required when --host is beyond loopback")
    p.add_argument("--no-auth", action="store_true",
                   help="serve beyond loopback without a token (anyone who reaches the port "
                        "may infer)")
    p.add_argument("--grpc-port", type=int, help="also serve the protocol's gRPC service here")
    p.add_argument("--workers", type=int, default=1, help="model runs at once")
    p.add_argument("--threads", type=int, help="ONNX Runtime intra-op threads")
    p.add_argument("--providers", help="comma-separated, in priority order (e.g. cuda,cpu)")
    p.set_defaults(handler=_serve)


def add_commands(sub: Any) -> None:
    _add_bundle_commands(sub)
    _add_serve_command(sub)
    _add_demo_command(sub)
