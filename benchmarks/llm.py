"""Decode tokens/s and time to first token: onnxkit.llm vs onnxruntime-genai vs Optimum's
ORTModelForCausalLM vs transformers.generate, fp32 and int4, side by side in one run.

Two local random-weight decoders (nothing downloads): a Llama-architecture one (6 layers,
hidden 512, 8 heads / 2 KV heads, vocab 8192: the model builder's route) and a GPT-2-class
one (6 layers, hidden 512, 8 heads, vocab 8192: onnxkit's own route). Each peer runs in its
own virtualenv, as a worker process that loads its models once and then answers "generate N
greedy tokens after this prompt" requests; the rounds are interleaved across every
(peer, model, precision, prompt) in an order that rotates, and each ratio is paired by round
with its 95% interval (onnxkit.bench.speedup_interval). Also timed: the loop onnxkit had
before (no cache: every token re-runs the whole prefix through the same graph), and
onnxkit with ``llm.load(spinning=True)`` (``spin/...``: ORT's idle threads spinning between
steps, as onnxruntime-genai's do; onnxkit's default is off, which loses on idle cores and
wins on busy ones).

    .venv-genai         onnxruntime 1.32.0 + onnxruntime-genai 0.18.0 (runs the builder's
                        folders that onnxkit wrote: the same graph, its own engine)
    .venv-optimum       torch 2.13.0 + optimum-onnx[onnxruntime] 0.1.0 + transformers 4.57 +
                        onnxruntime 1.32.0 + onnx-ir 1.1.0 (exports with its own exporter;
                        int4: its graph through ORT's MatMulNBits quantizer, accuracy level
                        4, block 32)
    .venv-transformers  torch 2.13.0 + transformers 5.24.0 (fp32 only)

Nothing builds them: each is made by hand at the repository root (a missing one is left out),
e.g. ``python -m venv .venv-genai && .venv-genai/bin/pip install onnxruntime==1.32.0
onnxruntime-genai==0.18.0``; for the two with torch, ``pip install torch==2.13.0`` first (the
CPU build), then the rest. ``.venv`` is onnxkit's own (in a git worktree, a link to the main
checkout's); both it and the conductor import onnxkit from this checkout.

Run: ``python benchmarks/llm.py [--prompts 32,128,512] [--new-tokens 128] [--rounds 5]``
(default: prompt 32, 64 new tokens, 5 rounds: a few minutes on two cores).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's onnxkit, not another one installed
VENVS = {"onnxkit": ".venv", "genai": ".venv-genai", "optimum": ".venv-optimum",
         "transformers": ".venv-transformers"}
THREADS = 2
PEER_OF = {"nocache": "onnxkit", "spin": "onnxkit"}  # keys the onnxkit worker answers
# What onnxkit exports: fp32, int4 (blocks of 128, the default), and int4 as it was before
# (blocks of 32, the model builder's default), to show what the block size buys side by side.
VARIANTS = {"fp32": {"precision": "fp32"}, "int4": {"precision": "int4"},
            "int4-b32": {"precision": "int4", "block_size": 32}}


# --- workers: each runs in its peer's virtualenv, imports only its own libraries ----------

def _load(peer: str, spec: dict[str, Any]) -> Any:
    """A function ``(prompt ids, new tokens) -> (ttft_ms, tokens/s, tokens)``."""
    kind, folder, precision = spec["kind"], spec["folder"], spec["precision"]
    if peer == "onnxkit":
        import numpy as np

        from onnxkit import llm

        # spin: ORT's idle threads spinning between steps, as onnxruntime-genai's do
        lm = llm.load(folder, threads=THREADS, spinning=kind == "spin")
        dec = lm.decoder
        if kind == "nocache":
            def run(ids: list[int], n: int) -> tuple[float, float, list[int]]:
                seq, marks = list(ids), []
                start = time.perf_counter()
                for _ in range(n):
                    seq.append(int(dec.sequence_logits(seq)[-1].argmax()))
                    marks.append(time.perf_counter())
                return _figures(start, marks, seq[len(ids):])
            return run

        def run(ids: list[int], n: int) -> tuple[float, float, list[int]]:
            start = time.perf_counter()
            batch, logits = dec.prefill([ids], lm.pad_token_id, capacity=len(ids) + n)
            out, marks = [int(logits[0].argmax())], [time.perf_counter()]
            for _ in range(n - 1):
                out.append(int(dec.step(batch, np.array(out[-1:]))[0].argmax()))
                marks.append(time.perf_counter())
            return _figures(start, marks, out)
        return run
    if peer == "genai":
        import numpy as np
        import onnxruntime_genai as og

        model = og.Model(folder)

        def run(ids: list[int], n: int) -> tuple[float, float, list[int]]:
            start = time.perf_counter()
            params = og.GeneratorParams(model)
            params.set_search_options(max_length=len(ids) + n, min_length=len(ids) + n,
                                      do_sample=False)
            gen = og.Generator(model, params)
            gen.append_tokens(np.array([ids], np.int32))
            out, marks = [], []
            while not gen.is_done():
                gen.generate_next_token()
                out.append(int(gen.get_next_tokens()[0]))
                marks.append(time.perf_counter())
            return _figures(start, marks, out)
        return run
    import torch

    torch.set_num_threads(THREADS)
    if peer == "optimum":
        model = _optimum_model(folder, precision, spec["work"])
    else:
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()

    def run(ids: list[int], n: int) -> tuple[float, float, list[int]]:
        marks: list[float] = []

        class Clock:  # a generate() streamer: put() once for the prompt, then per token
            def put(self, value: Any) -> None:
                marks.append(time.perf_counter())

            def end(self) -> None:
                pass

        start = time.perf_counter()
        with torch.no_grad():
            out = model.generate(torch.tensor([ids]), attention_mask=torch.ones(
                1, len(ids), dtype=torch.int64), max_new_tokens=n, min_new_tokens=n,
                do_sample=False, streamer=Clock(), pad_token_id=0)
        return _figures(start, marks[1:], out[0, len(ids):].tolist())
    return run


def _optimum_model(folder: str, precision: str, work: str) -> Any:
    from optimum.onnxruntime import ORTModelForCausalLM

    exported = Path(work) / ("optimum-" + Path(folder).name)
    if not (exported / "model.onnx").exists():
        ORTModelForCausalLM.from_pretrained(folder, export=True).save_pretrained(exported)
    if precision == "int4":
        quantized = exported.with_name(exported.name + "-int4")
        if not (quantized / "model.onnx").exists():
            import shutil

            import onnx
            from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

            shutil.copytree(exported, quantized, ignore=shutil.ignore_patterns("model.onnx*"))
            q = MatMulNBitsQuantizer(onnx.load(exported / "model.onnx"), bits=4, block_size=32,
                                     is_symmetric=True, accuracy_level=4)
            q.process()
            onnx.save(q.model.model, quantized / "model.onnx", save_as_external_data=True,
                      location="model.onnx.data")
        exported = quantized
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = THREADS
    return ORTModelForCausalLM.from_pretrained(exported, session_options=options)


def _figures(start: float, marks: list[float], tokens: list[int]
             ) -> tuple[float, float, list[int]]:
    ttft = (marks[0] - start) * 1e3
    speed = (len(marks) - 1) / (marks[-1] - marks[0]) if len(marks) > 1 else float("nan")
    return ttft, speed, tokens


def worker(peer: str, specs: list[dict[str, Any]]) -> None:
    runners = {s["key"]: _load(peer, s) for s in specs}
    for run in runners.values():  # warm-up
        run(list(range(1, 9)), 4)
    print("ready", flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        ttft, speed, tokens = runners[request["key"]](request["ids"], request["new"])
        print(json.dumps({"ttft_ms": ttft, "tokens_per_s": speed, "tokens": tokens}),
              flush=True)


# --- the conductor: builds the models, starts the workers, interleaves the rounds ----------

def models(work: Path) -> dict[str, Path]:
    """The two Hugging Face folders (made once, then reused from ``work``)."""
    from pydoc_data.topics import topics

    import torch
    import transformers as T
    from tokenizers import Tokenizer, decoders, pre_tokenizers, trainers
    from tokenizers import models as bpe_models

    bpe = Tokenizer(bpe_models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(list(topics.values()), trainers.BpeTrainer(
        vocab_size=8192, special_tokens=["<|endoftext|>"], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = T.PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>",
                                    bos_token="<|endoftext|>", unk_token="<|endoftext|>")
    common = {"vocab_size": 8192, "bos_token_id": 0, "eos_token_id": 0}
    configs = {
        "llama": T.LlamaConfig(hidden_size=512, intermediate_size=1536, num_hidden_layers=6,
                               num_attention_heads=8, num_key_value_heads=2,
                               max_position_embeddings=2048, **common),
        "gpt2": T.GPT2Config(n_embd=512, n_layer=6, n_head=8, n_positions=2048, **common),
    }
    out = {}
    for name, config in configs.items():
        folder = work / f"bench-{name}"
        if not (folder / "config.json").exists():
            torch.manual_seed(0)
            T.AutoModelForCausalLM.from_config(config).eval().save_pretrained(folder)
            tok.save_pretrained(folder)
        out[name] = folder
    return out


def exports(hf: dict[str, Path], work: Path) -> dict[tuple[str, str], Path]:
    from onnxkit import llm

    out = {}
    for name, folder in hf.items():
        for precision, options in VARIANTS.items():
            target = work / f"onnxkit-{name}-{precision}"
            if not (target / "onnxkit-llm.json").exists():
                lm = llm.export(folder, out=target, **options)
                print(f"  exported {name} {precision}: {lm.verification!r}", flush=True)
            out[(name, precision)] = target
    return out


class Worker:
    def __init__(self, peer: str, specs: list[dict[str, Any]]) -> None:
        python = ROOT / VENVS[peer] / "bin" / "python"
        env = {**os.environ, "OMP_NUM_THREADS": str(THREADS), "TOKENIZERS_PARALLELISM": "false"}
        self.process = subprocess.Popen(
            [str(python), str(HERE), "--worker", peer, "--specs", json.dumps(specs)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
        assert self.process.stdout and self.process.stdout.readline().strip() == "ready", peer

    def run(self, key: str, ids: list[int], new: int) -> dict[str, Any]:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(json.dumps({"key": key, "ids": ids, "new": new}) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self) -> None:
        assert self.process.stdin
        self.process.stdin.close()
        self.process.wait(timeout=60)


def plan(hf: dict[str, Path], onnx_folders: dict[tuple[str, str], Path], work: Path
         ) -> dict[str, list[dict[str, Any]]]:
    """Every peer's configurations: ``{peer: [{key, kind, folder, precision}]}``."""
    specs: dict[str, list[dict[str, Any]]] = {p: [] for p in VENVS}
    for (name, precision), folder in onnx_folders.items():
        base = {"folder": str(folder), "precision": precision, "work": str(work)}
        specs["onnxkit"].append({"key": f"onnxkit/{name}/{precision}", "kind": "cache", **base})
        if name == "llama":  # the builder's folder is onnxruntime-genai's own format
            specs["genai"].append({"key": f"genai/{name}/{precision}", "kind": "", **base})
        if precision == "fp32":
            specs["onnxkit"].append({"key": f"nocache/{name}/fp32", "kind": "nocache", **base})
        if precision in ("fp32", "int4"):  # llm.load(spinning=True), genai's thread setting
            specs["onnxkit"].append({"key": f"spin/{name}/{precision}", "kind": "spin", **base})
    for name, folder in hf.items():
        for precision in ("fp32", "int4"):
            specs["optimum"].append({"key": f"optimum/{name}/{precision}", "kind": "",
                                     "folder": str(folder), "precision": precision,
                                     "work": str(work)})
        specs["transformers"].append({"key": f"transformers/{name}/fp32", "kind": "",
                                      "folder": str(folder), "precision": "fp32",
                                      "work": str(work)})
    return {p: s for p, s in specs.items() if s and (ROOT / VENVS[p] / "bin/python").exists()}


def measure(workers: dict[str, Worker], keys: list[str], prompts: list[int], new: int,
            rounds: int, vocab: int) -> dict[tuple[str, int], list[dict[str, Any]]]:
    import random

    rng = random.Random(0)
    ids = {p: [rng.randrange(1, vocab) for _ in range(p)] for p in prompts}
    cells = [(k, p) for k in keys for p in prompts]
    seen: dict[tuple[str, int], list[dict[str, Any]]] = {c: [] for c in cells}
    for r in range(rounds):
        shift = (r * 7) % len(cells)
        for key, p in cells[shift:] + cells[:shift]:
            seen[(key, p)].append(workers[PEER_OF.get(key.split("/")[0], key.split("/")[0])].run(
                key, ids[p], new))
        print(f"  round {r + 1}/{rounds}", flush=True)
    return seen


def report(seen: dict[tuple[str, int], list[dict[str, Any]]], prompts: list[int], new: int
           ) -> str:
    from onnxkit.bench import speedup_interval

    def median(values: list[float]) -> float:
        return sorted(values)[len(values) // 2]

    lines = ["| model | precision | prompt | path | decode tokens/s | TTFT ms | onnxkit / "
             "this (tokens/s, 95% interval) | greedy tokens = onnxkit's |",
             "|---|---|---|---|---|---|---|---|"]
    for (key, p), runs in sorted(seen.items(), key=lambda kv: (kv[0][0].split("/")[1],
                                                               kv[0][0].split("/")[2],
                                                               kv[0][1], kv[0][0])):
        peer, name, precision = key.split("/")
        mine = seen[(f"onnxkit/{name}/{precision}", p)]
        ratio = speedup_interval([a["tokens_per_s"] / b["tokens_per_s"]
                                  for a, b in zip(mine, runs)])
        same = sum(x == y for x, y in zip(mine[0]["tokens"], runs[0]["tokens"]))
        lines.append(f"| {name} | {precision} | {p} | {peer} | "
                     f"{median([r['tokens_per_s'] for r in runs]):.1f} | "
                     f"{median([r['ttft_ms'] for r in runs]):.1f} | "
                     f"{'—' if peer == 'onnxkit' else str(ratio)} | {same}/{new} |")
    for name in ("llama", "gpt2"):
        for p in prompts:
            nocache = seen.get((f"nocache/{name}/fp32", p))
            for peer in ("onnxkit", "spin", "genai"):
                fp32 = seen.get((f"{peer}/{name}/fp32", p))
                for variant in ("int4", "int4-b32"):
                    int4 = seen.get((f"{peer}/{name}/{variant}", p))
                    if fp32 and int4:
                        lines.append(f"{name} prompt {p}: {peer} {variant} / its fp32 = " + str(
                            speedup_interval([a["tokens_per_s"] / b["tokens_per_s"]
                                              for a, b in zip(int4, fp32)])) + ", TTFT " + str(
                            speedup_interval([b["ttft_ms"] / a["ttft_ms"]
                                              for a, b in zip(int4, fp32)])) + " (fp32 / it)")
            for precision in ("fp32", "int4"):  # like for like: both threads spinning
                spin, genai = (seen.get((f"{peer}/{name}/{precision}", p))
                               for peer in ("spin", "genai"))
                if spin and genai:
                    lines.append(f"{name} prompt {p}: onnxkit spinning / genai {precision} = "
                                 + str(speedup_interval([a["tokens_per_s"] / b["tokens_per_s"]
                                                         for a, b in zip(spin, genai)])))
            fp32 = seen.get((f"onnxkit/{name}/fp32", p))
            if fp32 and nocache:
                lines.append(f"{name} prompt {p}: onnxkit with cache / no-cache loop = " + str(
                    speedup_interval([a["tokens_per_s"] / b["tokens_per_s"]
                                      for a, b in zip(fp32, nocache)])))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", default="32", help="prompt lengths, e.g. 32,128,512")
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--work", default=None, help="where models are built and kept "
                        "(default: onnxkit's user cache, llm-bench)")
    parser.add_argument("--worker")
    parser.add_argument("--specs")
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, json.loads(args.specs))
    from onnxkit.base import user_cache

    work = Path(args.work) if args.work else user_cache("llm-bench")
    prompts = [int(p) for p in args.prompts.split(",")]
    print(f"models in {work}", flush=True)
    hf = models(work)
    specs = plan(hf, exports(hf, work), work)
    missing = sorted(set(VENVS) - set(specs))
    if missing:
        print(f"  no virtualenv for {missing}: left out (see this file's docstring)")
    workers = {}
    try:
        for peer, peer_specs in specs.items():
            print(f"  starting {peer}", flush=True)
            workers[peer] = Worker(peer, peer_specs)
        keys = [s["key"] for peer_specs in specs.values() for s in peer_specs]
        seen = measure(workers, keys, prompts, args.new_tokens, args.rounds, vocab=8192)
    finally:
        for w in workers.values():
            w.close()
    print(report(seen, prompts, args.new_tokens))


if __name__ == "__main__":
    main()
