"""A language model's bundle: made from each route's tiny decoder, run as a user runs it, in a
virtualenv with only its requirements.txt (``.venv-bundle-llm``, built once per machine):
predict.py and ``predict.generate`` give lm.generate's greedy tokens, serve.py answers the
generate extension with the token rules of every bundle, an altered file is refused."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("onnxruntime_genai")

from bundle_venv import ROOT, SERVER_S, bare_env, free_port, venv_python, wait_ready  # noqa: E402

import onnxkit  # noqa: E402
from onnxkit import deploy  # noqa: E402
from onnxkit.bundled.manifest import requirements  # noqa: E402
from onnxkit.errors import ParameterError, WorkspaceError  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "llm"))
import llm_decoders  # noqa: E402

PROMPTS = ["The for statement", "def f(a, b):\n    return", "x", "Hello world, this is"]
NEW_TOKENS = 24
TOKEN = "s3cret-token-for-the-llm-test"


@pytest.fixture(scope="session")
def llm_python() -> Path:
    """``.venv-bundle-llm/bin/python``: a language model bundle's requirements only."""
    return venv_python(requirements({"kind": "language-model"}), ROOT / ".venv-bundle-llm")


@pytest.fixture(scope="module", params=["llama", "gpt2"])
def made(request, tmp_path_factory):
    """(the LanguageModel, its bundle): the model builder's route, then onnxkit's own."""
    root = tmp_path_factory.mktemp("llm-bundle")
    lm = llm_decoders.exported(request.param, "fp32", root)
    return lm, deploy.bundle(lm, root / "bundle")


def _run(python: Path, folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(python), "-I", *args], cwd=folder, env=bare_env(),
                          capture_output=True, timeout=SERVER_S)


def test_predict_gives_the_greedy_tokens_of_generate(made, llm_python):
    lm, bundle = made
    assert {"model.onnx", "genai_config.json", "tokenizer.json", "serving/textgen.py",
            "serving/generate.py", "Dockerfile", "README.md"} <= set(bundle.files)
    reqs = (bundle.path / "requirements.txt").read_text()
    assert "onnxruntime-genai==" in reqs and "tokenizers==" in reqs
    expected = [lm.generate(p, max_new_tokens=NEW_TOKENS) for p in PROMPTS]
    sample = "dict(max_new_tokens=12, do_sample=True, temperature=0.8, top_k=40, seed=7)"
    code = (f"import json, sys; sys.path.insert(0, {str(bundle.path)!r}); import predict; "
            f"print(json.dumps([predict.generate(p, max_new_tokens={NEW_TOKENS}) "
            f"for p in {PROMPTS!r}])); "
            f"print(json.dumps([predict.generate('x', **{sample}) for _ in range(2)]))")
    out = _run(llm_python, bundle.path, "-c", code)
    assert out.returncode == 0, out.stderr.decode()
    greedy, sampled = out.stdout.splitlines()
    got = json.loads(greedy)
    first, again = json.loads(sampled)  # a seed makes sampling repeatable
    assert first == again and 1 <= len(first["tokens"]) <= 12
    assert [g["tokens"] for g in got] == [list(e.tokens) for e in expected]
    assert [g["text"] for g in got] == [e.text for e in expected]
    # the command line streams the text to stdout
    cli = _run(llm_python, bundle.path, "predict.py", PROMPTS[0], "--max-tokens",
               str(NEW_TOKENS))
    assert cli.returncode == 0, cli.stderr.decode()
    assert cli.stdout.decode() == expected[0].text + "\n"
    bad = _run(llm_python, bundle.path, "predict.py", PROMPTS[0], "--top-p", "2",
               "--do-sample")
    assert bad.returncode == 1
    assert bad.stderr.decode().startswith("predict.py: error: top_p must be a number")



def _post(url: str, body: bytes, token: str | None = TOKEN) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, body, headers)) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()



def test_serve_py_answers_the_generate_extension(made, llm_python):
    lm, bundle = made
    expected = lm.generate(PROMPTS[0], max_new_tokens=NEW_TOKENS).text
    port = free_port()
    server = subprocess.Popen([str(llm_python), "-I", str(bundle.path / "serve.py"),
                               "--port", str(port), "--token", TOKEN], env=bare_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}/v2/models/{lm.name}"
        wait_ready(f"http://127.0.0.1:{port}", server)
        body = json.dumps({"text_input": PROMPTS[0],
                           "parameters": {"max_tokens": NEW_TOKENS}}).encode()
        status, reply = _post(url + "/generate", body)
        assert status == 200, reply
        assert json.loads(reply)["text_output"] == expected
        status, stream = _post(url + "/generate_stream", body)
        assert status == 200, stream
        events = [json.loads(line[6:]) for line in stream.split(b"\n\n") if line]
        assert "".join(e["text_output"] for e in events) == expected
        assert _post(url + "/generate", body, token=None)[0] == 401
        assert _post(url + "/generate", b'{"text_input": 3}')[0] == 422
        assert _post(url + "/generate", json.dumps(
            {"text_input": "x", "parameters": {"max_tokens": 0}}).encode())[0] == 422
    finally:
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=SERVER_S)
    assert server.returncode in (0, -signal.SIGTERM), err
    assert "Traceback" not in err


def test_an_altered_file_is_refused(made, llm_python, tmp_path):
    lm, bundle = made
    copy = tmp_path / "altered"
    shutil.copytree(bundle.path, copy)
    assert deploy.verify(copy)
    with open(copy / "tokenizer.json", "a") as f:
        f.write(" ")
    check = deploy.verify(copy)
    assert not check and not check.hashes_ok and list(check.failed_files) == ["tokenizer.json"]
    assert check.failed_files["tokenizer.json"].startswith("altered")
    out = _run(llm_python, copy, "predict.py", "Hello")
    assert out.returncode == 1
    assert out.stderr.decode().startswith("predict.py: error: 'tokenizer.json' was altered")


def test_bundling_a_language_model_keeps_the_users_files_and_checks_options(made, tmp_path):
    lm, _ = made
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    for overwrite in (False, True):
        with pytest.raises(WorkspaceError):
            deploy.bundle(lm, mine, overwrite=overwrite)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    assert (mine / "notes.txt").read_text() == "keep me"
    with pytest.raises(ParameterError, match="labels"):
        deploy.bundle(lm, tmp_path / "new", labels=["a", "b"])
    with pytest.raises(ParameterError, match="providers"):
        deploy.bundle(lm, tmp_path / "new", providers="cuda")
    assert not (tmp_path / "new").exists()


def test_onnxkit_serves_the_bundle_with_its_own_runtime(made):
    lm, bundle = made
    server = onnxkit.serve.start(bundle.path, port=0)
    try:
        reply = server.generate(PROMPTS[1], max_tokens=NEW_TOKENS)
        assert reply["text_output"] == lm.generate(PROMPTS[1], max_new_tokens=NEW_TOKENS).text
        assert server.settings["route"] == lm.route
    finally:
        server.stop()

