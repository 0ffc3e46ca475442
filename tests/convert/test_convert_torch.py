"""from_torch: both exporters, real architectures, dynamic axes proven at other sizes."""

from __future__ import annotations

import numpy as np
import pytest

import onnxkit
from onnxkit.convert import ConversionError, from_torch
from onnxkit.errors import InputError, ParameterError, WorkspaceError

torch = pytest.importorskip("torch")
nn = torch.nn


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.5),
                                  nn.Linear(8, 4))

    def forward(self, x):
        return self.body(x)


class TwoHeads(nn.Module):
    """Two inputs (float and int64), a tuple of outputs."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(50, 8)
        self.proj = nn.Linear(8, 3)

    def forward(self, features, ids):
        h = self.embed(ids).mean(1) + features
        return self.proj(h), h.sum(-1)


class DictIO(nn.Module):
    def forward(self, a, b):
        return {"total": a + b, "product": a * b}


class Recurrent(nn.Module):
    def __init__(self, cell):
        super().__init__()
        self.rnn = cell(6, 5, batch_first=True)
        self.head = nn.Linear(5, 2)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(16, 4, batch_first=True)

    def forward(self, x):
        return self.attn(x, x, x, need_weights=False)[0]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.mark.parametrize("exporter", ["dynamo", "torchscript"])
def test_cnn_in_eval_mode_and_mode_restored(exporter):
    net = SmallCNN().train()
    conversion = from_torch(net, torch.randn(2, 3, 16, 16), exporter=exporter,
                            dynamic_batch=True)
    assert conversion and conversion.exporter == exporter
    assert net.training  # the caller's module is left as it was
    assert conversion.resized is not None and conversion.resized
    summary = onnxkit.summarize(conversion.model)
    assert summary.inputs[0].shape[0] == "batch"
    assert "Dropout" not in summary.op_counts and "BatchNormalization" not in summary.op_counts
    assert conversion.model.lineage[-1].params["exporter"] == exporter


@pytest.mark.parametrize("exporter", ["dynamo", "torchscript"])
def test_bert_with_dynamic_batch_and_sequence(exporter, bert):
    ids, mask = torch.randint(1, 100, (2, 8)), torch.ones(2, 8, dtype=torch.long)
    seq = {"input_ids": {1: "sequence"}, "attention_mask": {1: "sequence"}}
    conversion = from_torch(bert, {"input_ids": ids, "attention_mask": mask}, exporter=exporter,
                            dynamic_batch=True, dynamic_axes=seq)
    assert conversion and conversion.resized  # matched torch at batch 3, sequence 9 too
    assert [o.name for o in conversion.model.proto.graph.output] == ["logits"]  # the field
    inputs = onnxkit.summarize(conversion.model).inputs
    assert [tuple(i.shape) for i in inputs] == [("batch", "sequence")] * 2
    # and it really runs at yet another size
    out = onnxkit.run(conversion.model, {"input_ids": np.ones((5, 20), np.int64),
                                         "attention_mask": np.ones((5, 20), np.int64)})
    assert out["logits"].shape == (5, 2)


def test_multiple_inputs_and_tuple_outputs():
    conversion = from_torch(TwoHeads(), (torch.randn(2, 8), torch.randint(0, 50, (2, 4))),
                            output_names=["scores", "energy"])
    assert conversion
    assert [o.name for o in conversion.model.proto.graph.output] == ["scores", "energy"]
    assert [i.name for i in conversion.model.proto.graph.input] == ["features", "ids"]


def test_dict_inputs_and_outputs():
    conversion = from_torch(DictIO(), {"a": torch.ones(2, 3), "b": torch.full((2, 3), 2.0)})
    assert conversion and len(conversion.verification.outputs) == 2


@pytest.mark.parametrize("cell", [nn.RNN, nn.GRU, nn.LSTM])
def test_recurrent_layers(cell):
    conversion = from_torch(Recurrent(cell), torch.randn(3, 7, 6), dynamic_batch=True)
    assert conversion, repr(conversion)


def test_attention_block():
    assert from_torch(Attention(), torch.randn(2, 5, 16))


def test_data_dependent_control_flow_is_a_conversion_error():
    class Branchy(nn.Module):
        def forward(self, x):
            return x * 2 if x.sum() > 0 else x - 1

    with pytest.raises(ConversionError, match="dynamo: .*data-dependent.*torchscript: .*branch"):
        from_torch(Branchy(), torch.ones(2, 3))


def test_fallback_is_recorded_when_dynamo_fails(monkeypatch):
    from onnxkit.convert import _torch

    real = _torch.run_exporter

    def dynamo_breaks(name, *args):
        if name == "dynamo":
            raise RuntimeError("simulated exporter bug")
        return real(name, *args)

    monkeypatch.setattr(_torch, "run_exporter", dynamo_breaks)
    conversion = from_torch(SmallCNN(), torch.randn(1, 3, 8, 8))
    assert conversion.exporter == "torchscript"
    assert conversion.fallback == "dynamo failed: RuntimeError: simulated exporter bug"


def test_bad_inputs():
    with pytest.raises(InputError, match="fails on the example inputs"):
        from_torch(SmallCNN(), torch.randn(2, 5, 16, 16))  # 5 channels for a 3-channel conv
    with pytest.raises(InputError, match="input 0 is a list"):
        from_torch(SmallCNN(), [[1, 2, 3]])
    with pytest.raises(ParameterError, match="torch.nn.Module"):
        from_torch(lambda x: x, torch.ones(1))
    with pytest.raises(ParameterError, match="exporter"):
        from_torch(SmallCNN(), torch.randn(1, 3, 8, 8), exporter="onnx")
    with pytest.raises(ParameterError, match="not an input or output"):
        from_torch(SmallCNN(), torch.randn(1, 3, 8, 8), dynamic_axes={"image": {0: "n"}})


def test_out_path_and_never_overwrite(tmp_path):
    target = tmp_path / "cnn.onnx"
    conversion = from_torch(SmallCNN(), torch.randn(1, 3, 8, 8), out=target)
    assert conversion.model.path == target and target.exists()
    assert "from_torch(module, example_inputs" in conversion.code
    with pytest.raises(WorkspaceError, match="already exists"):
        from_torch(SmallCNN(), torch.randn(1, 3, 8, 8), out=target)
    assert "<table" in conversion._repr_html_()
    assert conversion.to_dict()["passed"] is True
