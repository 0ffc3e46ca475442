"""export and load: both routes verified against transformers, int4 as MatMulNBits with
int8 activations, and the errors for what cannot be exported."""

from __future__ import annotations

import json

import llm_decoders
import onnx
import pytest

import onnxkit
from onnxkit import llm
from onnxkit.errors import (
    InvalidModelError,
    ModelNotFoundError,
    ParameterError,
    UnsupportedModelError,
    WorkspaceError,
)
from onnxkit.llm._attention import fuse_attention


def test_builder_route_is_verified_against_transformers(llama):
    assert (llama.route, llama.precision, llama.architecture) == (
        "builder", "fp32", "LlamaForCausalLM")
    check = llama.verification
    assert check and (check.greedy_equal, check.greedy_tokens) == (64, 64)
    assert check.cosine_min > 0.9999
    assert abs(check.perplexity_change) < 1e-3
    ops = {n.op_type for n in onnx.load(llama.path / "model.onnx",
                                        load_external_data=False).graph.node}
    assert "GroupQueryAttention" in ops


def test_own_route_has_the_anchors_cache_names(gpt2):
    assert gpt2.route == "onnxkit" and gpt2.verification.greedy_equal == 64
    graph = onnx.load(gpt2.path / "model.onnx", load_external_data=False).graph
    inputs, outputs = [i.name for i in graph.input], [o.name for o in graph.output]
    assert inputs[:3] == ["input_ids", "attention_mask", "position_ids"]
    assert "past_key_values.1.value" in inputs and "present.1.value" in outputs


def test_own_route_fuses_gpt2_attention_into_group_query_attention(gpt2, llama):
    graph = onnx.load(gpt2.path / "model.onnx", load_external_data=False).graph
    fused = [n for n in graph.node if n.op_type == "GroupQueryAttention"]
    assert len(fused) == llm_decoders.LAYERS and not any(n.op_type == "Softmax"
                                                         for n in graph.node)
    assert gpt2.decoder.padding == "right"  # and so decodes in shared cache buffers
    # a graph that does not match the pattern (the builder's) is left as it was
    proto = onnx.load(llama.path / "model.onnx", load_external_data=False)
    before = proto.SerializeToString()
    assert fuse_attention(proto) == 0 and proto.SerializeToString() == before


def test_int4_uses_matmulnbits_with_int8_activations_and_an_int8_head(gpt2_int4):
    graph = onnx.load(gpt2_int4.path / "model.onnx", load_external_data=False).graph
    packed = {n.name: {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
              for n in graph.node if n.op_type == "MatMulNBits"}
    assert len(packed) == 4 * llm_decoders.LAYERS + 1  # qkv, proj, fc, fc-proj; the head
    assert {a["accuracy_level"] for a in packed.values()} == {4}
    assert {a["block_size"] for a in packed.values()} == {128}  # the default: faster than 32
    assert sorted(a["bits"] for a in packed.values()).count(8) == 1
    made_by = {o: n.op_type for n in graph.node for o in n.output}  # 3-D in and out:
    fed = {i: n.op_type for n in graph.node for i in n.input}  # no reshapes around them
    assert not any("Reshape" in (made_by.get(n.input[0]), fed.get(n.output[0]))
                   for n in graph.node if n.op_type == "MatMulNBits")
    assert gpt2_int4.manifest["quantization"] == {"block_size": 128, "accuracy_level": 4,
                                                  "algorithm": "rtn"}
    check = gpt2_int4.verification
    assert check.passed and check.perplexity_change < 0.15
    assert (gpt2_int4.path / "model.onnx").stat().st_size < 100_000  # weights beside it


def test_block_size_and_accuracy_level_reach_the_model_builder(llm_root):
    lm = llm.export(llm_decoders.hf_folder("llama", llm_root / "hf"), precision="int4",
                    block_size=32, accuracy_level=1, out=llm_root / "llama-b32-a1")
    graph = onnx.load(lm.path / "model.onnx", load_external_data=False).graph
    packed = [{a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
              for n in graph.node if n.op_type == "MatMulNBits"]
    assert lm.route == "builder" and packed
    assert {(a["block_size"], a["accuracy_level"]) for a in packed} == {(32, 1)}
    assert lm.manifest["quantization"]["block_size"] == 32 and lm.verification.passed


def test_load_round_trips_and_describes(gpt2):
    again = llm.load(gpt2.path)
    assert again.to_dict() == gpt2.to_dict()
    assert json.loads(json.dumps(again.to_dict()))["route"] == "onnxkit"
    assert "64/64" in repr(again) and "LanguageModel" in again._repr_html_()
    assert again.config["model_type"] == "gpt2" and again.tokenizer.eos_token_id == 0


def test_a_model_object_exports_with_its_tokenizer(tmp_path):
    lm = llm.export(llm_decoders.model("llama"), tokenizer=llm_decoders.tokenizer(),
                    out=tmp_path / "from-object")
    assert lm.path == tmp_path / "from-object" and lm.route == "builder"
    assert lm.verification.passed and lm.verification.greedy_equal == 64


def test_bad_sources_say_what_to_do(tmp_path, llm_root):
    with pytest.raises(ModelNotFoundError, match="no folder"):
        llm.export(tmp_path / "missing")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text('{"architectures": ["GPT2LMHeadModel"]}')
    with pytest.raises(InvalidModelError, match="no weights.*no tokenizer"):
        llm.export(tmp_path / "half")
    with pytest.raises(ParameterError, match="tokenizer"):
        llm.export(llm_decoders.model("gpt2"))
    with pytest.raises(ParameterError, match="Hugging Face folder or a transformers model"):
        llm.export(42)
    folder = llm_decoders.hf_folder("gpt2", llm_root / "hf")
    with pytest.raises(ParameterError, match="did you mean 'int4'"):
        llm.export(folder, precision="in4")
    with pytest.raises(ParameterError, match=r"^export\(block_size=\.\.\.\)"):
        llm.export(folder, precision="int4", block_size=24)
    with pytest.raises(ParameterError, match="did you mean 'k_quant'"):
        llm.export(folder, precision="int4", algorithm="kquant")
    with pytest.raises(ParameterError, match="does not support GPT2LMHeadModel"):
        llm.export(folder, route="builder")
    with pytest.raises(UnsupportedModelError, match="fp16"):
        llm.export(llm_decoders.hf_folder("llama", llm_root / "hf"), precision="fp16",
                   route="builder")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    with pytest.raises(WorkspaceError, match="does not overwrite"):
        llm.export(folder, out=tmp_path / "taken")
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine"


def test_load_refuses_what_export_did_not_write(tmp_path):
    with pytest.raises(ModelNotFoundError):
        llm.load(tmp_path / "nothing")
    with pytest.raises(InvalidModelError, match="onnxkit-llm.json"):
        llm.load(tmp_path)


def test_the_front_door_names_the_stage():
    assert onnxkit.llm is llm and "llm" in onnxkit.__all__


@pytest.mark.parametrize(("tokenizer_pad", "config", "expected"), [
    (None, {"vocab_size": 512, "eos_token_id": 50256, "pad_token_id": 0}, 0),  # 0 is an id
    (None, {"vocab_size": 512, "eos_token_id": 50256}, 0),  # eos beyond the vocabulary
    (None, {"vocab_size": 512, "eos_token_id": 7}, 7),
    (3, {"vocab_size": 512, "eos_token_id": 7, "pad_token_id": 5}, 3),
])
def test_the_pad_id_is_one_the_embedding_can_look_up(tmp_path, tokenizer_pad, config, expected):
    # batched prompts are left-padded with it: an id beyond the vocabulary failed every batch
    from types import SimpleNamespace

    from onnxkit.llm._export import _special_tokens
    from onnxkit.llm._source import Source

    tokenizer = SimpleNamespace(pad_token_id=tokenizer_pad, eos_token_id=config["eos_token_id"])
    found = _special_tokens(Source(tmp_path, config, "m"), tokenizer)
    assert found["pad_token_id"] == expected
