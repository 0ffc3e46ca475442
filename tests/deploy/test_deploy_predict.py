"""A bundle's predict.py, run as a user would: in a virtualenv with only its requirements.txt.

The virtualenv lives at the repo root as ``.venv-bundle/`` (gitignored), built once per
machine and rebuilt when the pinned requirements change; pip serves it from its cache after
the first time. predict.py runs there with ``python -I`` and a bare environment, so neither
onnxkit nor the repo's packages can leak in.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
from bundle_venv import bare_env
from graphs import make_model, save
from onnx import TensorProto, helper, numpy_helper

import onnxkit
from onnxkit import deploy

DIGITS = [str(i) for i in range(10)]


@pytest.fixture
def predict(bundle_python, tmp_path):
    def run(bundle: deploy.Bundle, *args):
        return subprocess.run([str(bundle_python), "-I", str(bundle.path / "predict.py"),
                               *map(str, args)], capture_output=True, text=True, cwd=tmp_path,
                              env=bare_env(), stdin=subprocess.DEVNULL)
    return run


@pytest.fixture(scope="module")
def digits_bundle(digits, tmp_path_factory):
    return deploy.bundle(digits.model, tmp_path_factory.mktemp("predict") / "digits",
                         labels=DIGITS)


def _one_line_error(out, *fragments):
    assert out.returncode == 1, out
    assert out.stdout == "" and "Traceback" not in out.stderr
    assert out.stderr.startswith("predict.py: error: ") and out.stderr.count("\n") == 1
    for fragment in fragments:
        assert fragment in out.stderr, out.stderr


def test_npz_npy_and_json_inputs_match_onnxkit(digits, digits_bundle, predict, tmp_path):
    image = digits.inputs["image"][:5]
    expected = onnxkit.run(digits.model, {"image": image})["logits"]
    labels = [str(i) for i in expected.argmax(-1)]
    np.savez(tmp_path / "in.npz", image=image)
    out = predict(digits_bundle, "--input", "in.npz", "--output", "out.npz")
    assert out.returncode == 0, out.stderr
    saved = np.load(tmp_path / "out.npz")
    np.testing.assert_allclose(saved["logits"], expected, rtol=1e-6, atol=1e-6)
    assert saved["predictions"].tolist() == labels
    np.save(tmp_path / "in.npy", image)
    printed = predict(digits_bundle, "--input", "in.npy")
    assert printed.returncode == 0, printed.stderr
    assert "logits: float32[5, 10]" in printed.stdout
    assert f"predictions: {json.dumps(labels)}" in printed.stdout
    (tmp_path / "in.json").write_text(json.dumps({"image": image.tolist()}))
    out = predict(digits_bundle, "--input", "in.json", "--output", "out.json")
    assert out.returncode == 0, out.stderr
    data = json.loads((tmp_path / "out.json").read_text())
    np.testing.assert_allclose(np.array(data["logits"], np.float32), expected, rtol=1e-6,
                               atol=1e-6)
    assert data["predictions"] == labels
    assert np.mean(np.array(labels, int) == digits.labels[:5]) >= 0.8  # the labels mean digits
    again = predict(digits_bundle, "--input", "in.json", "--output", "out.json")
    _one_line_error(again, "exists", "--overwrite")


def test_altered_or_missing_files_are_refused(digits_bundle, predict, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(digits_bundle.path, copy)
    bundle = deploy.Bundle(copy, digits_bundle.model_file, digits_bundle.files,
                           digits_bundle.manifest)
    model = copy / "digits_cnn.onnx"
    data = bytearray(model.read_bytes())
    data[-10] ^= 0xFF  # one flipped byte in the weights
    model.write_bytes(bytes(data))
    # The input does not even exist: the hashes are checked before anything else.
    _one_line_error(predict(bundle, "--input", "none.npy"), "'digits_cnn.onnx' was altered",
                    "refusing to run")
    (copy / "README.md").unlink()
    shutil.copyfile(digits_bundle.path / "digits_cnn.onnx", model)
    _one_line_error(predict(bundle, "--input", "none.npy"), "'README.md' is missing")


def test_inputs_are_checked_against_the_manifest(digits, digits_bundle, predict, tmp_path):
    image = digits.inputs["image"][:2]
    np.savez(tmp_path / "name.npz", img=image)
    _one_line_error(predict(digits_bundle, "--input", "name.npz"),
                    "unknown input name(s) ['img']", "['image']")
    np.save(tmp_path / "f64.npy", image.astype(np.float64))
    _one_line_error(predict(digits_bundle, "--input", "f64.npy"),
                    "input 'image' expects dtype float32; got float64", "astype('float32')")
    np.save(tmp_path / "rank.npy", image[:, 0])
    _one_line_error(predict(digits_bundle, "--input", "rank.npy"),
                    "input 'image' expects rank 4", "got shape [2, 8, 8]")
    np.save(tmp_path / "size.npy", np.zeros((2, 1, 8, 9), np.float32))
    _one_line_error(predict(digits_bundle, "--input", "size.npy"), "size 8 at axis 3")
    (tmp_path / "bad.txt").write_text("1 2 3")
    _one_line_error(predict(digits_bundle, "--input", "bad.txt"), "use a .npy, .npz or .json")
    _one_line_error(predict(digits_bundle, "--input", "in.npz", "--providers", "warp"),
                    "does not exist")
    np.save(tmp_path / "ok.npy", image)
    _one_line_error(predict(digits_bundle, "--input", "ok.npy", "--providers", "warp"),
                    "'warp' is not available here")


def test_threshold_with_labels(predict, tmp_path):
    F = TensorProto.FLOAT
    w = numpy_helper.from_array(np.array([[1.0], [-1.0]], np.float32), "w")
    model = save(make_model([helper.make_node("MatMul", ["x", "w"], ["z"]),
                             helper.make_node("Sigmoid", ["z"], ["p"])],
                            [("x", F, ["n", 2])], [("p", F, ["n", 1])], [w]),
                 tmp_path / "binary.onnx")
    b = deploy.bundle(model, tmp_path / "binary", threshold=0.5, labels=["no", "yes"])
    (tmp_path / "x.json").write_text(json.dumps([[2, 0], [0, 2], [1, 1]]))
    out = predict(b, "--input", "x.json")
    assert out.returncode == 0, out.stderr
    assert 'predictions: ["yes", "no", "yes"]' in out.stdout  # sigmoid(0) = 0.5 >= 0.5


def test_labels_on_a_scikit_learn_classifier_use_its_probabilities(predict, tmp_path):
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    x, y = load_iris(return_X_y=True)
    x = x.astype(np.float32)
    names = ["setosa", "versicolor", "virginica"]
    model = onnxkit.convert.from_sklearn(LogisticRegression(max_iter=500).fit(x, y), x).model
    b = deploy.bundle(model, tmp_path / "iris", labels=names)  # outputs: label, probabilities
    assert b.manifest["postprocess"]["output"] == "probabilities"
    (tmp_path / "x.json").write_text(json.dumps(x[[0, 60, 120]].tolist()))
    out = predict(b, "--input", "x.json")
    assert out.returncode == 0, out.stderr
    assert 'predictions: ["setosa", "versicolor", "virginica"]' in out.stdout
    with pytest.raises(onnxkit.errors.ParameterError, match="holds class indices"):
        deploy.bundle(_label_only(tmp_path), tmp_path / "labels-only", labels=names)


def _label_only(tmp_path):
    """A classifier whose only output is the class index."""
    F = TensorProto.FLOAT
    return save(make_model([helper.make_node("ArgMax", ["x"], ["label"], axis=1, keepdims=0)],
                           [("x", F, ["n", 3])], [("label", TensorProto.INT64, ["n"])], []),
                tmp_path / "argmax.onnx")
