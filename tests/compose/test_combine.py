"""chain and ensemble: one graph equal to its parts run one by one; clear refusals when the
parts do not fit together."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

import onnxkit
from onnxkit.compose import chain, ensemble, with_postprocessing
from onnxkit.errors import ParameterError


def _scale(name_in: str, name_out: str, dtype: int = TensorProto.FLOAT, dims=("batch", 3),
           opset: int = 17, factor: float = 2.0) -> onnxkit.Model:
    graph = helper.make_graph(
        [helper.make_node("Mul", [name_in, "k"], [name_out])], f"scale_{name_out}",
        [helper.make_tensor_value_info(name_in, dtype, list(dims))],
        [helper.make_tensor_value_info(name_out, dtype, list(dims))],
        [helper.make_tensor("k", dtype, [], [factor])])
    return onnxkit.load(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                                          ir_version=8 if opset < 20 else 10))


def test_chain_equals_the_parts_in_turn(tiny):
    head = _scale("y", "z", opset=21)  # another opset and IR version: brought level
    whole = chain(tiny, head)
    check = whole.lineage[-1].details["verification"]
    assert check["passed"] and check["parts"] == 2
    summary = onnxkit.summarize(whole)
    assert [str(t) for t in summary.inputs] == ["x: float32[batch, 4]"]
    assert [t.name for t in summary.outputs] == ["z"]
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_allclose(onnxkit.run(whole, {"x": x})["z"],
                               2 * onnxkit.run(tiny, {"x": x})["y"], rtol=1e-6)


def test_chain_with_an_io_map_and_a_post_processed_end(tiny):
    head = with_postprocessing(_scale("logits", "out"), softmax=True, labels=["a", "b", "c"])
    whole = chain(tiny, head, {"y": "logits"})
    assert [t.name for t in onnxkit.summarize(whole).outputs] == ["scores", "class", "label"]
    assert whole.lineage[-1].details["verification"]["passed"]


def test_chain_refuses_parts_that_do_not_meet(tiny):
    with pytest.raises(ParameterError, match="no output 'nope'"):
        chain(tiny, _scale("y", "z"), {"nope": "y"})
    with pytest.raises(ParameterError, match="float32 but 'y' takes float16"):
        chain(tiny, _scale("y", "z", dtype=TensorProto.FLOAT16))
    with pytest.raises(ParameterError, match="shape"):
        chain(tiny, _scale("y", "z", dims=("batch", 5)))
    with pytest.raises(ParameterError, match="io_map"):
        chain(tiny, _scale("q", "z"))


@pytest.mark.parametrize("how, outputs", [("mean", ["y: float32[batch, 3]"]),
                                          ("vote", ["votes: float32[batch, 3]",
                                                    "class: int64[batch]"]),
                                          ("concat", ["y: float32[batch, 9]"])])
def test_ensemble_equals_numpy_over_the_members(tiny, how, outputs):
    members = [tiny, onnxkit.to_fp16(tiny, keep_io_types=True),
               onnxkit.prune.magnitude(tiny, sparsity=0.5)]
    model = ensemble(members, how=how)
    check = model.lineage[-1].details["verification"]
    assert check["passed"] and check["parts"] == 3
    assert [str(t) for t in onnxkit.summarize(model).outputs] == outputs


def test_ensemble_refuses_members_that_differ(tiny, digits):
    with pytest.raises(ParameterError, match="same inputs"):
        ensemble([tiny, digits.model])
    with pytest.raises(ParameterError, match="at least two"):
        ensemble([tiny])
    with pytest.raises(ParameterError, match="how"):
        ensemble([tiny, tiny], how="max")  # type: ignore[arg-type]
