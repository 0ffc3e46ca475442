"""``onnxkit.summarize`` on a model over 2 GB with external data, against ``onnx.load``.

Generates a MatMul/Add chain whose float32 initializers (~2.3 GB of pseudo-random bytes) sit
in one external data file, then times, each in a fresh interpreter and interleaved:

- ``onnxkit.summarize(path)``, which should read the proto only, never the weights;
- ``onnx.load(path)``, which loads the external data too (the cost summarize avoids).

Wall time is measured inside the child around the call only; memory is the child's peak RSS
(its own VmHWM: see ``_CHILD``), shown next to that of a child that only imports, so the
increment is visible.
Goals: time(summarize) / time(onnx.load) <= 0.2, and peak RSS of the summarize child <= 400 MB.
The data file was just written, so both calls read it from the OS page cache (onnx.load's best
case, which makes the time ratio conservative).

Run: ``python benchmarks/bench_summary_large.py [--dir DIR] [--keep] [--repeats N]``. Exits
non-zero only if the script itself fails; a missed goal prints MISSED.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

GOAL_TIME_RATIO = 0.2
GOAL_RSS_MB = 400
MB = 1_000_000
CHUNK_BYTES = 64 * 2**20  # bounds generation memory, whatever the model size

# Child: import what the call needs, time the call alone, report its peak RSS in KiB.
# Linux carries the parent's RSS high-water mark into a child's ru_maxrss across fork/exec
# (a child of this script read ~180 MB after generation), so read the child's own VmHWM and
# fall back to ru_maxrss only where /proc is missing.
_CHILD = r"""
import json, re, resource, sys, time
kind, path = sys.argv[1], sys.argv[2]
import onnx, onnxkit
call = {"summarize": onnxkit.summarize, "onnx.load": onnx.load, "import only": None}[kind]
t = time.perf_counter()
result = call(path) if call else None
seconds = time.perf_counter() - t
extra = {"parameter_count": result.parameter_count} if kind == "summarize" else {}
try:
    with open("/proc/self/status") as f:
        rss_kib = int(re.search(r"VmHWM:\s*(\d+) kB", f.read()).group(1))
except OSError:
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "rss_kib": rss_kib, **extra}))
"""
KINDS = ("import only", "summarize", "onnx.load")


def external_tensor(name: str, dims: list[int], location: str, offset: int) -> TensorProto:
    """A float32 initializer whose bytes live in ``location`` (proto only, no data)."""
    t = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=dims)
    t.data_location = TensorProto.EXTERNAL
    length = 4 * math.prod(dims)
    for key, value in (("location", location), ("offset", offset), ("length", length)):
        t.external_data.add(key=key, value=str(value))
    return t


def build_proto(width: int, layers: int, location: str) -> onnx.ModelProto:
    """y = (...((x @ W0 + B0) @ W1 + B1)...), all weights external, laid out back to back."""
    inits, nodes, offset, prev = [], [], 0, "x"
    for i in range(layers):
        for name, dims in ((f"W{i}", [width, width]), (f"B{i}", [width])):
            inits.append(external_tensor(name, dims, location, offset))
            offset += 4 * math.prod(dims)  # multiples of 4096 here, so every offset is aligned
        out = "y" if i == layers - 1 else f"h{i}"
        nodes.append(helper.make_node("MatMul", [prev, f"W{i}"], [f"m{i}"]))
        nodes.append(helper.make_node("Add", [f"m{i}", f"B{i}"], [out]))
        prev = out
    graph = helper.make_graph(
        nodes, "large_chain",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, width])],
        initializer=inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def write_data(path: Path, nbytes: int, seed: int = 0) -> None:
    """Real pseudo-random float32 bytes (not a sparse file), one chunk in memory at a time."""
    rng = np.random.default_rng(seed)
    with open(path, "wb") as f:
        left = nbytes
        while left:
            n = min(left, CHUNK_BYTES)
            f.write(rng.standard_normal(n // 4, dtype=np.float32))  # buffer protocol, no copy
            left -= n


def generate(folder: Path, width: int, layers: int) -> tuple[Path, Path, int]:
    """Write ``large.onnx`` and ``large.onnx.data``; returns both paths and the parameter count."""
    model_path = folder / "large.onnx"
    data_path = folder / (model_path.name + ".data")
    proto = build_proto(width, layers, data_path.name)
    params = sum(math.prod(t.dims) for t in proto.graph.initializer)
    need = 4 * params + (256 * 2**20)
    if shutil.disk_usage(folder).free < need:
        raise SystemExit(f"not enough free disk in {folder}: need {need / MB:.0f} MB")
    write_data(data_path, 4 * params)
    # Serialize directly: the proto holds no raw data, only references to the file above.
    model_path.write_bytes(proto.SerializeToString())
    onnx.checker.check_model(str(model_path))  # by path, as required over 2 GB
    return model_path, data_path, params


def run_child(kind: str, model_path: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, kind, str(model_path)],
        capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout)


def measure(model_path: Path, repeats: int) -> dict[str, list[dict]]:
    """Interleaved rounds, so load drift and page-cache state affect each kind alike."""
    results: dict[str, list[dict]] = {k: [] for k in KINDS}
    for _ in range(repeats):
        for kind in KINDS:
            results[kind].append(run_child(kind, model_path))
    return results


def report(results: dict[str, list[dict]], params: int, repeats: int) -> None:
    def med(kind: str, key: str) -> float:
        return statistics.median(r[key] for r in results[kind])

    def rss_mb(kind: str) -> float:
        return max(r["rss_kib"] for r in results[kind]) * 1024 / MB

    counted = {r["parameter_count"] for r in results["summarize"]}
    if counted != {params}:
        raise SystemExit(f"summarize counted {sorted(counted)} parameters, expected {params}")
    for kind in KINDS:
        print(f"  {kind:<12} time {med(kind, 'seconds'):8.3f} s (median of {repeats}), "
              f"peak RSS {rss_mb(kind):7.0f} MB (max)")
    ratio = med("summarize", "seconds") / med("onnx.load", "seconds")
    verdict = "ok" if ratio <= GOAL_TIME_RATIO else "MISSED"
    print(f"time ratio summarize/onnx.load: {ratio:.4f} (goal <= {GOAL_TIME_RATIO}) {verdict}")
    peak, base = rss_mb("summarize"), rss_mb("import only")
    verdict = "ok" if peak <= GOAL_RSS_MB else "MISSED"
    print(f"peak RSS of summarize child: {peak:.0f} MB ({round(peak - base):+d} MB over import "
          f"only) (goal <= {GOAL_RSS_MB} MB) {verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, help="where to generate (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--repeats", type=int, default=3, help="rounds per kind (default 3)")
    parser.add_argument("--width", type=int, default=4096, help="square weight size")
    parser.add_argument("--layers", type=int, default=34, help="MatMul/Add pairs")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")

    folder = args.dir or Path(tempfile.mkdtemp(prefix="onnxkit-bench-large-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        t = time.perf_counter()
        model_path, data_path, params = generate(folder, args.width, args.layers)
        print(f"generated {model_path} + {data_path.name} ({data_path.stat().st_size / MB:.0f} MB,"
              f" {params:,} parameters) in {time.perf_counter() - t:.1f} s")
        report(measure(model_path, args.repeats), params, args.repeats)
    finally:
        if not args.keep:
            _cleanup(folder, remove_folder=args.dir is None)
    return 0


def _cleanup(folder: Path, remove_folder: bool) -> None:
    # Only what this script wrote: --dir may point at a folder holding other files.
    for name in ("large.onnx", "large.onnx.data"):
        (folder / name).unlink(missing_ok=True)
    if remove_folder:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
