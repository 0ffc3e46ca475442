"""Tokenizers in the graph (onnxruntime-extensions): the ids equal the transformers
tokenizer's on 1,000 texts, and a text classifier takes strings."""

from __future__ import annotations

import numpy as np
import pytest

import onnxkit
from onnxkit.compose import from_tokenizer, token_check, with_preprocessing
from onnxkit.errors import InputError, ParameterError

pytest.importorskip("onnxruntime_extensions")


@pytest.mark.parametrize("kind", ["wordpiece", "bpe"])
def test_token_ids_equal_the_tokenizers_on_1000_texts(kind, texts, request):
    tokenizer = request.getfixturevalue(kind)
    graph = from_tokenizer(tokenizer)
    assert {o.domain for o in graph.proto.opset_import} >= {"ai.onnx.contrib"}
    check = token_check(graph, tokenizer, texts, max_length=64)
    assert check == {"passed": True, "texts": 1000, "mismatches": []}
    longest = onnxkit.run(graph, {"text": np.array(["word " * 400], dtype=object)})
    assert longest["input_ids"].shape == (1, 64)  # cut as truncation=True cuts


def test_bpe_takes_a_batch_padded_with_its_mask(bpe):
    graph = from_tokenizer(bpe, max_length=16)
    out = onnxkit.run(graph, {"text": np.array(["a short one", "a somewhat longer line of text",
                                                ""], dtype=object)})
    mask = out["attention_mask"]
    assert out["input_ids"].shape == mask.shape and mask.shape[0] == 3
    for row, text in enumerate(["a short one", "a somewhat longer line of text", ""]):
        want = bpe(text, truncation=True, max_length=16)["input_ids"]
        assert out["input_ids"][row][mask[row] == 1].tolist() == want


def test_wordpiece_refuses_two_texts_in_one_call(wordpiece):
    """Its operator reads two strings as a sentence pair: the graph takes exactly one."""
    graph = from_tokenizer(wordpiece)
    with pytest.raises(InputError, match="text"):
        onnxkit.run(graph, {"text": np.array(["one", "two"], dtype=object)})


def test_text_classifier_takes_strings(transformer, wordpiece):
    model = with_preprocessing(transformer.model, text=wordpiece)
    summary = onnxkit.summarize(model)
    assert [str(t) for t in summary.inputs] == ["text: string[1]"]
    assert [str(t) for t in summary.outputs] == ["logits: float32[batch, 2]"]
    check = model.lineage[-1].details["verification"]
    assert check["passed"] and check["tokens"]["passed"] and check["model"]["max_abs"] < 1e-4
    text = "A sentence about email headers and json, ünïcode too."
    ids = wordpiece(text, return_tensors="np")
    bare = onnxkit.run(transformer.model, {"input_ids": ids["input_ids"].astype(np.int64),
                                           "attention_mask": ids["attention_mask"]})
    np.testing.assert_allclose(onnxkit.run(model, {"text": np.array([text], object)})["logits"],
                               bare["logits"], rtol=1e-4, atol=1e-5)


def test_unsupported_tokenizer_and_model_without_ids(tiny, wordpiece):
    with pytest.raises(ParameterError, match="WordPiece"):
        from_tokenizer(object())
    with pytest.raises(ParameterError, match="input_ids"):
        with_preprocessing(tiny, text=wordpiece)


def test_sessions_onnxkit_makes_load_the_tokenizer_operators(bpe):
    """run, benchmark and Study each make their own session: each has the custom operators."""
    graph = from_tokenizer(bpe, max_length=16)
    feeds = {"text": np.array(["one line", "and another"], dtype=object)}
    assert onnxkit.benchmark(graph, feeds, warmup=1, runs=3).runs == 3
    study = onnxkit.Study(graph, feeds=feeds, data=feeds, rounds=1, max_rounds=1, runs=3)
    study.add("again", graph)
    assert study.names == ["reference", "again"]


def test_check_and_optimize_load_the_tokenizer_operators(bpe):
    graph = from_tokenizer(bpe, max_length=16)
    report = onnxkit.check(graph)
    assert report and report.stages["runtime"] == "ok", report
    optimized = onnxkit.optimize(graph, level="basic")
    feeds = {"text": np.array(["one line"], dtype=object)}
    assert onnxkit.run(optimized, feeds)["input_ids"].tolist() == \
        onnxkit.run(graph, feeds)["input_ids"].tolist()
