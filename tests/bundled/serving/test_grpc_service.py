"""The gRPC service's answers under each protobuf implementation: Ray Serve's replicas ran
the pure-Python one, where a nested message class is no attribute of its parent."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("google.protobuf")
pytest.importorskip("starlette")

SCRIPT = """
import asyncio, json
from google.protobuf.internal import api_implementation
from onnxkit.bundled.serving.generate import TextEngine
from onnxkit.bundled.serving.grpc_schema import messages
from onnxkit.bundled.serving.grpc_server import Service

engine = TextEngine(generate=None, name="m", client_error=KeyError)
service = Service(engine, None)
request = messages()["ModelMetadataRequest"](name="m")
reply = asyncio.run(service.ModelMetadata(request))
engine.close()
print(json.dumps({"implementation": api_implementation.Type(), "name": reply.name,
                  "inputs": [(t.name, t.datatype, list(t.shape)) for t in reply.inputs]}))
"""


@pytest.mark.parametrize("implementation", ["python", "upb"])
def test_model_metadata_under_each_protobuf_implementation(implementation):
    env = {**os.environ, "PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION": implementation}
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         timeout=120, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    reply = json.loads(out.stdout.strip().splitlines()[-1])
    assert reply == {"implementation": implementation, "name": "m",
                     "inputs": [["text_input", "BYTES", [1]]]}
