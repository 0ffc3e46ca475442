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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except OnnxkitError as e:
        print(f"onnxkit {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
