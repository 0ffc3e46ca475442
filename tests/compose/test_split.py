"""split: stages cut at named tensors whose run in turn — and whose chain — equals the whole."""

from __future__ import annotations

import numpy as np
import pytest

import onnxkit
from onnxkit.compose import chain, split
from onnxkit.errors import ParameterError

BLOCK2, FLATTEN = "/5/Relu_output_0", "/7/Flatten_output_0"  # in the digits CNN


def test_three_stages_chain_back_into_the_whole(digits):
    stages = split(digits.model, at=[BLOCK2, FLATTEN])
    assert len(stages) == 3
    assert [[t.name for t in onnxkit.summarize(s).inputs] for s in stages] == \
        [["image"], [BLOCK2], [FLATTEN]]
    assert all(s.lineage[-1].details["split"]["passed"] for s in stages)
    assert [s.lineage[-1].details["split"]["stage"] for s in stages] == [1, 2, 3]
    whole = chain(chain(stages[0], stages[1]), stages[2])
    assert whole.lineage[-1].details["verification"]["passed"]
    np.testing.assert_allclose(onnxkit.run(whole, digits.inputs)["logits"],
                               onnxkit.run(digits.model, digits.inputs)["logits"],
                               rtol=1e-5, atol=1e-5)


def test_a_later_stage_takes_the_model_inputs_it_reads(transformer):
    cut = "/model/bert/encoder/layer.0/output/LayerNorm/LayerNormalization_output_0"
    first, second = split(transformer.model, at=[cut])
    assert [t.name for t in onnxkit.summarize(second).inputs][0] == cut
    assert "attention_mask" in [t.name for t in onnxkit.summarize(second).inputs]
    assert second.lineage[-1].details["split"]["passed"]


def test_bad_cuts_are_refused(tiny):
    with pytest.raises(ParameterError, match="no tensor named"):
        split(tiny, at=["nope"])
    with pytest.raises(ParameterError, match="cut"):
        split(tiny, at=[])
