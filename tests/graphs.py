"""Small hand-made graphs and files for the tests (imported by name: not a conftest, whose
module name pytest shares between folders)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def make_model(nodes, inputs, outputs, initializers=(), *, opset=17, domains=(), ir=8):
    """A ModelProto from onnx.helper pieces; `inputs`/`outputs` are (name, elem_type, shape)."""
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs],
        list(initializers),
    )
    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, 1) for d in domains]
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = ir  # onnx's default can be newer than onnxruntime reads
    return model


def save(model: onnx.ModelProto, path: Path) -> Path:
    # Bypass onnx.save's checks: the tests need broken models on disk.
    path.write_bytes(model.SerializeToString())
    return path


def relu_model() -> onnx.ModelProto:
    F = TensorProto.FLOAT
    return make_model([helper.make_node("Relu", ["x"], ["y"], name="relu")],
                      [("x", F, ["n", 3])], [("y", F, ["n", 3])])


def external_model(folder: Path, location: str = "weights.bin") -> Path:
    """A MatMul whose 4x2 weight lives in an external file (written if inside `folder`)."""
    F = TensorProto.FLOAT
    weight = numpy_helper.from_array(np.arange(8, dtype=np.float32).reshape(4, 2), "w")
    model = make_model([helper.make_node("MatMul", ["x", "w"], ["y"])],
                       [("x", F, [1, 4])], [("y", F, [1, 2])], [weight])
    onnx.external_data_helper.convert_model_to_external_data(
        model, all_tensors_to_one_file=True, location=location, size_threshold=0)
    path = folder / "ext.onnx"
    onnx.save_model(model, str(path))  # writes the data file next to the model
    return path


def two_output_model() -> onnx.ModelProto:
    """A detector's shape: ``x[n, 16]`` -> class ``scores[n, 3]`` and ``boxes[n, 4]``; the box
    head's weights are 100x larger, so quantizing it moves the boxes far more than the
    scores (an error only a look at every output sees)."""
    F = TensorProto.FLOAT
    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array(a.astype(np.float32), n) for a, n in (
        (rng.standard_normal((16, 32)), "w"), (rng.standard_normal((32, 3)), "ws"),
        (100 * rng.standard_normal((32, 4)), "wb"))]
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h0"]),
             helper.make_node("Relu", ["h0"], ["h"]),
             helper.make_node("MatMul", ["h", "ws"], ["scores"]),
             helper.make_node("MatMul", ["h", "wb"], ["boxes"])]
    return make_model(nodes, [("x", F, ["n", 16])], [("scores", F, ["n", 3]),
                                                    ("boxes", F, ["n", 4])], weights)
