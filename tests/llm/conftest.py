"""Tiny exported decoders shared by the llm tests: one per route (cached, see llm_decoders)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("onnxruntime_genai")

import llm_decoders  # noqa: E402


@pytest.fixture(scope="session")
def llm_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("llm")


@pytest.fixture(scope="session")
def llama(llm_root):
    """A 2-layer Llama (GQA), fp32, by onnxruntime-genai's model builder."""
    return llm_decoders.exported("llama", "fp32", llm_root)


@pytest.fixture(scope="session")
def gpt2(llm_root):
    """A 2-layer GPT-2, fp32, by onnxkit's own export."""
    return llm_decoders.exported("gpt2", "fp32", llm_root)


@pytest.fixture(scope="session")
def gpt2_int4(llm_root):
    return llm_decoders.exported("gpt2", "int4", llm_root)


@pytest.fixture(params=["llama", "gpt2"])
def lm(request):
    """Each route's model in turn."""
    return request.getfixturevalue(request.param)
