"""``llm export``, ``llm generate``, ``llm bench``: decoder language models from the shell."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import onnxkit
from onnxkit.cli._common import add_json_option, show

# onnxkit.llm's PRECISIONS and ROUTES, spelled out: building the parser imports no stage.
PRECISIONS = ("fp32", "fp16", "int8", "int4")
ROUTES = ("builder", "onnxkit")


def _export(args: argparse.Namespace) -> int:
    lm = onnxkit.llm.export(args.source, precision=args.precision, out=args.out,
                            route=args.route)
    show(lm, args.json)
    return 0 if lm.verification else 1


def _generate(args: argparse.Namespace) -> int:
    lm = onnxkit.llm.load(args.folder)
    stream = lm.generate(args.prompt, max_new_tokens=args.max_new_tokens,
                         do_sample=args.sample, temperature=args.temperature, top_k=args.top_k,
                         top_p=args.top_p, repetition_penalty=args.repetition_penalty,
                         stop=args.stop or None, seed=args.seed, stream=True)
    if not args.json:
        sys.stdout.write(args.prompt)
    for piece in stream:
        if not args.json:
            sys.stdout.write(piece)
            sys.stdout.flush()
    result = stream.results[0]  # type: ignore[union-attr]  # a stream for one prompt
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(f"\n[{len(result.tokens)} tokens, {result.finish_reason}, TTFT "
              f"{result.ttft_ms:.1f} ms, {result.tokens_per_s:.1f} tokens/s]", file=sys.stderr)
    return 0


def _bench(args: argparse.Namespace) -> int:
    prompts, batches = _ints(args.prompt_tokens, "--prompt-tokens"), _ints(args.batch, "--batch")
    result = onnxkit.llm.benchmark(onnxkit.llm.load(args.folder), prompt_tokens=prompts,
                                   new_tokens=args.new_tokens, batch=batches, rounds=args.rounds)
    show(result, args.json)
    return 0


def _ints(text: str, flag: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise onnxkit.errors.ParameterError(
            f"onnxkit llm bench {flag} takes comma-separated integers such as 32,128; "
            f"got {text!r}.") from None


def add_commands(sub: Any) -> None:
    llm = sub.add_parser("llm", help="decoder language models: export, generate, bench",
                         description="Decoder language models with a KV cache.")
    commands = llm.add_subparsers(dest="llm_command", required=True, metavar="LLM_COMMAND")
    p = commands.add_parser("export", help="export a Hugging Face decoder, verified")
    p.add_argument("source", help="local Hugging Face folder (config, weights, tokenizer)")
    p.add_argument("--precision", default="fp32", choices=PRECISIONS)
    p.add_argument("--out", help="folder to write (new or empty); default: the workspace")
    p.add_argument("--route", choices=ROUTES,
                   help="default: the model builder where it knows the architecture")
    add_json_option(p)
    p.set_defaults(handler=_export)

    p = commands.add_parser("generate", help="continue a prompt, streaming the text")
    p.add_argument("folder", help="a folder written by 'onnxkit llm export'")
    p.add_argument("prompt")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--sample", action="store_true", help="sample instead of greedy")
    p.add_argument("--temperature", type=float)
    p.add_argument("--top-k", type=int)
    p.add_argument("--top-p", type=float)
    p.add_argument("--repetition-penalty", type=float)
    p.add_argument("--stop", action="append", help="a string that ends the text (repeatable)")
    p.add_argument("--seed", type=int)
    add_json_option(p)
    p.set_defaults(handler=_generate)

    p = commands.add_parser("bench", help="time to first token and decode tokens/s")
    p.add_argument("folder", help="a folder written by 'onnxkit llm export'")
    p.add_argument("--prompt-tokens", default="32,128", help="comma-separated lengths")
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--batch", default="1,4", help="comma-separated batch sizes")
    p.add_argument("--rounds", type=int, default=5)
    add_json_option(p)
    p.set_defaults(handler=_bench)
