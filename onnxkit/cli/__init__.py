"""The ``onnxkit`` command: the kernel's calls, from the shell.

Each subcommand is one kernel call and prints the result's repr, or JSON with ``--json``.
Errors print their message and exit with status 2; a failed check exits with 1. The commands
live by stage: ``_models`` (info, check, run, bench, compare), ``_transforms`` (optimize,
quantize, convert), ``_deploy`` (bundle, demo), ``_llm`` (llm export, generate,
bench).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from onnxkit._version import __version__
from onnxkit.cli import _deploy, _llm, _models, _transforms
from onnxkit.errors import OnnxkitError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="onnxkit", description="Inspect, check and prepare ONNX models for deployment.")
    parser.add_argument("--version", action="version", version=f"onnxkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in (_models, _transforms, _deploy, _llm):
        group.add_commands(sub)
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
