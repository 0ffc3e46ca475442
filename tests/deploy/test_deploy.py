"""onnxkit.deploy: the ORT format with its mobile report, bundles and their verification.

The generated predict.py is exercised in a clean virtualenv in test_deploy_predict.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from graphs import external_model, make_model, save
from onnx import TensorProto, helper, numpy_helper

import onnxkit
from onnxkit import deploy
from onnxkit.errors import ParameterError, ProviderError, WorkspaceError

DIGITS = [str(i) for i in range(10)]


def cumsum_model(path):
    """Relu -> CumSum -> Relu -> CumSum -> Relu, fixed shapes: CumSum is in none of the NNAPI or
    CoreML op lists that onnxruntime's usability checker reads (mobile_helpers/*.md)."""
    F = TensorProto.FLOAT
    axis = numpy_helper.from_array(np.array(1, np.int64), "axis")
    nodes = [helper.make_node("Relu", ["x"], ["a"]),
             helper.make_node("CumSum", ["a", "axis"], ["b"]),
             helper.make_node("Relu", ["b"], ["c"]),
             helper.make_node("CumSum", ["c", "axis"], ["d"]),
             helper.make_node("Relu", ["d"], ["y"])]
    return save(make_model(nodes, [("x", F, [1, 8])], [("y", F, [1, 8])], [axis]), path)


@pytest.fixture(scope="module")
def digits_bundle(digits, tmp_path_factory):
    return deploy.bundle(digits.model, tmp_path_factory.mktemp("bundles") / "digits",
                         labels=DIGITS)


# --- to_ort_format ---------------------------------------------------------------------------

def test_ort_format_round_trip(tiny):
    before = tiny.path.read_bytes()
    result = deploy.to_ort_format(tiny)
    assert result and result.path.name == "tiny.ort" and result.optimization == "fixed"
    assert result.path.parent == onnxkit.workspace().root
    assert result.size_bytes == result.path.stat().st_size > 0
    assert tiny.path.read_bytes() == before
    feeds = {"x": np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)}
    sess = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(None, feeds)[0], onnxkit.run(tiny, feeds)["y"],
                               rtol=1e-5, atol=1e-6)
    assert [o.name for o in result.verification.outputs] == ["y"]
    assert deploy.to_ort_format(tiny).path == result.path  # its own file: replaced, not -2
    data = json.loads(json.dumps(result.to_dict()))
    assert data["passed"] and data["mobile"]["supported"]
    assert "tiny.ort" in repr(result) and "<table" in result._repr_html_()


def test_ort_format_report_for_digits_runtime_style(digits):
    result = deploy.to_ort_format(digits.model, optimization="runtime")
    assert result and result.path.name == "digits_cnn.runtime.ort"
    mobile = result.mobile
    assert mobile.supported and not mobile.unsupported_ops and not mobile.custom_ops
    assert mobile.dynamic_inputs == ("image",) and mobile.try_eps
    eps = {e.name: e for e in mobile.eps}
    assert list(eps) == ["NNAPI", "CoreML NeuralNetwork", "CoreML MLProgram"]
    nnapi = eps["NNAPI"]  # the dynamic batch blocks every node until the shapes are fixed
    assert (nnapi.suitability, nnapi.suitability_if_fixed) == ("NO", "YES")
    assert nnapi.partitions == 0 and nnapi.unsupported_dynamic_shape == nnapi.nodes
    assert any(c.startswith("ai.onnx:Conv:") for c in nnapi.caveats)
    assert eps["CoreML MLProgram"].unsupported_ops == {"ai.onnx:Flatten": 1}
    assert "Conv" in mobile.required_operators["ai.onnx"][11]
    assert "Checking NNAPI" in mobile.log and str(digits.model.path) in mobile.log
    so = ort.SessionOptions()
    so.add_session_config_entry("session.enable_saved_runtime_optimizations", "1")
    sess = ort.InferenceSession(str(result.path), so, providers=["CPUExecutionProvider"])
    image = digits.inputs["image"][:16]
    np.testing.assert_allclose(sess.run(None, {"image": image})[0],
                               onnxkit.run(digits.model, {"image": image})["logits"],
                               rtol=1e-4, atol=1e-4)


def test_mobile_report_names_ops_the_mobile_eps_lack(tmp_path):
    result = deploy.to_ort_format(cumsum_model(tmp_path / "cumsum.onnx"))
    mobile = result.mobile
    assert result and not mobile and not mobile.supported
    assert mobile.unsupported_ops == {"ai.onnx:CumSum": 2} and mobile.dynamic_inputs == ()
    for ep in mobile.eps:
        assert ep.unsupported_ops == {"ai.onnx:CumSum": 2}, ep
        assert (ep.nodes, ep.supported_nodes, ep.partitions) == (5, 3, 3)
        assert ep.partition_sizes == (1, 1, 1) and ep.suitability == "NO"
        assert not ep.supported and ep.suitability_if_fixed is None
    assert not mobile.try_eps and "CPU EP" in mobile.recommendation
    assert "Unsupported ops: ai.onnx:CumSum" in mobile.log
    assert mobile.required_operators["ai.onnx"] == {14: ["CumSum", "Relu"]}
    assert "NOT fully supported" in repr(result) and "CumSum x2" in repr(result)
    assert json.loads(json.dumps(mobile.to_dict()))["eps"][0]["unsupported_ops"]


def test_ort_format_leaves_the_users_folder_alone(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    model = cumsum_model(folder / "m.onnx")
    deploy.to_ort_format(model, optimization="runtime")  # the converter writes beside its input
    assert sorted(os.listdir(folder)) == ["m.onnx"]
    assert not [p for p in onnxkit.workspace().root.iterdir() if p.name.startswith(".tmp")]


def test_ort_format_out_and_bad_arguments(tiny, tmp_path):
    out = tmp_path / "mobile.ort"
    assert deploy.to_ort_format(tiny, out=out).path == out and out.stat().st_size > 0
    with pytest.raises(WorkspaceError, match="already exists"):
        deploy.to_ort_format(tiny, out=out)
    with pytest.raises(ParameterError, match="must end with '.ort'"):
        deploy.to_ort_format(tiny, out=tmp_path / "x.onnx")
    bad = r"to_ort_format\(optimization=...\) must be one of 'fixed', 'runtime'; got 'max'"
    with pytest.raises(ParameterError, match=bad):
        deploy.to_ort_format(tiny, optimization="max")


# --- bundle ----------------------------------------------------------------------------------

def test_bundle_contents_and_manifest(digits, digits_bundle):
    b = digits_bundle
    serving = {f"serving/{m}" for m in ("__init__.py", "app.py", "auth.py", "batching.py",
                                        "engine.py", "grpc_schema.py", "grpc_server.py",
                                        "metrics.py", "protocol.py", "uploads.py")}
    files = {"digits_cnn.onnx", "predict.py", "requirements.txt", "README.md", "serve.py",
             "Dockerfile", "edge/digits_cnn.ort", "edge/digits_cnn.required_operators.config",
             *serving}
    assert set(b.files) == files
    assert set(os.listdir(b.path)) == {f.split("/")[0] for f in files} | {"manifest.json"}
    manifest = json.loads((b.path / "manifest.json").read_text())
    assert manifest == b.manifest and manifest["format"] == "onnxkit-bundle"
    for name, entry in manifest["files"].items():
        data = (b.path / name).read_bytes()
        assert entry == {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    assert manifest["inputs"] == [{"name": "image", "dtype": "float32",
                                   "shape": ["batch", 1, 8, 8]}]
    assert manifest["outputs"] == [{"name": "logits", "dtype": "float32", "shape": ["batch", 10]}]
    assert manifest["model"]["opset_imports"] == {"ai.onnx": 17}
    assert manifest["tested_with"]["onnxruntime"] == ort.__version__
    assert manifest["tested_with"]["numpy"] == np.__version__
    pins = (b.path / "requirements.txt").read_text().splitlines()
    from importlib.metadata import version

    # serve.py's fast paths are listed (pinned as installed here); no Pillow: no image input
    assert pins == [f"{pins[0].split('==')[0]}=={ort.__version__}", f"numpy=={np.__version__}",
                    *(f"{n}=={version(n)}" for n in ("starlette", "uvicorn", "orjson",
                                                      "httptools")),
                    f"uvloop=={version('uvloop')}; sys_platform != 'win32'"]
    assert pins[0].startswith("onnxruntime")  # or onnxruntime-gpu etc., whichever is installed
    assert manifest["providers"] == ["CPUExecutionProvider"]
    assert manifest["postprocess"] == {"output": "logits", "labels": DIGITS, "threshold": None}
    assert manifest["smoke_test"]["outputs"] == {"logits": {"dtype": "float32",
                                                            "shape": [1, 10]}}
    assert manifest["created"]["source"] == str(digits.model.path)
    readme = (b.path / "README.md").read_text()
    assert "predict.py --input x.npy" in readme and "pip install -r requirements.txt" in readme
    assert "10 labels on 'logits'" in repr(b) and b.command.endswith("--input x.npy")
    assert not [p for p in b.path.parent.iterdir() if p.name.startswith(".")]


def test_bundle_keeps_external_data(tmp_path):
    b = deploy.bundle(external_model(tmp_path), tmp_path / "ext-bundle")
    assert {"ext.onnx", "weights.bin", "predict.py", "serve.py"} <= set(b.files)
    assert b.manifest["model"]["external_data"] == ["weights.bin"]
    x = np.ones((1, 4), np.float32)
    assert np.array_equal(onnxkit.run(b.path / "ext.onnx", {"x": x})["y"], [[12.0, 16.0]])
    assert deploy.verify(b.path)


def test_bundle_refuses_a_folder_it_did_not_make(tiny, tmp_path):
    folder = tmp_path / "precious"
    folder.mkdir()
    (folder / "thesis.tex").write_text("years of work")
    with pytest.raises(WorkspaceError, match="not empty.*overwrite=True"):
        deploy.bundle(tiny, folder)
    with pytest.raises(WorkspaceError, match="no onnxkit manifest.json.*never deletes"):
        deploy.bundle(tiny, folder, overwrite=True)
    assert os.listdir(folder) == ["thesis.tex"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(WorkspaceError, match="is a file"):
        deploy.bundle(tiny, tmp_path / "file")


def test_overwrite_replaces_a_previous_bundle(tiny, tmp_path):
    folder = tmp_path / "b"
    folder.mkdir()  # an empty folder is fine without overwrite
    deploy.bundle(tiny, folder)
    (folder / "stale.txt").write_text("from the old bundle")
    with pytest.raises(WorkspaceError, match="not empty"):
        deploy.bundle(tiny, folder)
    b = deploy.bundle(tiny, folder, overwrite=True)
    assert "stale.txt" not in os.listdir(folder) and deploy.verify(b.path)
    assert sorted(os.listdir(tmp_path)) == ["b"]  # no temp or old folders left behind


def test_bundle_option_checks(tiny, digits, tmp_path):
    out = tmp_path / "x"
    with pytest.raises(ParameterError, match="9 labels but output 'logits' has 10 classes"):
        deploy.bundle(digits.model, out, labels=DIGITS[:9])
    with pytest.raises(ParameterError, match="threshold=.*is for binary outputs.*10 classes"):
        deploy.bundle(digits.model, out, threshold=0.5)
    with pytest.raises(ParameterError, match="every class index 0..n-1"):
        deploy.bundle(tiny, out, labels={0: "a", 2: "c", 3: "d"})
    with pytest.raises(ParameterError, match="list of class names"):
        deploy.bundle(tiny, out, labels="abc")
    with pytest.raises(ParameterError, match="does not have. Outputs: \\['y'\\]"):
        deploy.bundle(tiny, out, labels=["a", "b", "c"], output="z")
    with pytest.raises(ProviderError, match="unknown execution provider 'warp'"):
        deploy.bundle(tiny, out, providers="warp")
    assert not out.exists()
    b = deploy.bundle(tiny, out, labels={0: "a", 1: "b", 2: "c"}, providers=["cuda", "CPU"])
    assert b.manifest["postprocess"]["labels"] == ["a", "b", "c"]
    assert b.manifest["providers"] == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    here = [p for p in b.manifest["providers"] if p in ort.get_available_providers()]
    assert b.manifest["smoke_test"]["providers"] == here  # CUDA only where this build has it


# --- verify ----------------------------------------------------------------------------------

def test_verify_good_and_tampered(digits_bundle, tmp_path):
    good = deploy.verify(digits_bundle.path)
    assert good and good.output_shapes == {"logits": [1, 10]} and "passed" in repr(good)
    copy = tmp_path / "copy"
    shutil.copytree(digits_bundle.path, copy)
    model = onnx.load(str(copy / "digits_cnn.onnx"))
    model.graph.initializer[0].raw_data = b"\0" * len(model.graph.initializer[0].raw_data)
    onnx.save(model, str(copy / "digits_cnn.onnx"))
    (copy / "README.md").unlink()
    bad = deploy.verify(copy)
    assert not bad and not bad.hashes_ok and not bad.smoke_ok
    assert bad.failed_files["README.md"] == "missing"
    assert bad.failed_files["digits_cnn.onnx"].startswith("altered")
    assert "digits_cnn.onnx" in repr(bad) and "not run" in repr(bad)
    assert json.loads(json.dumps(bad.to_dict()))["passed"] is False
    (copy / "manifest.json").unlink()
    assert "not a bundle" in deploy.verify(copy).error
    with pytest.raises(ParameterError, match="is not a folder"):
        deploy.verify(tmp_path / "nowhere")
