"""What the subcommands share: reading inputs, the provider list, printing a result."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

import numpy as np

import onnxkit
from onnxkit.errors import InputError

Handler = Callable[[argparse.Namespace], int]


def add_model_command(sub: Any, name: str, handler: Handler, help: str
                      ) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help, description=help)
    p.add_argument("model", help="path of the .onnx file")
    add_json_option(p)
    p.set_defaults(handler=handler)
    return p


def add_json_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--inputs", help=".npz (arrays named after the inputs) or .npy (one input); "
                                    "default: random inputs")
    p.add_argument("--batch", type=int, default=1, help="batch size of random inputs")
    p.add_argument("--providers", help="comma-separated, in priority order (e.g. cuda,cpu)")


def arrays(path: str, option: str) -> Any:
    """An .npz as a dict of arrays by name, or an .npy as one array."""
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise InputError(f"{option}: cannot read '{path}' as .npy/.npz: {e}") from e
    return dict(data) if hasattr(data, "files") else data


def feeds(args: argparse.Namespace, model: str) -> Any:
    """Feeds from --inputs (.npz by name, .npy for a single input), else random ones."""
    if not args.inputs:
        return onnxkit.random_inputs(model, batch=args.batch)
    return arrays(args.inputs, "--inputs")


def providers(args: argparse.Namespace) -> list[str] | None:
    return args.providers.split(",") if args.providers else None


def show(result: Any, as_json: bool) -> None:
    """A result's repr, or its ``to_dict()`` as JSON."""
    print(json.dumps(result.to_dict(), indent=2, default=str) if as_json else repr(result))
