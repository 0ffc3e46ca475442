"""Serving on loopback, as a new user would: a bundle's own ``serve.py`` in a process of its
own, loaded by ``hey`` (Debian's HTTP load generator, another process: nothing of ours in
the client), JSON bodies, one row a request.

1. Batching on (``--max-batch 32``) against off (``--max-batch 1``) at 1, 8 and 32 clients,
   for the digits CNN and a BERT-shaped model (4 layers, hidden 256, sequence 128). The two
   servers run side by side and are loaded in alternating rounds; the ratio is the median of
   per-round ratios with its interval. Goals (issue 27): on/off >= 0.95x at 1 client and
   >= 2x at 32 clients on the digits CNN.
2. Overhead at one client: hey's and wrk's p50 against ``session.run`` of the same input
   in this process (goal: <= 0.3 ms over it; wrk, a C client, adds less of its own), for
   ``--processes 1`` and, on request-bound loads, ``--processes 2``. Then gRPC
   (``tritonclient``-free: grpcio's own channel from this process) against HTTP/JSON and
   HTTP with binary tensors, from the same kind of client loop, for the digits CNN's
   256-byte input and a 3x224x224 image (588 KiB) through a model that does next to
   nothing: what each transport costs by the size of what it carries.
3. The same hey load through Ray Serve (``onnxkit.serve.on_ray``, a local Ray), unless
   ``--skip-ray``.

The load generator runs on the same cores as the server (and, on a shared machine, beside
other work): absolute figures are low and noisy; read the ratios and their intervals.
Run: ``python benchmarks/serve.py [--rounds N] [--seconds S] [--skip-ray]`` (needs ``hey``:
``bash .ci/bench-deps.sh``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Process:
    """A bundle's serve.py in its own process, with the given arguments."""

    def __init__(self, bundle: Path, *args: str):
        self.port = _free_port()
        self.grpc_port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, str(bundle / "serve.py"), "--port",
                                      str(self.port), "--grpc-port", str(self.grpc_port),
                                      *args], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"serve.py exited: {self.proc.stderr.read().decode()[-2000:]}")
            try:
                urllib.request.urlopen(self.url + "/v2/health/ready", timeout=1)
                return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("serve.py did not start within 180 s")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(60)


def _body(feeds: dict[str, np.ndarray], folder: Path) -> Path:
    datatypes = {"float32": "FP32", "int64": "INT64"}
    path = folder / f"body-{'-'.join(feeds)}.json"
    path.write_text(json.dumps({"inputs": [
        {"name": k, "shape": list(v.shape), "datatype": datatypes[str(v.dtype)],
         "data": v.reshape(-1).tolist()} for k, v in feeds.items()]}))
    return path


def hey(url: str, body: Path, clients: int, seconds: float) -> dict[str, float]:
    """hey's requests/s and p50 latency (ms) over ``seconds`` of load from ``clients``."""
    out = subprocess.run(["hey", "-z", f"{seconds}s", "-c", str(clients), "-m", "POST",
                          "-T", "application/json", "-D", str(body), url],
                         capture_output=True, text=True, timeout=seconds + 120).stdout
    codes = dict(re.findall(r"\[(\d+)\]\s+(\d+) responses", out))
    if set(codes) != {"200"}:
        raise SystemExit(f"hey saw non-200 answers: {codes}\n{out[-1500:]}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = float(re.search(r"50%+ in ([\d.]+) secs", out).group(1)) * 1e3
    return {"rate": rate, "p50_ms": p50}


WRK_POST = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open(os.getenv("ONNXKIT_BODY"), "rb"); wrk.body = f:read("*a"); f:close()
"""


def wrk(url: str, body: Path, seconds: float) -> dict[str, float]:
    """wrk's requests/s and p50 latency (ms) from one connection: a C client whose own share
    of a request is smaller than hey's, and whose percentiles have microseconds."""
    script = body.with_suffix(".lua")
    script.write_text(WRK_POST)
    out = subprocess.run(["wrk", "-t1", "-c1", f"-d{max(1, round(seconds))}s", "--latency",
                          "-s", str(script), url], capture_output=True, text=True,
                         timeout=seconds + 120, env={**os.environ, "ONNXKIT_BODY": str(body)}
                         ).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise SystemExit(f"wrk saw failed requests:\n{out[-1500:]}")
    value, unit = re.search(r"50%\s+([\d.]+)(us|ms|s)\b", out).groups()
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return {"rate": rate, "p50_ms": float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]}


def on_off(title: str, bundle: Path, feeds: dict, args: argparse.Namespace,
           tmp: Path) -> None:
    body = _body(feeds, tmp)
    servers = {"on": Process(bundle, "--max-batch", "32"),
               "off": Process(bundle, "--max-batch", "1")}
    model = json.loads((bundle / "manifest.json").read_text())["model"]["name"]
    path = f"/v2/models/{model}/infer"
    try:
        print(f" {title}")
        for clients in (1, 8, 32):
            got: dict[str, list[dict[str, float]]] = {"on": [], "off": []}
            for r in range(args.rounds):
                for name in (("on", "off") if r % 2 == 0 else ("off", "on")):
                    got[name].append(hey(servers[name].url + path, body, clients,
                                         args.seconds))
            ratio = speedup_interval([a["rate"] / b["rate"] for a, b in
                                      zip(got["on"], got["off"])])
            med = {k: (statistics.median(x["rate"] for x in v),
                       statistics.median(x["p50_ms"] for x in v)) for k, v in got.items()}
            print(f"  {clients:>2} clients: off {med['off'][0]:7.0f} req/s (p50 "
                  f"{med['off'][1]:.2f} ms), on {med['on'][0]:7.0f} req/s (p50 "
                  f"{med['on'][1]:.2f} ms): on/off {ratio}")
    finally:
        for server in servers.values():
            server.stop()


def session_p50_ms(model: onnxkit.Model, feeds: dict, runs: int = 2000) -> float:
    sess = onnxkit.session(model)
    for _ in range(50):
        sess.run(None, feeds)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(None, feeds)
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def grpc_vs_http(server: Process, model: str, feeds: dict, requests: int
                 ) -> dict[str, float]:
    """p50 ms of one request at a time from this process, for each transport: gRPC (raw
    tensors, grpcio's channel), HTTP/JSON and HTTP with the binary tensor extension
    (http.client, keep-alive): the same kind of client loop for all three, interleaved call
    by call in a rotating order."""
    import http.client

    import grpc

    from onnxkit.bundled.serving.grpc_schema import SERVICE, messages
    from onnxkit.bundled.serving.protocol import encode_request

    m = messages()
    channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}",
                                    options=[("grpc.max_receive_message_length", -1)])
    infer = channel.unary_unary(f"/{SERVICE}/ModelInfer",
                                request_serializer=m["ModelInferRequest"].SerializeToString,
                                response_deserializer=m["ModelInferResponse"].FromString)
    request = m["ModelInferRequest"](model_name=model)
    datatypes = {"float32": "FP32", "int64": "INT64"}
    for name, value in feeds.items():
        request.inputs.add(name=name, datatype=datatypes[str(value.dtype)],
                           shape=list(value.shape))
        request.raw_input_contents.append(np.ascontiguousarray(value).tobytes())
    connection = http.client.HTTPConnection("127.0.0.1", server.port)
    bodies = {binary: encode_request(feeds, binary=binary) for binary in (False, True)}

    def over_http(binary: bool) -> None:
        body, headers = bodies[binary]
        connection.request("POST", f"/v2/models/{model}/infer", body, headers)
        reply = connection.getresponse()
        reply.read()
        assert reply.status == 200, reply.status

    calls = {"grpc": lambda: infer(request), "http-json": lambda: over_http(False),
             "http-binary": lambda: over_http(True)}
    timings: dict[str, list[float]] = {name: [] for name in calls}
    names = list(calls)
    for i in range(requests):  # interleaved, one call each in turn, the order rotating
        for name in names[i % 3:] + names[:i % 3]:
            t0 = time.perf_counter()
            calls[name]()
            timings[name].append((time.perf_counter() - t0) * 1e3)
    connection.close()
    channel.close()
    return {name: statistics.median(t[requests // 20:]) for name, t in timings.items()}


def transports(bundle: Path, title: str, model: str, feeds: dict, requests: int) -> None:
    """gRPC against HTTP (JSON and binary) for one model, one client in this process."""
    server = Process(bundle, "--max-batch", "1")
    try:
        ms = grpc_vs_http(server, model, feeds, requests)
    finally:
        server.stop()
    size = sum(v.nbytes for v in feeds.values())
    print(f"  {title} ({size / 1024:.1f} KiB of inputs): gRPC p50 {ms['grpc']:.3f} ms, "
          f"HTTP/JSON {ms['http-json']:.3f} ms, HTTP binary {ms['http-binary']:.3f} ms "
          f"(gRPC time / HTTP/JSON {ms['grpc'] / ms['http-json']:.2f}x, / HTTP binary "
          f"{ms['grpc'] / ms['http-binary']:.2f}x)")


def image_mean() -> tuple[onnxkit.Model, dict[str, np.ndarray]]:
    """A model whose run is next to nothing (the mean of each channel) on a 224x224 RGB image:
    the transport is what is timed."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["image", "axes"], ["mean"], keepdims=0)], "image_mean",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, 224, 224])],
        [helper.make_tensor_value_info("mean", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor("axes", TensorProto.INT64, [2], [2, 3])])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    feeds = {"image": np.random.default_rng(0).random((1, 3, 224, 224), np.float32)}
    return onnxkit.load(proto.SerializeToString()), feeds


def overhead(title: str, bundle: Path, model: onnxkit.Model, feeds: dict,
             args: argparse.Namespace, tmp: Path) -> None:
    body = _body(feeds, tmp)
    name = json.loads((bundle / "manifest.json").read_text())["model"]["name"]
    base = session_p50_ms(model, feeds)
    print(f" {title}: session.run p50 {base:.3f} ms")
    for processes in (1, 2):
        server = Process(bundle, "--processes", str(processes))
        try:
            url = f"{server.url}/v2/models/{name}/infer"
            one = [hey(url, body, 1, args.seconds) for _ in range(args.rounds)]
            lean = [wrk(url, body, args.seconds) for _ in range(args.rounds)]
            many = [hey(url, body, 32, args.seconds) for _ in range(args.rounds)]
            for tool, rounds in (("hey", one), ("wrk", lean)):
                p50 = [x["p50_ms"] for x in rounds]
                print(f"  --processes {processes}, 1 client, {tool}: p50 "
                      f"{statistics.median(p50):.3f} ms (+{statistics.median(p50) - base:.3f} ms "
                      f"over session.run; rounds {min(p50):.3f}-{max(p50):.3f} ms), "
                      f"{statistics.median(x['rate'] for x in rounds):.0f} req/s")
            print(f"  --processes {processes}, 32 clients, hey: "
                  f"{statistics.median(x['rate'] for x in many):.0f} req/s")
        finally:
            server.stop()


def ray(title: str, model: onnxkit.Model, feeds: dict, args: argparse.Namespace,
        tmp: Path) -> None:
    body = _body(feeds, tmp)
    for max_batch in (32, 1):
        with onnxkit.serve.on_ray(model, max_batch=max_batch) as deployment:
            url = deployment.infer_url
            hey(url, body, 8, 2)  # warm
            levels = [(c, [hey(url, body, c, args.seconds) for _ in range(args.rounds)])
                      for c in (1, 8, 32)]
        print(f" {title}, Ray Serve, --max-batch {max_batch}: " + "; ".join(
            f"{c} clients {statistics.median(x['rate'] for x in v):.0f} req/s (p50 "
            f"{statistics.median(x['p50_ms'] for x in v):.2f} ms)" for c, v in levels))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=3.0, help="hey's load per round")
    parser.add_argument("--grpc-requests", type=int, default=2000)
    parser.add_argument("--skip-ray", action="store_true")
    parser.add_argument("--skip-bert", action="store_true")
    args = parser.parse_args()
    if shutil.which("hey") is None or shutil.which("wrk") is None:
        raise SystemExit("benchmarks/serve.py needs hey and wrk: bash .ci/bench-deps.sh")
    with tempfile.TemporaryDirectory(prefix="onnxkit-bench-serve-") as tmp_name:
        tmp = Path(tmp_name)
        onnxkit.set_workspace(tmp / "work")
        digits = onnxkit.samples.digits_cnn()
        cases = [("digits CNN", digits.model, {"image": digits.inputs["image"][:1]})]
        if not args.skip_bert:
            cases.append(("BERT-shaped (4 layers, seq 128)", *bert_shaped(rows=1)))
        bundles = {title: onnxkit.deploy.bundle(model, tmp / f"bundle-{i}").path
                   for i, (title, model, _) in enumerate(cases)}
        print(f"1. Batching on (--max-batch 32) / off (--max-batch 1): hey, JSON, one row a "
              f"request; {args.rounds} alternating rounds of {args.seconds:g} s")
        for title, _, feeds in cases:
            on_off(title, bundles[title], feeds, args, tmp)
        print("\n2. Overhead")
        title, model, feeds = cases[0]
        overhead(title, bundles[title], model, feeds, args, tmp)
        print("\n   gRPC against HTTP, one client in this process, by the size of the inputs")
        image, image_feeds = image_mean()
        sizes = [(title, bundles[title], feeds),
                 ("image mean (3x224x224)", onnxkit.deploy.bundle(image, tmp / "bundle-image")
                  .path, image_feeds)]
        for name, folder, inputs in sizes:
            served = json.loads((folder / "manifest.json").read_text())["model"]["name"]
            transports(folder, name, served, inputs, args.grpc_requests)
        if not args.skip_ray:
            print("\n3. Ray Serve (local Ray), the same hey load")
            # one Ray for every deployment (on_ray alone would start and stop one each time,
            # which a busy machine makes slow and, at times, fail)
            onnxkit.cluster.connect()
            for title, model, feeds in cases:
                ray(title, model, feeds, args, tmp)
    print(f"\n(cores: {os.cpu_count()}; hey and the servers share them)")


if __name__ == "__main__":
    main()
