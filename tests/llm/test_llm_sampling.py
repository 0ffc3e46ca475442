"""Choosing tokens: greedy, temperature, top-k, top-p and the repetition penalty."""

from __future__ import annotations

import numpy as np
import pytest

from onnxkit.errors import ParameterError
from onnxkit.llm import Sampling, next_tokens
from onnxkit.llm._sampling import sampling

LOGITS = np.log(np.array([[0.5, 0.3, 0.15, 0.05]], np.float32))


def _draws(how: Sampling, n: int = 2000) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.array([next_tokens(LOGITS, [[]], how, rng)[0] for _ in range(n)])


def test_greedy_is_the_argmax_per_row():
    logits = np.array([[0.0, 1.0], [2.0, 1.0]], np.float32)
    assert next_tokens(logits, [[], []], Sampling(), np.random.default_rng(0)).tolist() == [1, 0]


def test_top_k_and_top_p_cut_the_tail():
    assert set(_draws(Sampling(do_sample=True, top_k=2))) == {0, 1}
    assert set(_draws(Sampling(do_sample=True, top_p=0.7))) == {0, 1}  # 0.5 + 0.3 reach it
    assert set(_draws(Sampling(do_sample=True, top_p=0.4))) == {0}


def test_sampling_follows_the_distribution_and_temperature_sharpens_it():
    share = np.bincount(_draws(Sampling(do_sample=True)), minlength=4) / 2000
    assert np.allclose(share, [0.5, 0.3, 0.15, 0.05], atol=0.04)
    cold = np.bincount(_draws(Sampling(do_sample=True, temperature=0.2)), minlength=4) / 2000
    assert cold[0] > 0.9


def test_a_seed_repeats_a_sample():
    how = Sampling(do_sample=True, seed=3)
    assert _draws(how, 50).tolist() == _draws(how, 50).tolist()


def test_repetition_penalty_follows_transformers():
    logits = np.array([[2.0, -1.0, 1.5]], np.float32)
    how = Sampling(repetition_penalty=2.0)
    # seen tokens: a positive logit is divided, a negative one multiplied
    assert next_tokens(logits, [[0]], how, np.random.default_rng(0)).tolist() == [2]
    assert next_tokens(logits, [[0, 2]], how, np.random.default_rng(0)).tolist() == [0]


@pytest.mark.parametrize("bad", [{"temperature": 0}, {"top_p": 1.5}, {"top_k": -1},
                                 {"repetition_penalty": 0}, {"seed": -2}, {"do_sample": 1}])
def test_settings_out_of_range_are_refused(bad):
    settings = {"do_sample": True, "temperature": None, "top_k": None, "top_p": None,
                "repetition_penalty": None, "seed": None, **bad}
    with pytest.raises(ParameterError, match=next(iter(bad))):
        sampling(**settings)
