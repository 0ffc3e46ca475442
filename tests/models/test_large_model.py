"""``summarize`` on a model over 2 GB with external data reads the proto only, never the weights.

The data file is sparse (``truncate``), so the test costs no disk writes; summarize runs in a
child process so its peak memory can be measured on its own.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

WIDTH = 16384  # one [WIDTH, WIDTH] float32 weight is 1 GiB
LAYERS = 3
MAX_RSS_MB = 400

# The child reports its own VmHWM: its ru_maxrss would include the parent's (pytest's) peak
# RSS, which Linux carries into children across fork/exec.
_CHILD = r"""
import json, re, resource, sys
import onnxkit
s = onnxkit.summarize(sys.argv[1])
try:
    with open("/proc/self/status") as f:
        rss_kib = int(re.search(r"VmHWM:\s*(\d+) kB", f.read()).group(1))
except OSError:
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rss_kib //= 1024 if sys.platform == "darwin" else 1  # bytes there
print(json.dumps({"summary": s.to_dict(), "rss_kib": rss_kib}))
"""

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs sparse files and resource")


def _external(name: str, dims: list[int], location: str, offset: int) -> TensorProto:
    t = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=dims)
    t.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", offset), ("length", 4 * math.prod(dims))):
        t.external_data.add(key=key, value=str(value))
    return t


def make_large_model(folder: Path) -> tuple[Path, Path]:
    """A MatMul chain whose external weights total 3 GiB; returns the model and data paths."""
    model_path = folder / "large.onnx"
    data_path = folder / "large.onnx.data"
    inits, nodes, offset, prev = [], [], 0, "x"
    for i in range(LAYERS):
        inits.append(_external(f"W{i}", [WIDTH, WIDTH], data_path.name, offset))
        offset += 4 * WIDTH * WIDTH
        out = "y" if i == LAYERS - 1 else f"h{i}"
        nodes.append(helper.make_node("MatMul", [prev, f"W{i}"], [out]))
        prev = out
    graph = helper.make_graph(
        nodes, "large_chain",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, WIDTH])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, WIDTH])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model_path.write_bytes(model.SerializeToString())
    with open(data_path, "wb") as f:
        f.truncate(offset)  # a hole: no bytes written, none read unless someone loads them
    return model_path, data_path


def test_summarize_over_2gb_reads_no_weights(tmp_path: Path) -> None:
    model_path, data_path = make_large_model(tmp_path)
    data_size = data_path.stat().st_size
    assert data_size > 2**31  # past protobuf's 2 GB limit, so weights must stay external

    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(model_path)],
        capture_output=True, text=True, check=True,
    )
    result = json.loads(out.stdout)
    summary = result["summary"]

    proto = onnx.load(str(model_path), load_external_data=False)
    assert summary["parameter_count"] == sum(math.prod(t.dims) for t in proto.graph.initializer)
    assert summary["size_bytes"] >= data_size
    assert summary["external_data"] == [{"location": data_path.name, "size_bytes": data_size}]
    rss_mb = result["rss_kib"] * 1024 / 1e6
    assert rss_mb < MAX_RSS_MB, f"summarize peaked at {rss_mb:.0f} MB: did it load the weights?"
