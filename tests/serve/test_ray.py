"""onnxkit.serve.on_ray: the same protocol from a Ray Serve application on a local Ray (no
dashboard, loopback), checked with tritonclient, scaled from 1 to 2 replicas, stopped."""

from __future__ import annotations

import urllib.error
import urllib.request

import numpy as np
import pytest
from result_contract import check_result_contract

import onnxkit
from onnxkit.errors import ClusterError

pytest.importorskip("ray.serve")
http = pytest.importorskip("tritonclient.http")


def _client(deployment):
    return http.InferenceServerClient(deployment.url.removeprefix("http://"))


def _infer(deployment, feeds, headers=None):
    inputs = []
    for name, value in feeds.items():
        tensor = http.InferInput(name, list(value.shape),
                                 {"float32": "FP32", "int64": "INT64"}[str(value.dtype)])
        tensor.set_data_from_numpy(value)
        inputs.append(tensor)
    return _client(deployment).infer(deployment.model, inputs, headers=headers)


def test_ray_serve_answers_like_the_embedded_server_and_scales(digits, transformer):
    deployment = onnxkit.serve.on_ray(digits.model, replicas=1)
    try:
        client = _client(deployment)
        assert client.is_server_live() and client.is_server_ready()
        assert client.is_model_ready("digits_cnn")
        assert client.get_model_metadata("digits_cnn")["inputs"][0]["shape"] == [-1, 1, 8, 8]
        images = digits.inputs["image"][:4]
        expected = onnxkit.run(digits.model, {"image": images})["logits"]
        np.testing.assert_allclose(_infer(deployment, {"image": images}).as_numpy("logits"),
                                   expected, rtol=1e-5, atol=1e-6)
        with pytest.raises(ClusterError, match="already serves"):
            onnxkit.serve.on_ray(transformer.model)

        deployment.scale(2)
        assert deployment.replicas == 2
        replicas = deployment.status()["deployments"]["model"]["replicas"]
        assert sum(replicas.values()) == 2
        answers = [deployment.infer({"image": images[i:i + 1]})["logits"] for i in range(4)]
        np.testing.assert_allclose(np.concatenate(answers), expected, rtol=1e-5, atol=1e-6)
        assert deployment.load_test(clients=[4], requests=40).levels[0].errors == 0
        check_result_contract(deployment)
    finally:
        deployment.stop()
    assert deployment.status() == {"status": "DELETED"} and not _ray_running()


def test_the_text_transformer_on_ray_behind_a_token(transformer):
    token = "ray-test-token-0123456789"
    with onnxkit.serve.on_ray(transformer.model, token=token) as deployment:
        feeds = {k: v[:3] for k, v in transformer.inputs.items()}
        got = _infer(deployment, feeds, {"Authorization": f"Bearer {token}"}).as_numpy("logits")
        expected = onnxkit.run(transformer.model, feeds)["logits"]
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{deployment.url}/v2/models/{deployment.model}")
        assert refused.value.code == 401 and "WWW-Authenticate" in refused.value.headers
        assert urllib.request.urlopen(f"{deployment.url}/v2/health/ready").status == 200
        np.testing.assert_allclose(deployment.infer(feeds)["logits"], expected, rtol=1e-5,
                                   atol=1e-5)  # RayDeployment.infer sends the token
    assert not _ray_running()  # Ray started here is shut down with the last deployment


def _ray_running() -> bool:
    import ray

    return ray.is_initialized()
