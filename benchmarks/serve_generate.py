"""Serving a language model: aggregate tokens/s at 4 concurrent streams against 1.

A GPT-2-shaped decoder (random weights, ``--layers``/``--hidden``; exported once by onnxkit's
own route and kept in ``--work``) is served by ``onnxkit.serve.start`` on loopback; clients
are threads of this process reading ``POST .../generate_stream`` (server-sent events) over
real HTTP. One run of "1 stream" is one greedy request of ``--new`` tokens; one run of "4
streams" is four such requests sent together, which the server decodes as one batch when they
queue together (the first may start alone: a lone request never waits). The two are timed in
interleaved rounds by :func:`onnxkit.bench.measure`; the aggregate ratio is 4 x the speedup
of a 4-stream run over a 1-stream run, with its interval.

The clients run on the same cores as the server and, on a shared machine, beside other work:
read the ratio and its interval, not the absolute tokens/s.
Run: ``python benchmarks/serve_generate.py [--rounds N] [--new T]``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import tempfile
import threading
from pathlib import Path

import onnxkit
from onnxkit.bench import measure

PROMPTS = ["The for statement", "A class definition", "The import system", "The while loop"]


def decoder(work: Path, layers: int, hidden: int) -> onnxkit.llm.LanguageModel:
    """The benchmark's decoder, exported on the first run and loaded after."""
    out = work / f"gpt2-{layers}x{hidden}"
    if (out / "onnxkit-llm.json").exists():
        return onnxkit.llm.load(out)
    from pydoc_data.topics import topics

    import torch
    import transformers as T
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.train_from_iterator(list(topics.values()), trainers.BpeTrainer(
        vocab_size=2048, special_tokens=["<|endoftext|>"], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    bpe.decoder = decoders.ByteLevel()
    tokenizer = T.PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>",
                                          pad_token="<|endoftext|>")  # id 0: in the vocabulary
    torch.manual_seed(0)
    config = T.GPT2Config(n_embd=hidden, n_layer=layers, n_head=max(1, hidden // 64),
                          n_positions=1024, vocab_size=2048)  # its end-of-text id (50256)
    # lies beyond this vocabulary: no request ends early, every one makes --new tokens
    model = T.GPT2LMHeadModel(config).eval()
    hf = work / "hf"
    model.save_pretrained(hf)
    tokenizer.save_pretrained(hf)
    return onnxkit.llm.export(hf, precision="fp32", out=out)


def streams(server: onnxkit.serve.GenerateServer, count: int, new: int) -> int:
    """``count`` streams sent together; the tokens they made."""
    start = threading.Barrier(count)

    def one(i: int) -> int:
        start.wait()
        text = "".join(server.generate_stream(PROMPTS[i], max_tokens=new))
        assert text, "an empty stream"
        return new

    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        return sum(pool.map(one, range(count)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--new", type=int, default=64, help="new tokens per request")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--max-queue-delay-ms", type=float, default=0.0,
                        help="the server's wait for company (0: a lone request starts at once)")
    parser.add_argument("--work", type=Path,
                        default=Path(tempfile.gettempdir()) / "onnxkit-bench-generate")
    args = parser.parse_args()
    lm = decoder(args.work, args.layers, args.hidden)
    with onnxkit.serve.start(lm, max_queue_delay_ms=args.max_queue_delay_ms) as server:
        for i in range(4):  # every prompt makes exactly --new tokens (no early end)
            made = server.generate(PROMPTS[i], max_tokens=args.new, details=True)
            assert made["details"]["generated_tokens"] == args.new, made["details"]
        streams(server, 4, args.new)  # warm-up
        m = measure([("1 stream", lambda: streams(server, 1, args.new)),
                     ("4 streams", lambda: streams(server, 4, args.new))],
                    min_rounds=args.rounds, max_rounds=args.rounds, runs=1, budget_s=None)
        stats = server.stats()
    one_s, four_s = m.percentile("1 stream", 50) / 1e3, m.percentile("4 streams", 50) / 1e3
    ratio = m.speedup("4 streams")
    print(f"decoder: GPT-2 {args.layers} layers x {args.hidden}, fp32, {args.new} new tokens "
          f"a request, {m.rounds} interleaved rounds, max_queue_delay_ms "
          f"{args.max_queue_delay_ms:g}")
    print(f"1 stream : {args.new / one_s:8.1f} tokens/s (p50 {one_s * 1e3:.0f} ms a run)")
    print(f"4 streams: {4 * args.new / four_s:8.1f} tokens/s aggregate (p50 {four_s * 1e3:.0f}"
          f" ms a run)")
    print(f"aggregate 4 streams / 1: {4 * ratio.median:.2f}x "
          f"[{4 * ratio.low:.2f}, {4 * ratio.high:.2f}] ({ratio.confidence:.0%} interval)")
    print(f"server: {stats['batches']} batches, mean {stats['mean_batch_rows']:.2f} prompts a "
          f"batch, largest {stats['max_batch_rows_seen']}")


if __name__ == "__main__":
    main()
