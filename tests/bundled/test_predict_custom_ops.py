"""A bundle whose graph holds onnxruntime-extensions' operators (a tokenizer, from
onnxkit.compose): the bundle's own code registers their library, and the server takes the
raw strings as BYTES tensors."""

from __future__ import annotations

import json
import sysconfig
import urllib.request
from pathlib import Path

import numpy as np
import pytest

import onnxkit
from onnxkit.bundled import predict

pytest.importorskip("onnxruntime_extensions")
tokenizers = pytest.importorskip("tokenizers")
transformers = pytest.importorskip("transformers")
TEXTS = ["a short one", "a somewhat longer line of text"]


@pytest.fixture(scope="module")
def tokenizer_bundle(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tokenizer")
    lines = [line.strip() for path in sorted((Path(sysconfig.get_paths()["stdlib"]) / "json")
                                             .glob("*.py"))
             for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    trainer = tokenizers.ByteLevelBPETokenizer()
    trainer.train_from_iterator(lines, vocab_size=300, min_frequency=2)
    trainer.save_model(str(folder))
    tokenizer = transformers.GPT2Tokenizer(vocab=str(folder / "vocab.json"),
                                           merges=str(folder / "merges.txt"),
                                           model_max_length=16)
    graph = onnxkit.compose.from_tokenizer(tokenizer, max_length=16)
    feeds = {"text": np.array(TEXTS[:1], dtype=object)}
    bundle = onnxkit.deploy.bundle(graph, folder / "bundle", feeds=feeds)
    return bundle.path, tokenizer


def test_predict_registers_the_extensions_operators(tokenizer_bundle):
    folder, tokenizer = tokenizer_bundle
    manifest = predict.load_manifest(folder)
    assert predict.CONTRIB_DOMAIN in manifest["model"]["opset_imports"]
    pins = (folder / "requirements.txt").read_text().splitlines()
    from importlib.metadata import version

    assert f"onnxruntime-extensions=={version('onnxruntime-extensions')}" in pins
    assert not any(pin.startswith("pillow") for pin in pins)  # no image input
    out = predict.run_model(folder, manifest, {"text": np.array(TEXTS[:1], dtype=object)},
                            ["CPUExecutionProvider"])
    assert out["input_ids"][0][out["attention_mask"][0] == 1].tolist() == \
        tokenizer(TEXTS[0])["input_ids"]


def test_the_server_takes_strings_as_bytes_tensors(tokenizer_bundle):
    folder, tokenizer = tokenizer_bundle
    with onnxkit.serve.start(folder) as server:
        body = json.dumps({"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES",
                                       "data": TEXTS[1:]}]}).encode()
        request = urllib.request.Request(server.infer_url, body,
                                         {"Content-Type": "application/json"})
        reply = json.loads(urllib.request.urlopen(request).read())
        outputs = {o["name"]: np.array(o["data"]).reshape(o["shape"]) for o in reply["outputs"]}
        binary = server.infer({"text": np.array(TEXTS[1:], dtype=object)})
    ids = outputs["input_ids"][0][outputs["attention_mask"][0] == 1].tolist()
    assert ids == tokenizer(TEXTS[1], truncation=True, max_length=16)["input_ids"]
    np.testing.assert_array_equal(binary["input_ids"], outputs["input_ids"])
