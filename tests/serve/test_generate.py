"""onnxkit.serve.start(LanguageModel): the Open Inference Protocol's generate extension on a
real server on loopback, called over real HTTP (urllib, keep-alive off, SSE read line by
line); a tiny random-weight GPT-2 exported by onnxkit (cached, see tests/llm/llm_decoders)."""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from result_contract import check_result_contract

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("starlette")
sys.path.insert(0, str(Path(__file__).parents[1] / "llm"))
import llm_decoders  # noqa: E402

import onnxkit  # noqa: E402
from onnxkit.errors import InputError, ParameterError  # noqa: E402

TOKEN = "test-token-0123456789abcdef"
PROMPTS = ["The for statement", "A class definition", "import", "The while loop"]


@pytest.fixture(scope="module")
def lm(tmp_path_factory):
    return llm_decoders.exported("gpt2", "fp32", tmp_path_factory.mktemp("llm"))


@pytest.fixture(scope="module")
def server(lm):
    with onnxkit.serve.start(lm, token=TOKEN, max_body_mb=0.01) as running:
        yield running


def _post(url, body, token=TOKEN):
    """(status, content type, body) of a POST, 4xx included."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, body if isinstance(body, bytes) else
                                     json.dumps(body).encode(), headers)
    try:
        with urllib.request.urlopen(request, timeout=120) as reply:
            return reply.status, reply.headers["Content-Type"], reply.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers["Content-Type"], e.read()


def test_streamed_pieces_concatenate_to_the_generated_text(server, lm):
    reply = server.generate(PROMPTS[0], max_tokens=24)
    pieces = list(server.generate_stream(PROMPTS[0], max_tokens=24))
    assert len(pieces) > 1
    assert "".join(pieces) == reply["text_output"]
    assert reply["text_output"] == lm.generate(PROMPTS[0], max_new_tokens=24).text
    assert reply["model_name"] == server.model and reply["model_version"] == "1"


def test_the_stream_is_server_sent_events(server):
    status, kind, body = _post(server.stream_url, {"text_input": "import",
                                                   "parameters": {"max_tokens": 4}})
    assert status == 200 and kind.startswith("text/event-stream")
    events = [json.loads(line[6:]) for line in body.split(b"\n\n") if line]
    assert events and all(set(e) == {"text_output", "model_name", "model_version"}
                          for e in events)


def test_parameters_reach_generate(server, lm):
    stopped = server.generate(PROMPTS[0], max_tokens=24, stop=["e"], details=True)
    assert "e" not in stopped["text_output"]
    full = lm.generate(PROMPTS[0], max_new_tokens=24).text
    if "e" in full:  # the greedy text has an "e": the stop sequence cut it there
        assert stopped["details"]["finish_reason"] == "stop_sequence"
        assert full.startswith(stopped["text_output"])
    sampled = [server.generate(PROMPTS[1], max_tokens=16, do_sample=True, temperature=1.5,
                               top_k=50, seed=7)["text_output"] for _ in range(2)]
    assert sampled[0] == sampled[1]  # a seed makes sampling repeatable
    assert sampled[0] == lm.generate(PROMPTS[1], max_new_tokens=16, do_sample=True,
                                     temperature=1.5, top_k=50, seed=7).text
    short = server.generate(PROMPTS[2], max_tokens=3, details=True)
    assert short["details"] == {"finish_reason": "length", "logprobs": [],
                                "generated_tokens": 3}


def test_without_the_token_it_is_a_401_and_health_stays_open(server):
    status, _, body = _post(server.generate_url, {"text_input": "x"}, token=None)
    assert status == 401 and "Bearer" in json.loads(body)["error"]
    status, _, _ = _post(server.stream_url, {"text_input": "x"}, token="wrong-token-123456789")
    assert status == 401
    with urllib.request.urlopen(server.url + "/v2/health/ready") as reply:
        assert reply.status == 200
    request = urllib.request.Request(f"{server.url}/v2/models/{server.model}",
                                     headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request) as reply:
        metadata = json.loads(reply.read())
    assert metadata["name"] == server.model and metadata["inputs"][0]["name"] == "text_input"


@pytest.mark.parametrize("body, status", [
    (b"{oops", 422), ({"parameters": {}}, 422), ({"text_input": ["a"]}, 422),
    ({"text_input": "x", "parameters": {"max_tokens": -1}}, 422),
    ({"text_input": "x", "parameters": {"temperature": "hot"}}, 422),
    ({"text_input": "x" * 20_000}, 413),  # over max_body_mb
    ({"text_input": "x " * 2000}, 422),  # more tokens than the model's context
])
def test_a_malformed_body_is_a_4xx_json_error(server, body, status):
    got, kind, reply = _post(server.generate_url, body)
    assert got == status and kind == "application/json"
    assert json.loads(reply)["error"]
    got, kind, reply = _post(server.stream_url, body)  # the stream's: an event stream
    assert got == status and kind.startswith("text/event-stream")
    assert json.loads(reply.removeprefix(b"data: "))["error"]


def test_unknown_model_and_wrong_method(server):
    assert _post(f"{server.url}/v2/models/other/generate", {"text_input": "x"})[0] == 404
    request = urllib.request.Request(server.generate_url,
                                     headers={"Authorization": f"Bearer {TOKEN}"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request)
    assert caught.value.code == 405 and caught.value.headers["Allow"] == "POST"


def test_four_concurrent_requests_are_all_answered(server, lm):
    solo = {p: lm.generate(p, max_new_tokens=16).text for p in PROMPTS}
    before = server.stats()["requests"]

    def ask(i):
        prompt = PROMPTS[i % len(PROMPTS)]
        if i % 2:
            return prompt, "".join(server.generate_stream(prompt, max_tokens=16))
        return prompt, server.generate(prompt, max_tokens=16)["text_output"]

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(ask, range(8)))
    # greedy text is the same whether a prompt was decoded alone or batched (left padding)
    assert all(text == solo[prompt] for prompt, text in answers)
    stats = server.stats()
    assert stats["requests"] - before == 8 and stats["server_errors"] == 0


def test_client_helpers_say_what_the_server_refused(server):
    with pytest.raises(InputError, match="422"):
        server.generate("x", max_tokens=0)


def test_a_folder_is_served_too_and_settings_for_tensors_are_refused(lm):
    with pytest.raises(ParameterError, match=r"serve.start\(grpc_port=...\) does not apply"):
        onnxkit.serve.start(lm, grpc_port=0)
    with pytest.raises(ParameterError, match="token"):
        onnxkit.serve.start(lm.path, host="0.0.0.0")  # beyond loopback without a token
    with onnxkit.serve.start(lm.path) as server:  # loopback: no token needed
        assert server.generate("import", max_tokens=2)["model_name"] == server.model
        check_result_contract(server)  # a GenerateServer
    assert not server.running


def test_onnxkit_serve_serves_a_language_model_folder(lm):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen([sys.executable, "-m", "onnxkit", "serve", str(lm.path),
                                "--port", "0"], stdout=subprocess.PIPE, text=True, env=env)
    try:
        line = process.stdout.readline()  # printed once the server listens
        url = re.search(r"generate: POST (\S+),", line).group(1)
        status, _, body = _post(url, {"text_input": "import", "parameters": {"max_tokens": 3}},
                                token=None)
        assert status == 200 and json.loads(body)["text_output"] == \
            lm.generate("import", max_new_tokens=3).text
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
