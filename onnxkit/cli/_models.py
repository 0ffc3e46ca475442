"""``info``, ``check``, ``run``, ``bench``, ``compare``: a model as it is."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

import onnxkit
from onnxkit.cli._common import add_model_command, add_run_options, feeds, providers, show
from onnxkit.errors import ParameterError


def _info(args: argparse.Namespace) -> int:
    show(onnxkit.summarize(args.model), args.json)
    return 0


def _check(args: argparse.Namespace) -> int:
    report = onnxkit.check(args.model, timeout=args.timeout)
    show(report, args.json)
    return 0 if report else 1


def _run(args: argparse.Namespace) -> int:
    if args.out and Path(args.out).exists():
        raise ParameterError(f"onnxkit run --out '{args.out}' exists; onnxkit does not overwrite "
                             "files. Choose another name.")
    outputs = onnxkit.run(args.model, feeds(args, args.model), providers=providers(args))
    if args.out:
        np.savez(args.out, **outputs)  # type: ignore[arg-type]  # names, not flags
    if args.json:
        print(json.dumps({k: {"dtype": str(v.dtype), "shape": list(v.shape), "values":
                              v.ravel()[:20].tolist()} for k, v in outputs.items()}, indent=2))
    else:
        for name, value in outputs.items():
            print(f"{name}: {value.dtype}{list(value.shape)}")
            print(np.array2string(value, threshold=20))
    return 0


def _bench(args: argparse.Namespace) -> int:
    result = onnxkit.benchmark(args.model, feeds(args, args.model), providers=providers(args),
                               threads=args.threads, runs=args.runs, duration=args.duration)
    if args.json:
        d = result.to_dict()
        d.pop("samples")
        print(json.dumps(d, indent=2))
    else:
        print(repr(result))
    return 0


def _compare(args: argparse.Namespace) -> int:
    result = onnxkit.compare(args.model, args.candidate, feeds(args, args.model),
                             rtol=args.rtol, atol=args.atol, providers=providers(args))
    show(result, args.json)
    return 0 if result else 1


def add_commands(sub: Any) -> None:
    add_model_command(sub, "info", _info, "summarize a model: IO, opsets, operators, parameters")
    p = add_model_command(sub, "check", _check,
                          "validate a model (structure, onnx checker, shapes, ORT session); "
                          "exit 1 if it fails")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds for the native checks")
    p = add_model_command(sub, "run", _run, "run a model on inputs and print its outputs")
    add_run_options(p)
    p.add_argument("--out", help="save the outputs to this .npz (must not exist)")
    p = add_model_command(sub, "bench", _bench, "benchmark a model's latency")
    add_run_options(p)
    p.add_argument("--threads", type=int, help="intra-op threads")
    p.add_argument("--runs", type=int, help="timed runs (default: about one second of runs)")
    p.add_argument("--duration", type=float, help="seconds of timed runs")
    p = add_model_command(sub, "compare", _compare,
                          "compare a candidate model's outputs with a reference model's; "
                          "exit 1 if they differ")
    p.add_argument("candidate", help="path of the candidate .onnx file")
    add_run_options(p)
    p.add_argument("--rtol", type=float, default=1e-3)
    p.add_argument("--atol", type=float, default=1e-4)
