"""The zoo's decoders: real architectures from transformers (tiny configs, random weights),
both routes, through export -> verify (64/64 greedy tokens equal at fp32) -> int4 -> generate.
Exports are cached in the user cache (see tests/llm/llm_decoders.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("onnxruntime_genai")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "llm"))  # the tiny decoders

import llm_decoders  # noqa: E402

ROUTES = {"llama": "builder", "qwen2": "builder", "phi3": "builder",
          "gpt2": "onnxkit", "opt": "onnxkit", "neox": "onnxkit"}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("zoo-llm")


@pytest.mark.parametrize("arch", sorted(ROUTES))
def test_decoder_exports_verifies_quantizes_and_generates(arch, root):
    fp32 = llm_decoders.exported(arch, "fp32", root)
    assert fp32.route == ROUTES[arch]
    check = fp32.verification
    assert check and (check.greedy_equal, check.greedy_tokens) == (64, 64), repr(check)
    int4 = llm_decoders.exported(arch, "int4", root)
    assert int4.verification, repr(int4.verification)
    for lm in (fp32, int4):
        out = lm.generate(["The while statement", "for"], max_new_tokens=8)
        assert [len(g.tokens) for g in out] == [8, 8] or any(
            g.finish_reason == "eos_token" for g in out)
