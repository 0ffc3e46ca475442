"""Every execution provider this build has, with and without IOBinding, on the samples.

One ``onnxkit.sweep`` per sample (all sessions made first, then timed in rotating interleaved
rounds), so the ratios to the CPU provider are measured side by side in one run. Prints, per
sample and batch size: p50, the ratio to CPU without IOBinding, and the largest output
difference from CPU (``onnxkit.compare``). No goal: it shows which provider pays off on the
machine at hand. Run it in each environment (``.venv`` has the CPU provider;
``.venv-openvino`` adds OpenVINO; a GPU build adds CUDA and TensorRT):

    python benchmarks/providers.py [--rounds N] [--duration S] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
from collections import defaultdict

import onnxruntime as ort

import onnxkit

SKIP = {"AzureExecutionProvider"}  # calls remote endpoints: nothing to time here


def configurations(threads: int) -> list[list]:
    """Each available provider first, the CPU behind it for what it cannot run. OpenVINO
    keeps its own thread pool: it gets the same thread count, or the race is unfair."""
    out: list[list] = []
    for name in ort.get_available_providers():
        if name in SKIP:
            continue
        spec = (name, {"num_of_threads": threads}) if name == "OpenVINOExecutionProvider" \
            else name
        out.append([spec] if name == "CPUExecutionProvider" else [spec, "CPUExecutionProvider"])
    return out


def report(sample: onnxkit.samples.Sample, batches: list[int], args: argparse.Namespace) -> None:
    feeds = {k: v[:max(batches)] for k, v in sample.inputs.items()}
    configs = configurations(args.threads)
    # sweep interleaves the providers; with and without IOBinding alternate round by round
    # (the order flipping), and each figure is the median of its rounds' p50.
    p50: dict[tuple[str, bool, int], list[float]] = defaultdict(list)
    for r in range(args.rounds):
        for binding in ((False, True) if r % 2 == 0 else (True, False)):
            sweep = onnxkit.sweep(sample.model, feeds, providers=configs, batch=batches,
                                  threads=[args.threads], duration=args.duration / args.rounds,
                                  rounds=1, io_binding=binding)
            for config, result in zip(sweep.configurations, sweep.results):
                p50[config, binding, result.batch_size].append(result.p50_ms)
    median = {key: statistics.median(values) for key, values in p50.items()}
    errors = {_label(cfg): _max_error(sample, feeds, cfg) for cfg in configs}
    print(f"\n{sample.name} ({args.threads} thread(s), {args.rounds} rounds)")
    print(f"  {'configuration':36} {'iobinding':>9} {'batch':>5} {'p50 ms':>9} "
          f"{'vs cpu':>7} {'max abs diff':>12}")
    for (config, binding, batch), ms in sorted(median.items(), key=lambda kv: kv[0][2]):
        print(f"  {config:36} {'yes' if binding else 'no':>9} {batch:>5} {ms:>9.3f} "
              f"{median['cpu', False, batch] / ms:>6.2f}x {errors[config]:>12.2e}")


def _label(config: list) -> str:
    """The configuration's name as sweep labels it (``openvino(num_of_threads=1) > cpu``)."""
    parts = []
    for spec in config:
        name, options = spec if isinstance(spec, tuple) else (spec, {})
        opts = ", ".join(f"{k}={v}" for k, v in options.items())
        parts.append(name.removesuffix("ExecutionProvider").lower() + (f"({opts})" if opts
                                                                        else ""))
    return " > ".join(parts)


def _max_error(sample: onnxkit.samples.Sample, feeds: dict, config: list) -> float:
    reference = onnxkit.run(sample.model, feeds)
    result = onnxkit.compare(reference, sample.model, feeds, providers=config)
    return max(o.max_abs or 0.0 for o in result.outputs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=2.0,
                        help="seconds of timed runs per combination, over all rounds")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    print(f"onnxruntime {ort.__version__}: {', '.join(ort.get_available_providers())}")
    report(onnxkit.samples.digits_cnn(), [1, 32], args)
    report(onnxkit.samples.text_transformer(), [1, 8], args)


if __name__ == "__main__":
    main()
