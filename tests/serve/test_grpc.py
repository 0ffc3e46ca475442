"""The protocol's gRPC service next to HTTP (``serve.start(grpc_port=0)``), called by
``tritonclient.grpc`` from its own virtualenv (see tritonclient_venv.py): health, metadata,
inference equal to ``onnxkit.run``, a token, and bad input as INVALID_ARGUMENT."""

from __future__ import annotations

import numpy as np
import pytest
from tritonclient_venv import run_client, tritonclient_python

import onnxkit

pytest.importorskip("grpc")
TOKEN = "grpc-test-token-0123456789"

CLIENT = """
import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

client = grpcclient.InferenceServerClient(ARGS["address"])
auth = {"authorization": "Bearer " + ARGS["token"]}
images = np.asarray(ARGS["images"], np.float32)
out = {"live": client.is_server_live(), "ready": client.is_server_ready()}
try:
    client.get_model_metadata(ARGS["model"])
    out["without_token"] = "OK"
except InferenceServerException as e:
    out["without_token"] = e.status()
meta = client.get_model_metadata(ARGS["model"], headers=auth, as_json=True)
out["inputs"] = meta["inputs"]
out["model_ready"] = client.is_model_ready(ARGS["model"], headers=auth)
out["extensions"] = client.get_server_metadata(headers=auth, as_json=True)["extensions"]
tensor = grpcclient.InferInput("image", list(images.shape), "FP32")
tensor.set_data_from_numpy(images)
result = client.infer(ARGS["model"], [tensor], headers=auth)
out["logits"] = result.as_numpy("logits").tolist()
wrong = grpcclient.InferInput("image", [1, 64], "FP32")
wrong.set_data_from_numpy(np.zeros((1, 64), np.float32))
try:
    client.infer(ARGS["model"], [wrong], headers=auth)
except InferenceServerException as e:
    out["bad"] = [e.status(), e.message()]
try:
    client.infer("other", [tensor], headers=auth)
except InferenceServerException as e:
    out["unknown_model"] = e.status()
print(json.dumps(out))
"""


def test_tritonclient_grpc_against_the_embedded_server(digits):
    python = tritonclient_python()
    images = digits.inputs["image"][:3]
    with onnxkit.serve.start(digits.model, grpc_port=0, token=TOKEN) as server:
        got = run_client(python, CLIENT, address=f"127.0.0.1:{server.settings['grpc_port']}",
                         token=TOKEN, model=server.model, images=images.tolist())
        stats = server.stats()
    assert got["live"] and got["ready"] and got["model_ready"]  # probes open, the rest guarded
    assert got["without_token"] == "StatusCode.UNAUTHENTICATED"
    assert got["inputs"] == [{"name": "image", "datatype": "FP32", "shape": ["-1", "1", "8", "8"]}]
    assert "binary_tensor_data" in got["extensions"]
    np.testing.assert_allclose(got["logits"], onnxkit.run(digits.model, {"image": images})[
        "logits"], rtol=1e-5, atol=1e-6)
    assert got["bad"][0] == "StatusCode.INVALID_ARGUMENT" and "rank 4" in got["bad"][1]
    assert got["unknown_model"] == "StatusCode.NOT_FOUND"
    assert stats["server_errors"] == 0
