"""The sample builders: each trains or builds its model once and caches it in the workspace."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper

from onnxkit.base import cache_key, cached_bytes, require, user_cache
from onnxkit.bench import accuracy
from onnxkit.errors import ParameterError
from onnxkit.models import Model, Step, Workspace, workspace
from onnxkit.results import Result, html_table


@dataclass(frozen=True)
class Sample(Result):
    """A sample model with held-out inputs and, for classifiers, their true labels."""

    name: str
    model: Model
    inputs: dict[str, np.ndarray]
    labels: np.ndarray | None
    description: str

    def accuracy(self, predictions: np.ndarray) -> float:
        """Share of ``predictions`` (labels or class scores) equal to ``labels``."""
        if self.labels is None:
            raise ParameterError(f"Sample.accuracy: sample '{self.name}' has no labels; only "
                                 "classifier samples do.")
        return accuracy(predictions, self.labels)

    def to_dict(self) -> dict[str, Any]:
        return _described(self, model=str(self.model.path))

    def __repr__(self) -> str:
        feeds = ", ".join(f"{k}: {v.dtype}{list(v.shape)}" for k, v in self.inputs.items())
        labels = "" if self.labels is None else f", labels: {list(self.labels.shape)}"
        return f"Sample '{self.name}' ({self.description})\n  {self.model!r}\n  {feeds}{labels}"

    def _repr_html_(self) -> str:
        rows = [("model", self.model.path), ("task", self.description)]
        rows += [(f"input {k}", f"{v.dtype}{list(v.shape)}") for k, v in self.inputs.items()]
        if self.labels is not None:
            rows.append(("labels", f"{self.labels.dtype}{list(self.labels.shape)}"))
        return html_table(("sample", self.name), rows)


@dataclass(frozen=True)
class TorchSample(Result):
    """A trained PyTorch module and its held-out data: the start of a conversion."""

    name: str
    module: Any  # a torch.nn.Module in eval mode
    example_inputs: tuple[Any, ...]  # torch tensors to export with
    inputs: dict[str, np.ndarray]  # held-out data by input name, as numpy arrays
    labels: np.ndarray
    description: str

    def to_dict(self) -> dict[str, Any]:
        return _described(self, module=type(self.module).__name__)


def _described(sample: Sample | TorchSample, **model: str) -> dict[str, Any]:
    """A sample's data by dtype and shape (the arrays themselves are not results)."""
    return {"name": sample.name, **model, "description": sample.description,
            "inputs": {k: f"{v.dtype}{list(v.shape)}" for k, v in sample.inputs.items()},
            "labels": None if sample.labels is None else list(sample.labels.shape)}


# What a sample's bytes depend on: the builders' code and the libraries that train and export.
BUILT_WITH = ("numpy", "onnx", "torch", "scikit-learn", "transformers")


def _cached(name: str, recipe: int, build: Callable[[], onnx.ModelProto]) -> Model:
    """The sample's file in ``<workspace>/samples``, rebuilt only when missing or outdated;
    a new workspace copies it from the user's cache (:func:`onnxkit.base.user_cache`), keyed
    by the builders' code and library versions, so it is trained once per machine."""
    store = Workspace(workspace().root / "samples")
    path = next(store.candidates(name))
    if path.exists():
        model = Model(path)
        if model.lineage and model.lineage[-1].params == {"sample": name, "recipe": recipe}:
            return model
    key = cache_key(sources=Path(__file__).parent.glob("*.py"), libraries=BUILT_WITH,
                    extra=f"{name}/{recipe}")
    data = cached_bytes(user_cache("samples") / f"{name}-{key}.onnx",
                        lambda: build().SerializeToString())
    return store.save(onnx.load_model_from_string(data), stem=name,
                      step=Step("sample", {"sample": name, "recipe": recipe}),
                      replace=True)  # an outdated cache: its old handles refuse to be used


# --- tiny -----------------------------------------------------------------------------------

def tiny_model() -> Model:
    """A 2-layer MLP (``x: float32[batch, 4]`` -> ``y: float32[batch, 3]``), no dependencies."""
    return _cached("tiny", 2, _build_tiny)


def _build_tiny() -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    w1, b1 = rng.standard_normal((4, 8)).astype(np.float32), np.zeros(8, np.float32)
    w2, b2 = rng.standard_normal((8, 3)).astype(np.float32), np.zeros(3, np.float32)
    inits = [onnx.numpy_helper.from_array(a, n) for a, n in
             ((w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"))]
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], name="fc1"),
         helper.make_node("Relu", ["h"], ["a"], name="relu"),
         helper.make_node("Gemm", ["a", "w2", "b2"], ["y"], name="fc2")],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
        inits,
    )
    # IR 8 pairs with opset 17; onnx.helper's default IR can be newer than onnxruntime reads.
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8,
                             producer_name="onnxkit.samples")


# --- digits CNN -----------------------------------------------------------------------------

def _digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    datasets = require("sklearn.datasets", purpose="The digits sample")
    from sklearn.model_selection import train_test_split

    digits = datasets.load_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, None]  # [n, 1, 8, 8] in 0..1
    return train_test_split(images, digits.target.astype(np.int64), test_size=0.25,
                            random_state=0, stratify=digits.target)


def digits_cnn() -> Sample:
    """A small CNN (Conv-BN-ReLU x2, pool, 2 linear) trained on the 8x8 digits; ~97% accurate.

    Input ``image: float32[batch, 1, 8, 8]`` (pixels scaled to 0..1), output
    ``logits: float32[batch, 10]``. ``inputs``/``labels`` are the 450 held-out images.
    """
    model = _cached("digits_cnn", 1, _build_digits_cnn)
    _, x_test, _, y_test = _digits_split()
    return Sample("digits_cnn", model, {"image": x_test}, y_test,
                  "handwritten digit classification (8x8 images, 10 classes)")


def digits_torch() -> TorchSample:
    """The digits CNN of :func:`digits_cnn` as a trained ``torch.nn.Module`` (a few seconds).

    For learning conversion: ``onnxkit.convert.from_torch(s.module, s.example_inputs)``.
    """
    torch = require("torch", purpose="The digits torch sample")
    _, x_test, _, y_test = _digits_split()
    return TorchSample("digits_cnn", _trained_digits_net(), (torch.zeros(2, 1, 8, 8),),
                       {"image": x_test}, y_test,
                       "handwritten digit classification (8x8 images, 10 classes)")


def _build_digits_cnn() -> onnx.ModelProto:
    import torch

    return _export(_trained_digits_net(), (torch.zeros(2, 1, 8, 8),), ["image"], ["logits"],
                   {"image": {0: "batch"}, "logits": {0: "batch"}})


def _trained_digits_net() -> Any:
    """The digits CNN, trained once per machine: its weights come from the user's cache."""
    torch = require("torch", purpose="Building the digits sample")
    from torch import nn

    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(32 * 4 * 4, 64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 10),
    )
    key = cache_key(sources=Path(__file__).parent.glob("*.py"), libraries=BUILT_WITH,
                    extra="digits_torch")
    weights = cached_bytes(user_cache("samples") / f"digits_torch-{key}.pt",
                           lambda: _digits_weights(net))
    net.load_state_dict(torch.load(io.BytesIO(weights)))
    net.eval()
    return net


def _digits_weights(net: Any) -> bytes:
    import torch

    x_train, _, y_train, _ = _digits_split()
    _train(net, (torch.from_numpy(x_train),), torch.from_numpy(y_train), epochs=12, lr=3e-3)
    buffer = io.BytesIO()
    torch.save(net.state_dict(), buffer)
    return buffer.getvalue()


def _train(net: Any, inputs: tuple[Any, ...], labels: Any, *, epochs: int, lr: float,
           batch: int = 64) -> None:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small nets: more threads only fight each other (7 s vs 50 s
    try:                      # measured on two busy cores)
        _train_loop(net, inputs, labels, epochs=epochs, lr=lr, batch=batch)
    finally:
        torch.set_num_threads(threads)


def _train_loop(net: Any, inputs: tuple[Any, ...], labels: Any, *, epochs: int, lr: float,
                batch: int) -> None:
    import torch

    generator = torch.Generator().manual_seed(0)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    net.train()
    for _ in range(epochs):
        order = torch.randperm(len(labels), generator=generator)
        for start in range(0, len(order), batch):
            idx = order[start:start + batch]
            optimizer.zero_grad()
            loss_fn(net(*(t[idx] for t in inputs)), labels[idx]).backward()
            optimizer.step()
    net.eval()


def _export(net: Any, args: tuple[Any, ...], input_names: list[str], output_names: list[str],
            dynamic_axes: dict[str, dict[int, str]]) -> onnx.ModelProto:
    """Export with torch.onnx's TorchScript path: quick, and stable names and shapes."""
    import warnings

    import torch

    buffer = io.BytesIO()
    # The TorchScript exporter is deprecated upstream, but samples are built in a fixed way:
    # its warnings would only be noise for the user asking for a sample.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, args, buffer,  # type: ignore[arg-type]  # BytesIO works
                          input_names=input_names, output_names=output_names,
                          dynamic_axes=dynamic_axes, opset_version=17, dynamo=False)
    return onnx.load_model_from_string(buffer.getvalue())


# --- text transformer -----------------------------------------------------------------------

VOCAB, SEQ, POSITIVE, NEGATIVE = 512, 32, range(1, 21), range(21, 41)


def _sentiment_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Token sequences whose label says whether 'positive' tokens outnumber 'negative' ones."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(41, VOCAB, size=(n, SEQ))
    lengths = rng.integers(8, SEQ + 1, size=n)
    labels = rng.integers(0, 2, size=n)
    for i, (length, label) in enumerate(zip(lengths, labels)):
        majority, minority = (POSITIVE, NEGATIVE) if label else (NEGATIVE, POSITIVE)
        k_major = rng.integers(2, 5)
        k_minor = rng.integers(0, k_major)
        pos = rng.choice(length, size=k_major + k_minor, replace=False)
        ids[i, pos[:k_major]] = rng.choice(majority, size=k_major)
        ids[i, pos[k_major:]] = rng.choice(minority, size=k_minor)
        ids[i, length:] = 0  # padding
    mask = (np.arange(SEQ)[None, :] < lengths[:, None]).astype(np.int64)
    return ids.astype(np.int64), mask, labels.astype(np.int64)


def text_transformer() -> Sample:
    """A 2-layer, 4-head BERT (transformers' ``BertForSequenceClassification``, hidden 64)
    trained on synthetic 'sentiment'.

    Inputs ``input_ids`` and ``attention_mask`` (``int64[batch, sequence]``, dynamic batch and
    sequence), output ``logits: float32[batch, 2]``. ``inputs``/``labels``: 256 held-out texts.
    Exported with eager attention, the pattern onnxruntime.transformers' BERT fusions match.
    """
    model = _cached("text_transformer", 3, _build_text_transformer)
    ids, mask, labels = _sentiment_data(256, seed=1)
    return Sample("text_transformer", model, {"input_ids": ids, "attention_mask": mask}, labels,
                  "synthetic sentiment: do positive tokens outnumber negative ones (2 classes)")


def _build_text_transformer() -> onnx.ModelProto:
    torch = require("torch", purpose="Building the transformer sample")
    require("transformers", purpose="Building the transformer sample")
    from onnxkit.samples._bert import bert_classifier

    ids, mask, labels = _sentiment_data(2048, seed=0)
    torch.manual_seed(0)
    net = bert_classifier(vocab=VOCAB, max_len=64, hidden=64, heads=4, layers=2, classes=2)
    _train(net, (torch.from_numpy(ids), torch.from_numpy(mask)), torch.from_numpy(labels),
           epochs=10, lr=2e-3)
    dyn = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
           "logits": {0: "batch"}}
    example = (torch.from_numpy(ids[:2]), torch.from_numpy(mask[:2]))
    return _export(net, example, ["input_ids", "attention_mask"], ["logits"], dyn)


# --- scikit-learn pipeline ------------------------------------------------------------------

def sklearn_pipeline() -> Sample:
    """StandardScaler + LogisticRegression on the bundled breast-cancer data (~97% accurate).

    Input ``features: float32[batch, 30]``; outputs ``label: int64[batch]`` and
    ``probabilities: float32[batch, 2]``. ``inputs``/``labels``: the 143 held-out cases.
    """
    model = _cached("sklearn_pipeline", 1, lambda: _build_sklearn_pipeline()[0])
    _, x_test, _, y_test = _cancer_split()
    return Sample("sklearn_pipeline", model, {"features": x_test}, y_test,
                  "breast-cancer diagnosis from 30 measurements (2 classes)")


def _cancer_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    datasets = require("sklearn.datasets", purpose="The scikit-learn sample")
    from sklearn.model_selection import train_test_split

    x, y = datasets.load_breast_cancer(return_X_y=True)
    return train_test_split(x.astype(np.float32), y.astype(np.int64), test_size=0.25,
                            random_state=0, stratify=y)


def _build_sklearn_pipeline() -> tuple[onnx.ModelProto, Any]:
    skl2onnx = require("skl2onnx", purpose="Building the scikit-learn sample")
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x_train, _, y_train, _ = _cancer_split()
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x_train, y_train)
    proto = skl2onnx.to_onnx(
        pipe, x_train[:1], options={"zipmap": False}, target_opset={"": 17, "ai.onnx.ml": 3},
        initial_types=[("features", skl2onnx.common.data_types.FloatTensorType([None, 30]))],
        final_types=[("label", skl2onnx.common.data_types.Int64TensorType([None])),
                     ("probabilities", skl2onnx.common.data_types.FloatTensorType([None, 2]))],
    )
    proto.graph.name = "sklearn_pipeline"
    return proto, pipe
