"""The front door: the public names are a contract, and importing onnxkit stays cheap."""

from __future__ import annotations

import json
import subprocess
import sys

import onnxkit

# Grows with each capability; a name may only leave through a deprecation alias.
PUBLIC = {
    "load", "Model", "Step", "summarize", "ModelSummary", "TensorInfo", "check", "CheckReport",
    "Problem", "random_inputs", "workspace", "set_workspace", "Workspace", "errors", "samples",
    "widgets", "__version__",
    "providers", "session", "run", "placement", "NodePlacement", "compare", "Comparison",
    "benchmark", "BenchResult", "profile", "OpProfile", "optimize", "fuse_transformer", "to_fp16",
    "fix_dims", "make_dynamic", "infer_shapes", "extract", "quantize", "convert",
    "view", "graph_view", "NetronView", "GraphView", "stop_views",
    "Study", "Variant", "sweep", "SweepResult", "provider_options", "OptionSpec", "deploy",
    "demo", "DemoReport",
}

QUANTIZE = {"dynamic", "static", "weight_only", "debug", "LayerErrors", "prepare", "assess",
            "QuantAssessment", "Cancelled"}


def test_quantize_names():
    import onnxkit.quantize

    assert QUANTIZE <= set(onnxkit.quantize.__all__)


def test_every_public_name_is_exported():
    assert PUBLIC <= set(onnxkit.__all__)
    for name in onnxkit.__all__:
        assert getattr(onnxkit, name) is not None


def test_error_names_are_exported():
    for name in onnxkit.errors.__all__:
        assert issubclass(getattr(onnxkit.errors, name), onnxkit.errors.OnnxkitError)


HEAVY = ["torch", "tensorflow", "plotly", "ipywidgets", "pandas", "skl2onnx",
         "onnxruntime.quantization", "onnxruntime.transformers", "sklearn"]


def test_import_is_cheap():
    code = ("import sys, json, onnxkit; "
            f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_unknown_attribute_is_an_attribute_error():
    try:
        onnxkit.no_such_thing  # noqa: B018
    except AttributeError as e:
        assert "no_such_thing" in str(e)
    else:
        raise AssertionError("expected AttributeError")
