"""Conversion of the architectures people bring: transformers' own classes (random weights,
offline), and what broke on them once."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import hf_models  # noqa: E402

import onnxkit  # noqa: E402
from onnxkit.convert import ConversionError, from_torch  # noqa: E402
from onnxkit.convert import _torch as torch_converter  # noqa: E402

SEQUENCE = {"input_ids": {1: "sequence"}, "attention_mask": {1: "sequence"}}


def test_a_second_model_of_the_same_class_never_replaces_the_first():
    ten, three = hf_models.resnet(labels=10), hf_models.resnet(labels=3)
    (images,) = hf_models.image_inputs()
    first = from_torch(ten, images, exporter="torchscript", dynamic_batch=True)
    second = from_torch(three, images, exporter="torchscript", dynamic_batch=True)
    assert first.model.path != second.model.path
    feeds = {"pixel_values": images.numpy()}
    assert onnxkit.run(first.model, feeds)["logits"].shape == (2, 10)  # still the first model
    assert onnxkit.run(second.model, feeds)["logits"].shape == (2, 3)


@pytest.mark.parametrize("build", [hf_models.bert, hf_models.resnet], ids=["bert", "resnet"])
def test_torchscript_shape_checks_are_recorded_not_refused(build):
    model = build()
    example = hf_models.text_inputs() if build is hf_models.bert else hf_models.image_inputs()
    axes = SEQUENCE if build is hf_models.bert else None
    conversion = from_torch(model, example, exporter="torchscript", dynamic_batch=True,
                            dynamic_axes=axes)
    assert conversion and conversion.exporter == "torchscript"
    # The trace's value-dependent branches are kept with file:line, and were judged by
    # running at other values (padded masks, other ids or pixels) as well as other sizes.
    branches = [w for w in conversion.warnings if "Python" in w]
    assert branches and all(".py:" in w for w in branches)
    assert conversion.revalued and conversion.resized


@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
def test_recurrent_taggers_with_a_dynamic_sequence(cell):
    tagger = hf_models.recurrent_tagger(cell)
    x = torch.randn(2, 20, 16)
    conversion = from_torch(tagger, x, exporter="torchscript", dynamic_batch=True,
                            dynamic_axes={"x": {1: "sequence"}})
    assert conversion and conversion.resized
    assert onnxkit.summarize(conversion.model).inputs[0].shape == ("batch", "sequence", 16)
    out = onnxkit.run(conversion.model, {"x": np.ones((3, 7, 16), np.float32)})
    assert out["output_0"].shape == (3, 7, 5)


def test_t5_encoder_falls_back_to_torchscript_with_the_reason():
    conversion = from_torch(hf_models.t5_encoder(), hf_models.text_inputs(),
                            dynamic_batch=True, dynamic_axes=SEQUENCE)
    assert conversion and conversion.exporter == "torchscript"
    assert conversion.fallback.startswith("dynamo failed: ")
    assert [o.name for o in conversion.model.proto.graph.output] == ["last_hidden_state"]


def test_an_axis_the_exporter_fixes_is_never_reported_dynamic(monkeypatch):
    """The check varies every requested axis; an exporter that fixed one is not used."""
    real = torch_converter.run_exporter

    def dynamo_fixes_the_sequence(name, module, args, kwargs, opset, inputs, outputs, axes,
                                  torch_module):
        proto, notes = real(name, module, args, kwargs, opset, inputs, outputs, axes,
                            torch_module)
        if name == "dynamo":
            proto.graph.input[0].type.tensor_type.shape.dim[1].dim_value = 20
        return proto, notes

    monkeypatch.setattr(torch_converter, "run_exporter", dynamo_fixes_the_sequence)
    conversion = from_torch(hf_models.recurrent_tagger(), torch.randn(2, 20, 16),
                            dynamic_batch=True, dynamic_axes={"x": {1: "sequence"}})
    assert conversion.exporter == "torchscript"
    assert "axis 1 of input 'x' ('sequence') came out fixed at 20" in conversion.fallback
    with pytest.raises(ConversionError, match="came out fixed at 20"):
        from_torch(hf_models.recurrent_tagger(), torch.randn(2, 20, 16), exporter="dynamo",
                   dynamic_batch=True, dynamic_axes={"x": {1: "sequence"}})


@pytest.mark.parametrize("build", [lambda: hf_models.gpt2(use_cache=True), hf_models.bart],
                         ids=["gpt2", "bart"])
def test_a_kv_cache_output_says_how_to_convert(build):
    inputs = hf_models.text_inputs()
    with pytest.raises(ConversionError, match=r"outputs=\['logits'.*use_cache = False"):
        from_torch(build(), inputs)


def test_outputs_selects_the_tensors_to_keep_by_field_name():
    conversion = from_torch(hf_models.gpt2(use_cache=True), hf_models.text_inputs(),
                            outputs=["logits"], dynamic_batch=True, dynamic_axes=SEQUENCE)
    assert conversion and conversion.resized
    assert [o.name for o in conversion.model.proto.graph.output] == ["logits"]
    assert conversion.model.lineage[-1].params["outputs"] == ["logits"]


def test_outputs_are_named_after_the_model_fields(bert):
    conversion = from_torch(bert, hf_models.text_inputs(), exporter="torchscript")
    assert [o.name for o in conversion.model.proto.graph.output] == ["logits"]


def test_cli_example_inputs_look_like_ids_and_masks(tmp_path, capsys):
    """A BERT converted from the shell: ids within the vocabulary, masks of ones (all zeros
    masked every token and failed the check of a correct export)."""
    from onnxkit import cli

    script = tmp_path / "model.py"
    script.write_text("import hf_models\nmodel = hf_models.bert()\n")
    code = cli.main(["convert", "torch", f"{script}:model", "--input-shape", "2,12:int64",
                     "--input-shape", "2,12:int64", "--exporter", "torchscript",
                     "--out", str(tmp_path / "bert.onnx")])
    assert code == 0, capsys.readouterr()
    data = tmp_path / "data.npz"
    np.savez(data, **{k: v.numpy() for k, v in hf_models.text_inputs(batch=3).items()})
    code = cli.main(["convert", "torch", f"{script}:model", "--inputs", str(data),
                     "--exporter", "torchscript", "--out", str(tmp_path / "bert2.onnx")])
    assert code == 0, capsys.readouterr()
