"""onnxkit.serve.on_ray: the same protocol from a Ray Serve application on a local Ray (no
dashboard, loopback), checked with tritonclient (HTTP here; gRPC from its own virtualenv, see
tritonclient_venv.py), scaled from 1 to 2 replicas, stopped. Each test starts Ray once."""

from __future__ import annotations

import ipaddress
import urllib.error
import urllib.request

import numpy as np
import pytest
from result_contract import check_result_contract
from tritonclient_venv import run_client, tritonclient_python

import onnxkit
from onnxkit.errors import ClusterError

pytest.importorskip("ray.serve")
http = pytest.importorskip("tritonclient.http")
TOKEN = "ray-test-token-0123456789"

# tritonclient.grpc against Ray Serve's gRPC proxy: ARGS["feeds"] is {name: [values, dtype]}
GRPC_CLIENT = """
import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException, np_to_triton_dtype

def status(call):
    try:
        call()
        return "OK"
    except InferenceServerException as e:
        return [e.status(), e.message()]

def tensors(feeds):
    out = []
    for name, (values, dtype) in feeds.items():
        array = np.asarray(values, dtype)
        out.append(grpcclient.InferInput(name, list(array.shape), np_to_triton_dtype(array.dtype)))
        out[-1].set_data_from_numpy(array)
    return out

client = grpcclient.InferenceServerClient(ARGS["address"])
auth = {"authorization": "Bearer " + ARGS["token"]}
model = ARGS["model"]
out = {"live": client.is_server_live(), "ready": client.is_server_ready()}
out["without_token"] = status(lambda: client.get_model_metadata(model))
out["wrong_token"] = status(lambda: client.infer(model, tensors(ARGS["feeds"]),
                                                 headers={"authorization": "Bearer nope"}))
out["model_ready"] = client.is_model_ready(model, headers=auth)
meta = client.get_model_metadata(model, headers=auth, as_json=True)
out["inputs"] = meta["inputs"]
result = client.infer(model, tensors(ARGS["feeds"]), headers=auth)
out["outputs"] = {o["name"]: result.as_numpy(o["name"]).tolist() for o in meta["outputs"]}
out["bad_dtype"] = status(lambda: client.infer(model, tensors(ARGS["wrong_dtype"]), headers=auth))
out["bad_shape"] = status(lambda: client.infer(model, tensors(ARGS["wrong_shape"]), headers=auth))
out["unknown_model"] = status(lambda: client.infer("other", tensors(ARGS["feeds"]), headers=auth))
print(json.dumps(out))
"""


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
        with pytest.raises(ClusterError, match="without onnxkit's gRPC service"):
            onnxkit.serve.on_ray(digits.model, grpc_port=0, token=TOKEN)  # set at Serve's start
        assert deployment.grpc_url is None

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


def test_the_text_transformer_on_ray_behind_a_token_over_http_and_grpc(transformer):
    python = tritonclient_python()  # built (once per machine) before Ray starts
    feeds = {k: v[:3] for k, v in transformer.inputs.items()}
    expected = onnxkit.run(transformer.model, feeds)
    with onnxkit.serve.on_ray(transformer.model, token=TOKEN, grpc_port=0) as deployment:
        got = _infer(deployment, feeds, {"Authorization": f"Bearer {TOKEN}"}).as_numpy("logits")
        np.testing.assert_allclose(got, expected["logits"], rtol=1e-5, atol=1e-5)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{deployment.url}/v2/models/{deployment.model}")
        assert refused.value.code == 401 and "WWW-Authenticate" in refused.value.headers
        assert urllib.request.urlopen(f"{deployment.url}/v2/health/ready").status == 200
        np.testing.assert_allclose(deployment.infer(feeds)["logits"], expected["logits"],
                                   rtol=1e-5, atol=1e-5)  # RayDeployment.infer sends the token

        assert deployment.grpc_url == f"127.0.0.1:{deployment.grpc_port}"
        rows = {k: [v.tolist(), str(v.dtype)] for k, v in feeds.items()}
        grpc = run_client(python, GRPC_CLIENT, address=deployment.grpc_url, token=TOKEN,
                          model=deployment.model, feeds=rows,
                          wrong_dtype={k: [v, "float32"] for k, (v, _) in rows.items()},
                          wrong_shape={k: [v[0], d] for k, (v, d) in rows.items()})
        listening = _ray_listening()  # Ray started here, its Serve proxy and replica included
    assert not _ray_running()  # Ray started here is shut down with the last deployment
    assert grpc["live"] and grpc["ready"] and grpc["model_ready"]  # probes open, rest guarded
    assert grpc["without_token"][0] == grpc["wrong_token"][0] == "StatusCode.UNAUTHENTICATED"
    assert [i["name"] for i in grpc["inputs"]] == list(feeds)
    assert grpc["inputs"][0]["datatype"] == "INT64"
    assert set(grpc["outputs"]) == set(expected)
    for name, value in expected.items():  # the gRPC answer is the HTTP route's
        np.testing.assert_allclose(grpc["outputs"][name], value, rtol=1e-5, atol=1e-5)
    assert grpc["bad_dtype"][0] == grpc["bad_shape"][0] == "StatusCode.INVALID_ARGUMENT"
    assert "input_ids" in grpc["bad_dtype"][1] and "rank" in grpc["bad_shape"][1]
    assert grpc["unknown_model"][0] == "StatusCode.NOT_FOUND"
    assert [(ip, port) for ip, port, _ in listening if not _loopback(ip)] == [], listening
    assert deployment.grpc_port in {port for _, port, name in listening if name == "ProxyActor"}
    assert any(name.startswith("ServeReplica") for _, _, name in listening)


def _ray_listening() -> list[tuple[str, int, str]]:
    """(address, port, process) of each TCP socket that Ray's processes, all children of this
    one, listen on: "ProxyActor", "ServeReplica:<app>:model", "raylet", "gcs_server"..."""
    import psutil

    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            name = child.name().removeprefix("ray::")
            sockets = (getattr(child, "net_connections", None) or child.connections)(kind="tcp")
        except psutil.Error:  # gone meanwhile
            continue
        found += [(s.laddr.ip, s.laddr.port, name) for s in sockets
                  if s.status == psutil.CONN_LISTEN]
    return found


def _loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    return (getattr(address, "ipv4_mapped", None) or address).is_loopback  # ::ffff:127.0.0.1


def _ray_running() -> bool:
    import ray

    return ray.is_initialized()


def test_grpc_on_ray_needs_a_token_as_its_proxy_listens_on_every_interface(digits, monkeypatch):
    from onnxkit.errors import ParameterError

    monkeypatch.delenv("ONNXKIT_SERVE_TOKEN", raising=False)
    with pytest.raises(ParameterError, match="token"):  # refused before Ray starts
        onnxkit.serve.on_ray(digits.model, grpc_port=0)
    with pytest.raises(ParameterError, match="must differ"):
        onnxkit.serve.on_ray(digits.model, port=8123, grpc_port=8123, token=TOKEN)
    assert not _ray_running()
