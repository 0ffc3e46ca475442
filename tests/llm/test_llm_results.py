"""The llm stage's results keep the one result contract (checked on real objects)."""

from __future__ import annotations

import pytest
from result_contract import check_result_contract

import onnxkit.llm
import onnxkit.samples
from onnxkit.results import Result


@pytest.fixture(scope="module")
def results(gpt2, tmp_path_factory) -> dict[str, Result]:
    bench = onnxkit.llm.benchmark(gpt2, prompt_tokens=[8], new_tokens=3, batch=[1], rounds=1)
    setting = bench.settings[0]
    # The sample's class on a folder of its own (training it is the zoo's and notebook's job).
    sample = onnxkit.samples.DecoderSample("decoder", tmp_path_factory.mktemp("decoder"),
                                           "some held-out text", "The", "a test decoder")
    return {"LanguageModel": gpt2, "Verification": gpt2.verification,
            "Generation": gpt2.generate("while", max_new_tokens=3), "LLMBenchmark": bench,
            "LLMSetting": setting, "Interval": setting.tokens_per_s, "DecoderSample": sample}


def test_every_llm_result_class_is_covered(results):
    public = {name for name in onnxkit.llm.__all__
              if isinstance(cls := getattr(onnxkit.llm, name), type) and issubclass(cls, Result)}
    assert public | {"DecoderSample"} == set(results)


@pytest.mark.parametrize("name", ["LanguageModel", "Verification", "Generation", "LLMBenchmark",
                                  "LLMSetting", "Interval", "DecoderSample"])
def test_llm_result_keeps_the_contract(results, name):
    check_result_contract(results[name])
