"""Serving on loopback: what dynamic batching buys, what the server costs, how it takes abuse.

1. Throughput (requests/s) of the server with dynamic batching (max_batch 32) against the
   same server with max_batch=1, at 1, 8 and 32 concurrent clients, for the digits CNN, the
   text transformer and a BERT-shaped model (4 layers, hidden 256, sequence 128), where the
   model rather than HTTP takes the time. The two servers are load-tested in alternating
   rounds; the ratio is the median of per-round ratios with its interval. Goal: >= 3x at 32
   clients for the CNN (unreachable where HTTP costs ~100x the model: see the overhead).
2. Overhead: p50 latency of one request at concurrency 1 against an in-process
   ``session.run`` of the same input (ratio and milliseconds), and the same request through
   Ray Serve (``onnxkit.serve.on_ray``, local Ray). Peak RSS of a server process.
3. Fault run: 1,000 requests, a third of them malformed (wrong name, dtype, rank, shape,
   non-JSON, empty batch, NaN, oversized body), 16 at a time, against a server process:
   every good request answered correctly, every bad one a 4xx, the process alive, its RSS.

The clients run on the same two cores as the server: absolute figures are low; read ratios.
Run: ``python benchmarks/serve.py [--rounds N] [--requests N] [--skip-ray]``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
from _models import bert_shaped

import onnxkit
from onnxkit.bench import speedup_interval
from onnxkit.bundled.serving.protocol import decode_response, encode_request


def throughput(model: onnxkit.Model, feeds: dict, args: argparse.Namespace,
               requests: int) -> None:
    with onnxkit.serve.start(model, max_batch=32) as batched, \
            onnxkit.serve.start(model, max_batch=1) as single:
        for clients in (1, 8, 32):
            ratios, rates = [], {"batched": [], "max_batch=1": []}
            for r in range(args.rounds):
                order = [batched, single] if r % 2 == 0 else [single, batched]
                got = {}
                for server in order:
                    level = server.load_test(feeds, clients=[clients],
                                             requests=requests).levels[0]
                    assert level.errors == 0, level
                    got[server is batched] = level.throughput
                ratios.append(got[True] / got[False])
                rates["batched"].append(got[True])
                rates["max_batch=1"].append(got[False])
            s = speedup_interval(ratios)
            print(f"  {clients:>2} clients: batched {statistics.median(rates['batched']):7.0f} "
                  f"req/s, max_batch=1 {statistics.median(rates['max_batch=1']):7.0f} req/s: "
                  f"{s}")
        print(f"  batches at 32 clients: mean {batched.stats()['mean_batch_rows']:.1f} rows")


def overhead(model: onnxkit.Model, feeds: dict, args: argparse.Namespace) -> None:
    sess = onnxkit.session(model)
    for _ in range(20):
        sess.run(None, feeds)
    direct = []
    for _ in range(args.requests):
        t0 = time.perf_counter()
        sess.run(None, feeds)
        direct.append((time.perf_counter() - t0) * 1e3)
    with onnxkit.serve.start(model) as server:
        server.load_test(feeds, clients=[1], requests=20)  # warm
        served = server.load_test(feeds, clients=[1], requests=args.requests).levels[0]
    base = statistics.median(direct)
    print(f"  session.run p50 {base:.3f} ms; served p50 {served.p50_ms:.3f} ms: "
          f"{served.p50_ms / base:.1f}x, +{served.p50_ms - base:.2f} ms per request")
    if args.skip_ray:
        return
    with onnxkit.serve.on_ray(model) as deployment:
        deployment.load_test(feeds, clients=[1], requests=20)
        ray = deployment.load_test(feeds, clients=[1], requests=args.requests).levels[0]
    print(f"  Ray Serve p50 {ray.p50_ms:.3f} ms: {ray.p50_ms / base:.1f}x session.run, "
          f"{ray.p50_ms / served.p50_ms:.1f}x onnxkit.serve")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    return -1


def _process(bundle: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, str(bundle / "serve.py"), "--port", str(port),
                             "--max-body-mb", "1"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            urllib.request.urlopen(url + "/v2/health/ready", timeout=1)
            return proc, url
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("serve.py did not start")


def _bad_requests(name: str) -> list[tuple[bytes, dict]]:
    def v2(tensor_name, array, datatype="FP32", shape=None):
        return json.dumps({"inputs": [{"name": tensor_name, "datatype": datatype,
                                       "shape": list(shape or np.shape(array)),
                                       "data": np.asarray(array).reshape(-1).tolist()}]}
                          ).encode(), {"Content-Type": "application/json"}
    return [v2("pixels", np.zeros((1, 1, 8, 8))), v2(name, np.zeros((1, 1, 8, 8)), "FP64"),
            v2(name, np.zeros((1, 64))), v2(name, np.zeros((1, 1, 8, 7))),
            (b"{not json", {"Content-Type": "application/json"}),
            v2(name, np.zeros((0, 1, 8, 8))), v2(name, np.full((1, 1, 8, 8), np.nan)),
            (b" " * ((1 << 20) + 10), {"Content-Type": "application/json"})]


def faults(digits: onnxkit.samples.Sample, args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="onnxkit-bench-serve-")) / "digits"
    onnxkit.deploy.bundle(digits.model, folder)
    proc, url = _process(folder)
    try:
        images = digits.inputs["image"]
        expected = onnxkit.run(digits.model, {"image": images})["logits"]
        bad = _bad_requests("image")
        rss_start = _rss_kb(proc.pid, "VmRSS:")

        def one(i: int) -> str:
            connection = http.client.HTTPConnection("127.0.0.1", int(url.rsplit(":", 1)[1]),
                                                    timeout=60)
            try:
                if i % 3 == 2:
                    body, headers = bad[i % len(bad)]
                    try:
                        connection.request("POST", "/v2/models/digits_cnn/infer", body, headers)
                        status = connection.getresponse().status
                    except OSError:  # the server closed an oversized body early: fine
                        return "bad-ok"
                    return "bad-ok" if 400 <= status < 500 else f"bad-{status}"
                row = images[i % len(images)][None]
                body, headers = encode_request({"image": row})
                connection.request("POST", "/v2/models/digits_cnn/infer", body, headers)
                reply = connection.getresponse()
                out = decode_response(reply.read(),
                                      reply.getheader("Inference-Header-Content-Length"))
                good = np.allclose(out["logits"][0], expected[i % len(images)], atol=1e-5)
                return "good-ok" if reply.status == 200 and good else f"good-{reply.status}"
            finally:
                connection.close()

        start = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            results = list(pool.map(one, range(args.fault_requests)))
        seconds = time.perf_counter() - start
        counts = {k: results.count(k) for k in sorted(set(results))}
        alive = proc.poll() is None and \
            urllib.request.urlopen(url + "/v2/health/ready").status == 200
        print(f"  {args.fault_requests} requests in {seconds:.1f} s: {counts}; server alive: "
              f"{alive}; RSS {rss_start / 1024:.0f} -> {_rss_kb(proc.pid, 'VmRSS:') / 1024:.0f} "
              f"MB, peak {_rss_kb(proc.pid, 'VmHWM:') / 1024:.0f} MB")
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--fault-requests", type=int, default=1000)
    parser.add_argument("--skip-ray", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="onnxkit-bench-serve-") as tmp:
        onnxkit.set_workspace(tmp)
        digits, text = onnxkit.samples.digits_cnn(), onnxkit.samples.text_transformer()
        bert, bert_feeds = bert_shaped(rows=1)
        cases = [("digits CNN", digits.model, {"image": digits.inputs["image"][:1]}),
                 ("text transformer", text.model, {k: v[:1] for k, v in text.inputs.items()})]
        print(f"1. Throughput, dynamic batching vs max_batch=1 ({args.rounds} alternating "
              f"rounds x {args.requests} requests; one row a request)")
        for title, model, feeds in cases:
            print(f" {title}")
            throughput(model, feeds, args, args.requests)
        # where the model, not HTTP, takes the time: what batching is for
        print(f" BERT-shaped (4 layers, hidden 256, sequence 128; {args.requests // 4} requests)")
        throughput(bert, bert_feeds, args, args.requests // 4)
        print("\n2. Overhead at concurrency 1")
        for title, model, feeds in cases:
            print(f" {title}")
            overhead(model, feeds, args)
        print("\n3. Fault run against serve.py (a process of its own)")
        faults(digits, args)
    print(f"\n(cores: {os.cpu_count()}; clients and server share them)")


if __name__ == "__main__":
    main()
