"""The ``onnxkit`` command: the kernel's calls, from the shell.

Each subcommand is one kernel call and prints the result's repr, or JSON with ``--json``.
Errors print their message and exit with status 2; a failed check exits with 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from onnxkit.errors import OnnxkitError

Handler = Callable[[argparse.Namespace], int]


def _info(args: argparse.Namespace) -> int:
    from onnxkit import summarize

    summary = summarize(args.model)
    print(json.dumps(summary.to_dict(), indent=2) if args.json else repr(summary))
    return 0


def _check(args: argparse.Namespace) -> int:
    from onnxkit import check

    report = check(args.model, timeout=args.timeout)
    print(json.dumps(report.to_dict(), indent=2) if args.json else repr(report))
    return 0 if report else 1


def _feeds(args: argparse.Namespace, model: str) -> Any:
    """Feeds from --inputs (.npz by name, .npy for a single input), else random ones."""
    import numpy as np

    from onnxkit import random_inputs
    from onnxkit.errors import InputError

    if not args.inputs:
        return random_inputs(model, batch=args.batch)
    try:
        data = np.load(args.inputs, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise InputError(f"--inputs: cannot read '{args.inputs}' as .npy/.npz: {e}") from e
    return dict(data) if hasattr(data, "files") else data


def _providers(args: argparse.Namespace) -> list[str] | None:
    return args.providers.split(",") if args.providers else None


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np

    from onnxkit import run
    from onnxkit.errors import ParameterError

    if args.out and Path(args.out).exists():
        raise ParameterError(f"--out '{args.out}' exists; onnxkit does not overwrite files. "
                             "Choose another name.")
    outputs = run(args.model, _feeds(args, args.model), providers=_providers(args))
    if args.out:
        np.savez(args.out, **outputs)
    if args.json:
        print(json.dumps({k: {"dtype": str(v.dtype), "shape": list(v.shape), "values":
                              v.ravel()[:20].tolist()} for k, v in outputs.items()}, indent=2))
    else:
        for name, value in outputs.items():
            print(f"{name}: {value.dtype}{list(value.shape)}")
            print(np.array2string(value, threshold=20))
    return 0


def _bench(args: argparse.Namespace) -> int:
    from onnxkit import benchmark

    result = benchmark(args.model, _feeds(args, args.model), providers=_providers(args),
                       threads=args.threads, runs=args.runs, duration=args.duration)
    if args.json:
        d = result.to_dict()
        d.pop("samples")
        print(json.dumps(d, indent=2))
    else:
        print(repr(result))
    return 0


def _compare(args: argparse.Namespace) -> int:
    from onnxkit import compare

    result = compare(args.model, args.candidate, _feeds(args, args.model), rtol=args.rtol,
                     atol=args.atol, providers=_providers(args))
    print(json.dumps(result.to_dict(), indent=2) if args.json else repr(result))
    return 0 if result else 1


def _optimize(args: argparse.Namespace) -> int:
    import onnxkit

    model = onnxkit.load(args.model)
    if args.fix_dim:
        model = onnxkit.fix_dims(model, dict(_dim_assignment(d) for d in args.fix_dim))
    if args.level != "none" or not args.no_simplify:
        level = None if args.level == "none" else args.level
        model = onnxkit.optimize(model, level=level, simplify=not args.no_simplify)
    if args.fp16:
        model = onnxkit.to_fp16(model)
    if args.json:
        lineage = [step.to_dict() for step in model.lineage]
        print(json.dumps({"path": str(model.path), "lineage": lineage}, indent=2, default=str))
    else:
        for step in model.lineage:
            check = step.details.get("verification", {})
            verdict = {True: "verified", False: "CHANGED OUTPUTS"}.get(check.get("passed"), "")
            print(f"{step.op}({', '.join(f'{k}={v!r}' for k, v in step.params.items())}) {verdict}")
        print(model.path)
    return 0


def _quantize(args: argparse.Namespace) -> int:
    from onnxkit import quantize

    if args.mode == "static":
        if not args.calibration:
            from onnxkit.errors import ParameterError

            raise ParameterError("--mode static needs --calibration data.npz (or .npy): arrays "
                                 "named after the model's inputs, rows are samples.")
        model = quantize.static(args.model, _calibration(args.calibration, args.model),
                                method=args.method, format=args.format, samples=args.samples)
    elif args.mode == "dynamic":
        model = quantize.dynamic(args.model)
    else:
        model = quantize.weight_only(args.model, bits=4, block_size=args.block_size)
    step = model.lineage[-1]
    print(f"{step.op}({', '.join(f'{k}={v!r}' for k, v in step.params.items())}): size "
          f"{step.details['size_ratio']:.2f}x of the float model")
    print(model.path)
    return 0


def _calibration(path: str, model: str) -> Any:
    """An .npy (single-input models) or .npz whose arrays are named after the inputs."""
    import numpy as np

    from onnxkit.errors import InputError
    from onnxkit.quantize._calibration import CHUNK

    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise InputError(f"--calibration: cannot read '{path}' as .npy/.npz: {e}") from e
    if not hasattr(data, "files"):
        return data
    arrays = dict(data)
    rows = len(next(iter(arrays.values())))
    return [{k: v[i:i + CHUNK] for k, v in arrays.items()} for i in range(0, rows, CHUNK)]


def _convert(args: argparse.Namespace) -> int:
    from onnxkit import convert

    source = convert.load_source(args.source)
    if args.framework == "torch":
        if not args.input_shape:
            from onnxkit.errors import ParameterError

            raise ParameterError("convert torch needs --input-shape (e.g. 1,3,224,224, or "
                                 "'2,16:int64' for other dtypes; repeat per input).")
        example = convert.example_inputs(";".join(args.input_shape), framework="torch")
        conversion = convert.from_torch(source, example, exporter=args.exporter,
                                        opset=args.opset, dynamic_batch=args.dynamic_batch,
                                        out=args.out)
    else:
        conversion = convert.from_keras(source, opset=args.opset, out=args.out)
    print(json.dumps(conversion.to_dict(), indent=2) if args.json else repr(conversion))
    return 0 if conversion else 1


def _bundle_create(args: argparse.Namespace) -> int:
    from onnxkit import deploy

    labels = [s.strip() for s in args.labels.split(",")] if args.labels else None
    result = deploy.bundle(args.model, args.out_dir, providers=_providers(args), labels=labels,
                           threshold=args.threshold, output=args.output,
                           overwrite=args.overwrite)
    print(json.dumps(result.to_dict(), indent=2, default=str) if args.json else repr(result))
    return 0


def _bundle_verify(args: argparse.Namespace) -> int:
    from onnxkit import deploy

    check = deploy.verify(args.bundle_dir)
    print(json.dumps(check.to_dict(), indent=2) if args.json else repr(check))
    return 0 if check else 1


def _add_bundle_commands(sub: Any) -> None:
    group = sub.add_parser("bundle", help="make or verify a deployable bundle folder",
                           description="A bundle is a folder with the model, manifest.json "
                                       "(hashes, IO, versions), a standalone predict.py, pinned "
                                       "requirements.txt and a README.")
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = actions.add_parser("create", help="write a bundle folder for a model",
                           description="Write a bundle folder (smoke-tested, atomically).")
    p.add_argument("model", help="path of the .onnx file")
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
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(handler=_bundle_verify)


def _demo(args: argparse.Namespace) -> int:
    from onnxkit import demo

    def show(stage: Any) -> None:
        if not args.json:
            print(stage.line(), flush=True)

    report = demo(args.out, bundle_dir=args.bundle, quick=args.quick, overwrite=args.overwrite,
                  progress=show)
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


def _dim_assignment(text: str) -> tuple[str, int]:
    from onnxkit.errors import ParameterError

    name, _, value = text.partition("=")
    if not name or not value.strip().isdigit():
        raise ParameterError(f"--fix-dim takes NAME=VALUE with a positive integer, e.g. "
                             f"batch=1; got {text!r}.")
    return name.strip(), int(value)


def _add_model_command(sub: Any, name: str, handler: Handler, help: str) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help, description=help)
    p.add_argument("model", help="path of the .onnx file")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(handler=handler)
    return p


def build_parser() -> argparse.ArgumentParser:
    from onnxkit import __version__

    parser = argparse.ArgumentParser(
        prog="onnxkit", description="Inspect, check and prepare ONNX models for deployment.")
    parser.add_argument("--version", action="version", version=f"onnxkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_model_command(sub, "info", _info, "summarize a model: IO, opsets, operators, parameters")
    p = _add_model_command(sub, "check", _check,
                           "validate a model (structure, onnx checker, shapes, ORT session); "
                           "exit 1 if it fails")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds for the native checks")
    p = _add_model_command(sub, "run", _run, "run a model on inputs and print its outputs")
    _add_run_options(p)
    p.add_argument("--out", help="save the outputs to this .npz (must not exist)")
    p = _add_model_command(sub, "bench", _bench, "benchmark a model's latency")
    _add_run_options(p)
    p.add_argument("--threads", type=int, help="intra-op threads")
    p.add_argument("--runs", type=int, help="timed runs (default: about one second of runs)")
    p.add_argument("--duration", type=float, help="seconds of timed runs")
    p = _add_model_command(sub, "compare", _compare,
                           "compare a candidate model's outputs with a reference model's; "
                           "exit 1 if they differ")
    p.add_argument("candidate", help="path of the candidate .onnx file")
    _add_run_options(p)
    p.add_argument("--rtol", type=float, default=1e-3)
    p.add_argument("--atol", type=float, default=1e-4)
    p = _add_model_command(sub, "optimize", _optimize,
                           "write an optimized copy to the workspace (the input is never "
                           "modified) and print its path")
    p.add_argument("--level", default="all", choices=["basic", "extended", "layout", "all", "none"],
                   help="ORT optimization level (basic keeps standard ONNX ops); default all")
    p.add_argument("--no-simplify", action="store_true", help="skip onnxslim")
    p.add_argument("--fp16", action="store_true", help="convert to float16 afterwards")
    p.add_argument("--fix-dim", action="append", metavar="NAME=VALUE",
                   help="fix a symbolic dim first (repeatable), e.g. --fix-dim batch=1")
    p = sub.add_parser("convert", help="convert a PyTorch or Keras model to ONNX, verified",
                       description="Convert a model to ONNX and check it against the framework; "
                                   "exit 1 if the outputs differ.")
    p.add_argument("framework", choices=["torch", "keras"])
    p.add_argument("source", help="torch: SCRIPT.py:NAME (a module, or a function returning "
                                  "one); keras: a .keras file")
    p.add_argument("--input-shape", action="append", default=[], metavar="1,3,224,224[:DTYPE]",
                   help="torch: an example input's shape, dtype float32 unless given (repeat "
                        "per input)")
    p.add_argument("--exporter", choices=["dynamo", "torchscript"])
    p.add_argument("--opset", type=int)
    p.add_argument("--dynamic-batch", action="store_true", help="make axis 0 dynamic")
    p.add_argument("--out", help="write the model here (default: the workspace)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(handler=_convert)
    p = _add_model_command(sub, "quantize", _quantize,
                           "write a quantized copy to the workspace and print its path")
    p.add_argument("--mode", required=True, choices=["dynamic", "static", "int4"])
    p.add_argument("--calibration", help="static: .npz with arrays named after the inputs "
                                         "(rows are samples), or .npy for one input")
    p.add_argument("--method", default="minmax",
                   choices=["minmax", "entropy", "percentile", "distribution"])
    p.add_argument("--format", default="qdq", choices=["qdq", "qoperator"])
    p.add_argument("--samples", type=int, help="use at most this many calibration rows")
    p.add_argument("--block-size", type=int, default=32, help="int4: weights per block")
    _add_bundle_commands(sub)
    _add_demo_command(sub)
    return parser


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--inputs", help=".npz (arrays named after the inputs) or .npy (one input); "
                                    "default: random inputs")
    p.add_argument("--batch", type=int, default=1, help="batch size of random inputs")
    p.add_argument("--providers", help="comma-separated, in priority order (e.g. cuda,cpu)")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except OnnxkitError as e:
        print(f"onnxkit {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
