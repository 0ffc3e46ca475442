"""from_keras / from_tensorflow: Keras 3 models and tf.functions through tf2onnx."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import onnxkit
from onnxkit.convert import ConversionError, from_keras, from_tensorflow
from onnxkit.errors import MissingDependencyError, ParameterError

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")


@pytest.fixture(scope="module")
def cnn():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((8, 8, 1), name="image"),
                             keras.layers.Conv2D(4, 3, activation="relu"),
                             keras.layers.BatchNormalization(), keras.layers.Flatten(),
                             keras.layers.Dropout(0.3), keras.layers.Dense(10)], name="kcnn")


def test_sequential_keras_model(cnn):
    x = np.random.default_rng(0).random((3, 8, 8, 1), np.float32)
    conversion = from_keras(cnn, x, output_names=["logits"])
    assert conversion, repr(conversion)
    summary = onnxkit.summarize(conversion.model)
    assert summary.outputs[0].name == "logits" and summary.outputs[0].shape[1] == 10
    assert summary.inputs[0].shape[1:] == (8, 8, 1)
    assert conversion.exporter == "tf2onnx"


def test_functional_model_with_two_inputs():
    a, b = keras.Input((4,), name="a"), keras.Input((3,), name="b")
    merged = keras.layers.Concatenate()([keras.layers.Dense(5)(a), b])
    model = keras.Model([a, b], keras.layers.Dense(2)(merged), name="two_inputs")
    conversion = from_keras(model)  # random inputs
    assert conversion
    assert [i.name for i in conversion.model.proto.graph.input] == ["a", "b"]


def test_tf_function_and_saved_model(tmp_path, cnn):
    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
    def affine(x):
        return tf.nn.relu(x * 2.0 + 1.0)

    conversion = from_tensorflow(affine, np.array([[-1.0, 0.0, 1.0]], np.float32))
    assert conversion and conversion.model.name == "affine"
    saved = tmp_path / "saved"
    module = tf.Module()
    module.f = affine
    tf.saved_model.save(module, str(saved), signatures=affine)
    assert from_tensorflow(saved)


def test_bad_sources(tmp_path):
    with pytest.raises(ParameterError, match="keras.Model"):
        from_keras(object())
    with pytest.raises(ParameterError, match=r"input_signature=...\) is needed"):
        from_tensorflow(lambda x: x)
    with pytest.raises(ConversionError, match="SavedModel"):
        from_tensorflow(tmp_path / "nothing-here")


def test_missing_tensorflow_names_the_extra(monkeypatch, cnn):
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # as if it were not installed
    with pytest.raises(MissingDependencyError, match=r"onnxkit\[tensorflow\]"):
        from_keras(cnn)


def test_a_tf_function_with_unnamed_tensor_specs():
    """The usual way to write one: input_signature=[tf.TensorSpec([None, 4], tf.float32)]."""
    tf = pytest.importorskip("tensorflow")

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
    def double_relu(x):
        return tf.nn.relu(x) * 2.0

    conversion = from_tensorflow(double_relu)
    assert conversion and [i.name for i in conversion.model.proto.graph.input] == ["input_0"]


def _graph_input_names(conversion):
    return [i.name for i in onnxkit.summarize(conversion.model).inputs]


@pytest.mark.parametrize("captures", ["constant", "variable", "both"])
def test_captured_constants_and_variables_are_frozen_into_the_model(captures):
    """tf2onnx's from_function made a captured tf.constant an input ('MatMul/b:0') that
    onnxkit.run then asked for; the model's inputs are the signature's, nothing else."""
    rng = np.random.default_rng(0)
    w = tf.constant(rng.random((4, 3), np.float32))
    v = tf.Variable(rng.random((4, 3), np.float32))
    body = {"constant": lambda x: tf.nn.relu(tf.matmul(x, w)),
            "variable": lambda x: tf.nn.relu(tf.matmul(x, v)),
            "both": lambda x: tf.matmul(x, v) + w[0]}[captures]
    f = tf.function(body, input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
    x = rng.standard_normal((5, 4)).astype(np.float32)
    conversion = from_tensorflow(f, x)
    assert conversion, repr(conversion)
    assert _graph_input_names(conversion) == ["x"]
    (out,) = onnxkit.run(conversion.model, {"x": x}).values()
    np.testing.assert_allclose(out, f(x).numpy(), rtol=1e-5, atol=1e-6)


def test_keras_model_inputs_are_its_signature(cnn):
    conversion = from_keras(cnn)
    assert conversion and _graph_input_names(conversion) == ["image"]


def test_a_model_with_inputs_beyond_the_signature_is_refused(monkeypatch, tmp_path):
    """Whatever tf2onnx makes, a model that needs more than the signature's inputs is never
    handed back: here tf2onnx's own from_function, which keeps the capture as an input."""
    import tf2onnx

    from onnxkit.convert import _tensorflow

    def raw(fn, specs, opset):
        return tf2onnx.convert.from_function(fn, input_signature=specs, opset=opset)[0]

    monkeypatch.setattr(_tensorflow, "_frozen_onnx", raw)
    w = tf.constant(np.ones((4, 3), np.float32))
    f = tf.function(lambda x: tf.matmul(x, w),
                    input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
    with pytest.raises(ConversionError, match=r"from_tensorflow: .*inputs \['x', 'MatMul/b:0'\]"):
        from_tensorflow(f, out=tmp_path / "f.onnx")
    assert not list(tmp_path.iterdir())
