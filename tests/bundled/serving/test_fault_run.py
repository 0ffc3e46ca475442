"""A fault run: 1,000 requests over keep-alive connections, a third of them malformed (bad
JSON, wrong types, shapes and datatypes, truncated binary tensors, wrong methods, missing or
wrong tokens), with and without a token: every good request gets the right outputs, every bad
one a 4xx JSON error, and the server never answers 5xx."""

from __future__ import annotations

import http.client
import json
import random
from urllib.parse import urlsplit

import numpy as np
import pytest

import onnxkit
from onnxkit.bundled.serving.protocol import HEADER_LENGTH, decode_response, encode_request

TOKEN = "fault-run-token-0123456789"
REQUESTS = 500  # each run; two runs (with and without a token): 1,000 in all


def _v2(inputs):
    return json.dumps({"inputs": inputs}).encode()


def _malformed(images: np.ndarray) -> list[tuple[str, str, bytes, dict[str, str]]]:
    """(method, path suffix, body, headers) of requests a server must refuse with a 4xx."""
    good = images[:1].reshape(-1).tolist()
    binary, headers = encode_request({"image": images[:1]})
    return [
        ("POST", "infer", b"{not json", {}),
        ("POST", "infer", b"[1, 2]", {}),
        ("POST", "infer", b'{"inputs": {}}', {}),
        ("POST", "infer", _v2([{"name": "", "shape": [], "datatype": {}, "data": []}]), {}),
        ("POST", "infer", _v2([{"name": "image", "shape": [1, 1, 8, 8], "datatype": "FP32",
                                "data": good[:10]}]), {}),
        ("POST", "infer", _v2([{"name": "image", "shape": [1, 64], "datatype": "FP32",
                                "data": good}]), {}),
        ("POST", "infer", _v2([{"name": "image", "shape": [1, 1, 8, 8], "datatype": "INT8",
                                "data": good}]), {}),
        ("POST", "infer", _v2([{"name": "image", "shape": [1, 1, 8, 8], "datatype": "FP32",
                                "data": ["x"] * 64}]), {}),
        ("POST", "infer", _v2([{"name": "image", "shape": [-1], "datatype": "FP32",
                                "data": good}]), {}),
        ("POST", "infer", _v2([{"name": "image", "shape": [1, 1, 8, 8], "datatype": "FP32",
                                "data": [[1, 2], [3]]}]), {}),
        ("POST", "infer", _v2([{"name": "image", "shape": [1, 1, 8, 8], "datatype": "FP32",
                                "data": good, "parameters": []}]), {}),
        ("POST", "infer", binary[: len(binary) - 7], headers),  # truncated tensor
        ("POST", "infer", binary, {**headers, "Inference-Header-Content-Length": "x"}),
        ("GET", "infer", b"", {}),
        ("POST", "predict", b'{"inputs": {"image": [[1]]}}', {}),
        ("POST", "predict", b'"nope"', {}),
        ("PUT", "model", b"", {}),
    ]


def _fault_run(server, images, expected, token: str | None, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    parts = urlsplit(server.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    paths = {"infer": f"/v2/models/{server.model}/infer", "predict": "/predict",
             "model": f"/v2/models/{server.model}"}
    bad = _malformed(images)
    if token:  # a missing or wrong token is malformed too
        body, headers = encode_request({"image": images[:1]})
        bad += [("POST", "infer", body, {**headers, "Authorization": "Bearer wrong-token"}),
                ("POST", "infer", body, {**headers, "Authorization": ""})]
    counts = {"good": 0, "bad": 0}
    try:
        for _ in range(REQUESTS):
            if rng.random() < 1 / 3:
                method, path, body, headers = rng.choice(bad)
                headers = {k: v for k, v in {**auth, **headers}.items() if v}
                connection.request(method, paths[path], body, headers)
                reply = connection.getresponse()
                content = reply.read()
                assert 400 <= reply.status < 500, (method, path, body[:80], reply.status,
                                                   content[:200])
                assert "error" in json.loads(content)
                counts["bad"] += 1
            else:
                i = rng.randrange(len(images))
                body, headers = encode_request({"image": images[i:i + 1]},
                                               binary=rng.random() < 0.5)
                connection.request("POST", paths["infer"], body, {**auth, **headers})
                reply = connection.getresponse()
                content = reply.read()
                assert reply.status == 200, content[:200]
                got = decode_response(content, reply.getheader(HEADER_LENGTH))["logits"]
                np.testing.assert_allclose(got, expected[i:i + 1], rtol=1e-5, atol=1e-6)
                counts["good"] += 1
    finally:
        connection.close()
    return counts


@pytest.mark.parametrize("token", [None, TOKEN], ids=["no token", "token"])
def test_every_good_request_is_answered_and_every_bad_one_is_a_4xx(digits, token):
    images = digits.inputs["image"][:32]
    expected = onnxkit.run(digits.model, {"image": images})["logits"]
    with onnxkit.serve.start(digits.model, token=token) as server:
        counts = _fault_run(server, images, expected, token, seed=27)
        stats = server.stats()
    assert counts["good"] + counts["bad"] == REQUESTS and counts["bad"] > REQUESTS // 4
    assert stats["server_errors"] == 0
