"""onnxkit.serve.start: the Open Inference Protocol over HTTP, driven by tritonclient (a client
nobody here wrote) and by plain urllib; bad input answered with 4xx, never a dead server."""

from __future__ import annotations

import concurrent.futures
import json
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from graphs import make_model, save
from onnx import TensorProto, helper

import onnxkit
from onnxkit.errors import ParameterError, ServeError

http = pytest.importorskip("tritonclient.http")
DIGITS = [str(d) for d in range(10)]
WAIT_S = 180  # bounds how long a test waits on a busy machine; decides nothing


@pytest.fixture(scope="module")
def digits_server(digits, tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve") / "digits"
    onnxkit.deploy.bundle(digits.model, folder, labels=DIGITS)
    with onnxkit.serve.start(folder, max_body_mb=1) as server:
        yield server


@pytest.fixture(scope="module")
def text_server(transformer):
    with onnxkit.serve.start(transformer.model) as server:
        yield server


def _client(server):
    return http.InferenceServerClient(server.url.removeprefix("http://"))


def _infer(server, feeds, binary=True):
    inputs = []
    for name, value in feeds.items():
        tensor = http.InferInput(name, list(value.shape), {"float32": "FP32", "int64": "INT64"}[
            str(value.dtype)])
        tensor.set_data_from_numpy(value, binary_data=binary)
        inputs.append(tensor)
    return _client(server).infer(server.model, inputs)


def _post(url, body, headers=None):
    """(status, parsed JSON) of a POST, 4xx/5xx included."""
    request = urllib.request.Request(url, body, {"Content-Type": "application/json",
                                                 **(headers or {})})
    try:
        with urllib.request.urlopen(request) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _declare_only(url, body, headers):
    """Send the headers of a POST (its Content-Length) but not the body: a server must refuse
    a body over its limit before reading it."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.putrequest("POST", parts.path)
    connection.putheader("Content-Length", str(len(body)))
    connection.endheaders()
    reply = connection.getresponse()
    try:
        return reply.status, json.loads(reply.read())
    finally:
        connection.close()


def _v2(name, array, datatype="FP32", shape=None):
    return json.dumps({"inputs": [{"name": name, "datatype": datatype,
                                   "shape": list(shape or array.shape),
                                   "data": np.asarray(array).reshape(-1).tolist()}]}).encode()


def test_tritonclient_sees_a_ready_server_and_the_models_signature(digits_server):
    client = _client(digits_server)
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready(digits_server.model)
    meta = client.get_model_metadata(digits_server.model)
    assert meta["inputs"] == [{"name": "image", "datatype": "FP32", "shape": [-1, 1, 8, 8]}]
    assert meta["outputs"] == [{"name": "logits", "datatype": "FP32", "shape": [-1, 10]}]
    assert client.get_server_metadata()["extensions"] == ["binary_tensor_data",
                                                          "model_repository"]
    assert client.get_model_repository_index() == [
        {"name": "digits_cnn", "version": "1", "state": "READY"}]


@pytest.mark.parametrize("binary", [True, False])
def test_tritonclient_infer_matches_onnxkit_run(digits, digits_server, binary):
    images = digits.inputs["image"][:5]
    got = _infer(digits_server, {"image": images}, binary).as_numpy("logits")
    np.testing.assert_allclose(got, onnxkit.run(digits.model, {"image": images})["logits"],
                               rtol=1e-5, atol=1e-6)


def test_int64_inputs_of_the_text_transformer(transformer, text_server):
    feeds = {k: v[:3] for k, v in transformer.inputs.items()}
    got = _infer(text_server, feeds).as_numpy("logits")
    np.testing.assert_allclose(got, onnxkit.run(transformer.model, feeds)["logits"], rtol=1e-5,
                               atol=1e-5)


def test_plain_json_infer_and_predict_with_the_bundles_labels(digits, digits_server):
    images = digits.inputs["image"][:4]
    status, reply = _post(digits_server.infer_url, _v2("image", images))
    assert status == 200 and reply["model_name"] == "digits_cnn"
    logits = np.array(reply["outputs"][0]["data"]).reshape(reply["outputs"][0]["shape"])
    expected = onnxkit.run(digits.model, {"image": images})["logits"]
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-6)
    status, reply = _post(digits_server.url + "/predict",
                          json.dumps({"inputs": {"image": images.tolist()}}).encode())
    assert status == 200 and reply["predictions"] == [str(i) for i in expected.argmax(1)]


BAD = [  # (what, body, headers, expected status, words in the error)
    ("unknown input", _v2("pixels", np.zeros((1, 1, 8, 8))), {}, 400, "unknown input"),
    ("wrong datatype", _v2("image", np.zeros((1, 1, 8, 8)), "FP64"), {}, 400, "FP32"),
    ("wrong rank", _v2("image", np.zeros((1, 64))), {}, 400, "rank 4"),
    ("wrong dim", _v2("image", np.zeros((1, 1, 8, 7))), {}, 400, "size 8 at axis 3"),
    ("shape vs data", _v2("image", np.zeros(10), shape=[1, 1, 8, 8]), {}, 400, "holds 64"),
    ("not JSON", b"{inputs: nope", {}, 400, "not valid JSON"),
    ("no inputs", b'{"outputs": []}', {}, 400, "non-empty list"),
    ("empty batch", _v2("image", np.zeros((0, 1, 8, 8))), {}, 400, "empty batch"),
    ("NaN", _v2("image", np.full((1, 1, 8, 8), np.nan)), {}, 400, "NaN"),
    ("strings for floats", json.dumps({"inputs": [{"name": "image", "datatype": "FP32",
                                                   "shape": [1], "data": ["a"]}]}).encode(),
     {}, 400, "must be numbers"),
    ("bad binary header", _v2("image", np.zeros((1, 1, 8, 8))),
     {"Inference-Header-Content-Length": "99999999"}, 400, "does not fit"),
    ("body over the limit", b" " * ((1 << 20) + 1), {}, 413, "at most 1048576"),
    ("a datatype that is an object", json.dumps({"inputs": [{"name": "", "shape": [],
                                                           "datatype": {}, "data": []}]}
                                               ).encode(), {}, 400, "unknown datatype"),
    ("a name that is a number", json.dumps({"inputs": [{"name": 3, "shape": [1],
                                                       "datatype": "FP32", "data": [1]}]}
                                          ).encode(), {}, 400, "string \"name\""),
    ("outputs not objects", json.dumps({"inputs": [], "outputs": [1]}).encode(), {}, 400,
     "a string \"name\""),
]


@pytest.mark.parametrize(("what", "body", "headers", "status", "words"), BAD,
                         ids=[b[0] for b in BAD])
def test_bad_requests_get_a_4xx_that_says_what_was_wrong(digits_server, what, body, headers,
                                                         status, words):
    post = _declare_only if status == 413 else _post
    got, reply = post(digits_server.infer_url, body, headers)
    assert got == status and words in reply["error"], reply
    assert "Traceback" not in reply["error"] and "/tmp" not in reply["error"]
    assert _client(digits_server).is_server_ready()  # still serving


def test_unknown_routes_and_models_are_404(digits_server):
    assert _post(digits_server.url + "/v2/models/other/infer", b"{}")[0] == 404
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(digits_server.url + "/admin")
    assert e.value.code == 404


def test_a_wrong_method_is_405_with_allow(digits_server):
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(digits_server.infer_url)  # GET
    assert e.value.code == 405 and e.value.headers["Allow"] == "POST"
    assert "use POST" in json.loads(e.value.read())["error"]
    status, reply = _post(digits_server.url + "/v2/health/ready", b"")
    assert status == 405 and "GET" in reply["error"]


def _get(url, headers=None):
    """(status, headers, parsed JSON) of a GET, 4xx included."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {})) as r:
            return r.status, r.headers, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, e.headers, json.loads(e.read())


def test_a_token_guards_all_but_the_health_probes(digits, monkeypatch):
    token = "t0ken-for-the-test-only"
    monkeypatch.setenv("ONNXKIT_SERVE_TOKEN", token)  # as a container would set it
    with onnxkit.serve.start(digits.model) as server:
        assert _get(server.url + "/v2/health/ready")[0] == 200
        assert _get(server.url + "/v2/health/live")[0] == 200
        status, headers, reply = _get(server.url + "/v2")
        assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
        assert "Authorization: Bearer" in reply["error"]
        status, headers, reply = _get(server.url + "/metrics",
                                      {"Authorization": "Bearer not-the-token"})
        assert status == 401 and 'error="invalid_token"' in headers["WWW-Authenticate"]
        body = _v2("image", digits.inputs["image"][:1])
        assert _post(server.infer_url, body)[0] == 401
        assert _post(server.infer_url, body, {"Authorization": f"Bearer {token}"})[0] == 200
        assert server.infer({"image": digits.inputs["image"][:1]})["logits"].shape == (1, 10)
        client = http.InferenceServerClient(server.url.removeprefix("http://"))
        assert client.is_server_ready()  # a probe: no token needed
        assert client.get_model_metadata(server.model, headers={
            "Authorization": f"Bearer {token}"})["name"] == "digits_cnn"
        assert server.settings["auth"] == "token"


def test_beyond_loopback_a_token_is_required(tiny, monkeypatch):
    monkeypatch.delenv("ONNXKIT_SERVE_TOKEN", raising=False)
    with pytest.raises(ParameterError, match=r"serve.start\(token=...\).*0.0.0.0.*no_auth"):
        onnxkit.serve.start(tiny, host="0.0.0.0")
    with pytest.raises(ParameterError, match="at least 16 characters"):
        onnxkit.serve.start(tiny, token="short")


def test_a_model_error_is_a_500_and_the_server_keeps_serving(tmp_path):
    proto = make_model([helper.make_node("Reshape", ["x", "shape"], ["y"])],
                       [("x", TensorProto.FLOAT, ["n", 4]), ("shape", TensorProto.INT64, [2])],
                       [("y", TensorProto.FLOAT, None)])
    model = save(proto, tmp_path / "reshape.onnx")
    valid = {"x": np.ones((1, 4), np.float32), "shape": np.array([2, 2])}  # for the smoke test
    onnxkit.deploy.bundle(model, tmp_path / "bundle", feeds=valid)
    with onnxkit.serve.start(tmp_path / "bundle") as server:
        x = np.ones((1, 4), np.float32).reshape(-1).tolist()
        body = lambda shape: json.dumps({"inputs": [  # noqa: E731
            {"name": "x", "datatype": "FP32", "shape": [1, 4], "data": x},
            {"name": "shape", "datatype": "INT64", "shape": [2], "data": shape}]}).encode()
        status, reply = _post(server.infer_url, body([3, 5]))
        assert status == 500 and reply["error"].startswith("the model failed on this input")
        assert "/tmp" not in reply["error"]
        assert _post(server.infer_url, body([2, 2]))[0] == 200
        assert server.stats()["model_errors"] == 1 and server.stats()["server_errors"] == 1
        assert "not batched" not in server.stats()["batching_note"]


def test_concurrent_requests_are_batched_and_each_gets_its_own_answer(digits, digits_server):
    images = digits.inputs["image"][:64]
    expected = onnxkit.run(digits.model, {"image": images})["logits"]
    before = digits_server.stats()

    def one(i):
        return _infer(digits_server, {"image": images[i:i + 1]}).as_numpy("logits")[0]

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        got = list(pool.map(one, range(64)))
    np.testing.assert_allclose(np.stack(got), expected, rtol=1e-5, atol=1e-6)
    after = digits_server.stats()
    assert after["ok"] - before["ok"] == 64
    assert after["batches"] - before["batches"] <= 64 and after["max_batch_rows_seen"] <= 32


def test_metrics_are_prometheus_text(digits_server):
    text = urllib.request.urlopen(digits_server.url + "/metrics").read().decode()
    assert '# TYPE onnxkit_requests_total counter' in text
    assert 'onnxkit_batch_rows_bucket{model="digits_cnn",le="+Inf"}' in text
    assert "onnxkit_inference_seconds_count" in text and "onnxkit_queue_seconds_sum" in text


def test_a_fixed_batch_model_is_served_one_request_at_a_time(digits):
    fixed = onnxkit.fix_dims(digits.model, {"image": (1, 1, 8, 8)})
    with onnxkit.serve.start(fixed) as server:
        assert server.stats()["batching"] is False
        assert "no dynamic batch axis" in server.stats()["batching_note"]
        assert _post(server.infer_url, _v2("image", digits.inputs["image"][:1]))[0] == 200


def test_stop_answers_the_requests_in_flight(digits, monkeypatch):
    # No batch runs before stop is called, and stop is called once all 8 requests are inside
    # the server: what is in flight is set by the test, not by the machine's speed.
    arrived, stopping = threading.Semaphore(0), threading.Event()
    images = digits.inputs["image"][:8]
    with onnxkit.serve.start(digits.model) as server, \
            concurrent.futures.ThreadPoolExecutor(9) as pool:
        batcher = server._engine.batcher
        submit, run = batcher.submit, batcher._run

        async def counted(feeds, rows, timeout_s=None):
            arrived.release()
            return await submit(feeds, rows, timeout_s)

        def held(feeds):
            stopping.wait(WAIT_S)
            return run(feeds)

        monkeypatch.setattr(batcher, "submit", counted)
        monkeypatch.setattr(batcher, "_run", held)
        try:
            futures = [pool.submit(_post, server.infer_url, _v2("image", images[i:i + 1]))
                       for i in range(8)]
            for i in range(8):
                assert arrived.acquire(timeout=WAIT_S), \
                    f"only {i} of 8 requests reached the server in {WAIT_S} s"
            stopped = pool.submit(server.stop, WAIT_S)
            while not server._uvicorn.should_exit and not stopped.done():  # stop's first step
                time.sleep(0.005)
        finally:
            stopping.set()  # the model runs only now, once stop was asked
        statuses = [f.result()[0] for f in futures]
        stopped.result()
    assert statuses == [200] * 8 and not server.running


def test_bad_settings_and_a_taken_port(digits_server, tiny):
    with pytest.raises(ParameterError, match="max_batch"):
        onnxkit.serve.start(tiny, max_batch=0)
    with pytest.raises(ParameterError, match="preferred_batch_sizes"):
        onnxkit.serve.start(tiny, preferred_batch_sizes=8)
    with pytest.raises(ParameterError, match="max_queue_delay_ms"):
        onnxkit.serve.start(tiny, max_queue_delay_ms=-1)
    with pytest.raises(ParameterError, match="not an onnxkit bundle"):
        onnxkit.serve.start(digits_server.bundle.parent.parent)
    port = int(digits_server.url.rsplit(":", 1)[1])
    with pytest.raises(ServeError, match="did not start"):
        onnxkit.serve.start(tiny, port=port)
