"""``optimize``, ``quantize``, ``convert``: a new model in the workspace, verified."""

from __future__ import annotations

import argparse
import json
from typing import Any

import onnxkit
from onnxkit.cli._common import add_json_option, add_model_command, arrays, show
from onnxkit.errors import ParameterError


def _optimize(args: argparse.Namespace) -> int:
    fix = dict(_dim_assignment(d) for d in args.fix_dim or [])
    model = onnxkit.optimize_pipeline(args.model, fix=fix or None,
                                      level=None if args.level == "none" else args.level,
                                      simplify=not args.no_simplify, fp16=args.fp16)
    if args.json:
        lineage = [step.to_dict() for step in model.lineage]
        print(json.dumps({"path": str(model.path), "lineage": lineage}, indent=2, default=str))
    else:
        for step in model.lineage:
            check = step.details.get("verification", {})
            verdict = {True: "verified", False: "CHANGED OUTPUTS"}.get(check.get("passed"), "")
            print(f"{step.call()} {verdict}")
        print(model.path)
    return 0


def _dim_assignment(text: str) -> tuple[str, int]:
    name, _, value = text.partition("=")
    if not name or not value.strip().isdigit():
        raise ParameterError(f"onnxkit optimize --fix-dim takes NAME=VALUE with a positive "
                             f"integer, e.g. batch=1; got {text!r}.")
    return name.strip(), int(value)


def _quantize(args: argparse.Namespace) -> int:
    quantize = onnxkit.quantize
    if args.mode == "static":
        if not args.calibration:
            raise ParameterError("onnxkit quantize --mode static needs --calibration data.npz "
                                 "(or .npy): arrays named after the model's inputs, rows are "
                                 "samples.")
        model = quantize.static(args.model, arrays(args.calibration, "--calibration"),
                                method=args.method, format=args.format, samples=args.samples)
    elif args.mode == "dynamic":
        model = quantize.dynamic(args.model)
    else:
        model = quantize.weight_only(args.model, bits=4, block_size=args.block_size)
    step = model.lineage[-1]
    print(f"{step.call()}: size {step.details['size_ratio']:.2f}x of the float model")
    print(model.path)
    return 0


def _convert(args: argparse.Namespace) -> int:
    convert = onnxkit.convert
    source = convert.load_source(args.source)
    if args.framework == "torch":
        if args.inputs:
            example = arrays(args.inputs, "--inputs")  # .npz by argument name, or one .npy
        elif args.input_shape:
            example = convert.example_inputs(";".join(args.input_shape), framework="torch",
                                             module=source)
        else:
            raise ParameterError("onnxkit convert torch needs --input-shape (e.g. 1,3,224,224, "
                                 "or '2,16:int64' for other dtypes; repeat per input) or "
                                 "--inputs data.npz (real inputs, by argument name).")
        conversion = convert.from_torch(source, example, exporter=args.exporter,
                                        opset=args.opset, dynamic_batch=args.dynamic_batch,
                                        out=args.out)
    else:
        conversion = convert.from_keras(source, opset=args.opset, out=args.out)
    show(conversion, args.json)
    return 0 if conversion else 1


def add_commands(sub: Any) -> None:
    p = add_model_command(sub, "optimize", _optimize,
                          "write an optimized copy to the workspace (the input is never "
                          "modified) and print its path")
    p.add_argument("--level", default="all", choices=[*onnxkit.OPTIMIZE_LEVELS, "none"],
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
    p.add_argument("--inputs", metavar="DATA.npz",
                   help="torch: real example inputs, an .npz of arrays named after the "
                        "forward's arguments (or one .npy); instead of --input-shape")
    p.add_argument("--exporter", choices=["dynamo", "torchscript"])
    p.add_argument("--opset", type=int)
    p.add_argument("--dynamic-batch", action="store_true", help="make axis 0 dynamic")
    p.add_argument("--out", help="write the model here (default: the workspace)")
    add_json_option(p)
    p.set_defaults(handler=_convert)
    p = add_model_command(sub, "quantize", _quantize,
                          "write a quantized copy to the workspace and print its path")
    quantize = onnxkit.quantize
    p.add_argument("--mode", required=True, choices=quantize.MODES)
    p.add_argument("--calibration", help="static: .npz with arrays named after the inputs "
                                         "(rows are samples), or .npy for one input")
    p.add_argument("--method", default="minmax", choices=quantize.METHODS)
    p.add_argument("--format", default="qdq", choices=quantize.FORMATS)
    p.add_argument("--samples", type=int, help="use at most this many calibration rows")
    p.add_argument("--block-size", type=int, default=32, help="int4: weights per block")
