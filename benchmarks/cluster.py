"""Evaluation on a local Ray cluster against a single-process loop, and the driver's memory.

1. Start-up time of the local cluster (``onnxkit.cluster.connect()``).
2. Throughput of ``onnxkit.evaluate`` over 20,000 digits-sized images (8x8) on the cluster's
   workers, against the same evaluation in this process (``cluster=None``) and a bare
   ``onnxkit.run`` loop over the same batches: images/s, the ratio, and the overhead per
   batch. On this 2-core machine the cluster can at best match one process: it shows the cost
   of shipping batches, not a speed-up (that comes with more nodes).
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

        start = time.perf_counter()
        sess = onnxkit.session(digits.model)
        for i in range(0, args.images, args.batch):
            sess.run(None, {"image": data["image"][i:i + args.batch]})
        bare = time.perf_counter() - start
        here = onnxkit.evaluate(digits.model, data, batch=args.batch)
        onnxkit.evaluate(digits.model, data, batch=args.batch, cluster=cluster)  # warm workers
        there = onnxkit.evaluate(digits.model, data, batch=args.batch, cluster=cluster)
        batches = there.batches
        print(f"2. {args.images} images in {batches} batches of {args.batch}:")
        for name, seconds in (("bare session.run loop", bare), ("evaluate here", here.seconds),
                              ("evaluate on the cluster", there.seconds)):
            print(f"   {name:<24} {args.images / seconds:9.0f} images/s  ({seconds:.2f} s)")
        print(f"   cluster / here: {here.seconds / there.seconds:.2f}x the throughput; "
              f"overhead {(there.seconds - here.seconds) / batches * 1e3:+.1f} ms per batch")

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
