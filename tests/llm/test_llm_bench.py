"""benchmark and perplexity: the figures' structure (never their speed), the intervals, the
cache's size, and perplexity computed one way for the export's check and for users."""

from __future__ import annotations

import json
import math

import pytest

from onnxkit import llm
from onnxkit.errors import InputError, ParameterError


def test_benchmark_measures_each_setting_in_rounds(gpt2):
    result = llm.benchmark(gpt2, prompt_tokens=(8, 16), new_tokens=4, batch=(1, 2), rounds=3)
    assert [(s.prompt_tokens, s.batch) for s in result.settings] == [(8, 1), (8, 2), (16, 1),
                                                                     (16, 2)]
    for s in result.settings:
        assert s.ttft_ms.rounds == 3 and s.ttft_ms.low <= s.ttft_ms.median <= s.ttft_ms.high
        assert s.tokens_per_s.median > 0
    # 2 layers x (key, value) x batch 2 x 4 heads x 20 positions x 16 dims x 4 bytes
    assert result.setting(16, 2).kv_cache_bytes == 4 * 2 * 4 * 20 * 16 * 4
    assert result.peak_rss_mb > 0 and len(result.table()) == 4
    assert "tokens/s" in repr(result) and json.dumps(result.to_dict())


def test_settings_beyond_the_context_are_left_out(gpt2):
    result = llm.benchmark(gpt2, prompt_tokens=(8, 4096), new_tokens=2, batch=1, rounds=1)
    assert [s.prompt_tokens for s in result.settings] == [8]
    with pytest.raises(ParameterError, match="context"):
        llm.benchmark(gpt2, prompt_tokens=4096, new_tokens=2)


def test_perplexity_is_the_exports_check(lm):
    assert math.isclose(llm.perplexity(lm, window=256), lm.verification.perplexity,
                        rel_tol=1e-6)


def test_perplexity_refuses_a_text_too_short(gpt2):
    with pytest.raises(InputError, match="at least 2 tokens"):
        llm.perplexity(gpt2, "")
    with pytest.raises(ParameterError, match="window"):
        llm.perplexity(gpt2, "some text", window=1)
