"""Evaluation on a local Ray cluster against a single-process loop, and the driver's memory.

1. Start-up time of the local cluster (``onnxkit.cluster.connect()``).
2. Throughput of ``onnxkit.evaluate`` over 20,000 digits-sized images (8x8), and 20,000
   texts of the text transformer, on the cluster's workers, against the same evaluation in
   this process (``cluster=None``) and a bare ``session.run`` loop over the same batches:
   rows/s, the ratio, and the overhead per batch. On this 2-core machine the cluster can at
   best match one process: it shows the cost of shipping batches, not a speed-up (that comes
   with more nodes).
3. Peak memory of the driver while it evaluates a stream 10x larger (200,000 images, made
   batch by batch by a generator) against the 20,000-image stream: it should stay flat.

Run: ``python benchmarks/cluster.py [--images N] [--batch N]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

import onnxkit


def _rss_mb(field: str = "VmRSS:") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return float("nan")


def stream(images: np.ndarray, count: int, batch: int):
    """``count`` images in batches, made on the fly (the driver never holds them all)."""
    for start in range(0, count, batch):
        rows = np.arange(start, min(start + batch, count)) % len(images)
        yield {"image": images[rows]}


def throughput(what: str, model: onnxkit.Model, data: dict, rows: int, batch: int,
               cluster: onnxkit.cluster.Cluster) -> None:
    start = time.perf_counter()
    sess = onnxkit.session(model)
    for i in range(0, rows, batch):
        sess.run(None, {k: v[i:i + batch] for k, v in data.items()})
    bare = time.perf_counter() - start
    here = onnxkit.evaluate(model, data, batch=batch)
    onnxkit.evaluate(model, data, batch=batch, cluster=cluster)  # warm the workers
    there = onnxkit.evaluate(model, data, batch=batch, cluster=cluster)
    print(f"2. {rows} {what} in {there.batches} batches of {batch}:")
    for name, seconds in (("bare session.run loop", bare), ("evaluate here", here.seconds),
                          ("evaluate on the cluster", there.seconds)):
        print(f"   {name:<24} {rows / seconds:9.0f} rows/s  ({seconds:.2f} s)")
    print(f"   cluster / here: {here.seconds / there.seconds:.2f}x the throughput; "
          f"overhead {(there.seconds - here.seconds) / there.batches * 1e3:+.1f} ms per batch")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="onnxkit-bench-cluster-") as tmp:
        onnxkit.set_workspace(tmp)
        digits = onnxkit.samples.digits_cnn()
        images = digits.inputs["image"]
        data = {"image": images[np.arange(args.images) % len(images)]}

        start = time.perf_counter()
        cluster = onnxkit.cluster.connect()
        print(f"1. local cluster up in {time.perf_counter() - start:.1f} s "
              f"({cluster.nodes().nodes[0].cpus:g} CPUs)")

        throughput("images", digits.model, data, args.images, args.batch, cluster)
        text = onnxkit.samples.text_transformer()
        rows = np.arange(args.images) % len(text.labels)
        texts = {k: v[rows] for k, v in text.inputs.items()}
        throughput("texts (text transformer, 32 tokens)", text.model, texts, args.images,
                   args.batch, cluster)

        peaks = {}
        for count in (args.images, 10 * args.images):
            base = _rss_mb()
            peak = [base]

            def watch(done, total, peak=peak):
                peak[0] = max(peak[0], _rss_mb())

            e = onnxkit.evaluate(digits.model, stream(images, count, args.batch),
                                 batch=args.batch, cluster=cluster, progress=watch)
            peaks[count] = peak[0] - base
            print(f"3. stream of {count} images ({e.batches} batches): driver RSS grew "
                  f"{peaks[count]:.1f} MB at most ({e.seconds:.1f} s)")
        cluster.shutdown()


if __name__ == "__main__":
    main()
