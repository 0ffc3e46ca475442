"""generate: greedy equal to the export's check, streaming, batches of different lengths on
both paddings (left for the own route, right for GroupQueryAttention), stops and sampling."""

from __future__ import annotations

import numpy as np
import pytest

from onnxkit.errors import ParameterError

PROMPT = "The for statement is used to iterate over the elements of a sequence"


def test_greedy_matches_the_verified_tokens(lm):
    out = lm.generate(PROMPT, max_new_tokens=12)
    ids = lm.tokenizer(PROMPT)["input_ids"]
    batch, logits = lm.decoder.prefill([ids], lm.pad_token_id)
    assert out.tokens[0] == int(logits[0].argmax())
    assert len(out.tokens) == 12 or out.finish_reason == "eos_token"
    assert out.prompt_tokens == len(ids) and out.ttft_ms > 0
    assert out.text == lm.tokenizer.decode(out.tokens, skip_special_tokens=True)


def test_streamed_pieces_make_the_text(lm):
    stream = lm.generate(PROMPT, max_new_tokens=16, stream=True)
    pieces = list(stream)
    assert "".join(pieces) == stream.results[0].text == lm.generate(
        PROMPT, max_new_tokens=16).text
    assert all(isinstance(p, str) and p for p in pieces)


def test_a_batch_of_different_lengths_decodes_as_each_alone(lm):
    prompts = ["while", PROMPT, "an assignment statement evaluates the expression list"]
    together = lm.generate(prompts, max_new_tokens=10)
    alone = [lm.generate(p, max_new_tokens=10) for p in prompts]
    assert [g.tokens for g in together] == [g.tokens for g in alone]
    pairs = list(lm.generate(prompts[:2], max_new_tokens=4, stream=True))
    assert {i for i, _ in pairs} <= {0, 1} and all(isinstance(p, str) for _, p in pairs)


def test_a_stop_string_ends_the_text_before_it(gpt2):
    full = gpt2.generate(PROMPT, max_new_tokens=24).text
    stop = full[5:8]
    cut = gpt2.generate(PROMPT, max_new_tokens=24, stop=[stop, "never appears"])
    assert cut.finish_reason == "stop_sequence" and cut.text == full[:full.find(stop)]
    streamed = "".join(gpt2.generate(PROMPT, max_new_tokens=24, stop=stop, stream=True))
    assert streamed == cut.text


def test_the_end_of_sequence_token_finishes(gpt2):
    eos = gpt2.eos_token_ids[0]
    lm_logits = gpt2.decoder.prefill([gpt2.tokenizer(PROMPT)["input_ids"]], 0)[1]
    first = int(lm_logits[0].argmax())
    manifest = {**gpt2.manifest, "eos_token_ids": [first, eos]}
    stopped = type(gpt2)(gpt2.path, manifest).generate(PROMPT, max_new_tokens=8)
    assert stopped.finish_reason == "eos_token" and stopped.tokens == (first,)


def test_sampling_is_repeatable_with_a_seed(lm):
    def sample(seed):
        return lm.generate(PROMPT, max_new_tokens=8, do_sample=True, temperature=1.5,
                           top_k=50, top_p=0.95, repetition_penalty=1.2, seed=seed).tokens

    assert sample(1) == sample(1)
    assert len({sample(s) for s in range(4)}) > 1


def test_generation_stops_at_the_context(gpt2):
    long = " ".join(["statement"] * (gpt2.context_length - 3))
    out = gpt2.generate(long, max_new_tokens=50)
    assert out.prompt_tokens + len(out.tokens) <= gpt2.context_length
    assert out.finish_reason == "length"


@pytest.mark.parametrize("call, match", [
    ({"prompt": ""}, "prompt"), ({"prompt": []}, "prompt"), ({"prompt": [1]}, "prompt"),
    ({"max_new_tokens": 0}, "max_new_tokens"), ({"stop": [""]}, "stop"),
    ({"temperature": -1.0}, "temperature"),
])
def test_bad_arguments_are_refused(gpt2, call, match):
    args = {"prompt": PROMPT, **call}
    with pytest.raises(ParameterError, match=match):
        gpt2.generate(args.pop("prompt"), **args)


def test_a_prompt_longer_than_the_context_is_refused(gpt2):
    with pytest.raises(ParameterError, match="shorten the prompt"):
        gpt2.generate(" ".join(["statement"] * 400))


def test_concurrent_calls_share_one_session(gpt2):
    from concurrent.futures import ThreadPoolExecutor

    expected = gpt2.generate(PROMPT, max_new_tokens=8).tokens
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda _: gpt2.generate(PROMPT, max_new_tokens=8).tokens, range(4)))
    assert got == [expected] * 4
    assert np.isfinite(gpt2.generate(PROMPT, max_new_tokens=8).tokens_per_s)


def test_spinning_is_off_unless_asked_and_decodes_the_same(gpt2):
    from onnxkit import llm

    def allowed(lm):
        return lm.decoder.session.get_session_options().get_session_config_entry(
            "session.intra_op.allow_spinning")

    spun = llm.load(gpt2.path, spinning=True)
    assert allowed(llm.load(gpt2.path)) == "0" and allowed(spun) == "1"
    assert spun.generate("import", max_new_tokens=6).tokens == \
        gpt2.generate("import", max_new_tokens=6).tokens
    with pytest.raises(ParameterError, match="spinning"):
        llm.load(gpt2.path, spinning="yes")
