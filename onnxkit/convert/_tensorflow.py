"""``from_keras`` and ``from_tensorflow``: a ``tf.function`` frozen and converted by tf2onnx
(Keras 3 safe); the model's inputs are the function's input signature, nothing else."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx

from onnxkit.base import graph_inputs, require
from onnxkit.bench import compare
from onnxkit.convert._conversion import ATOL, RTOL, Conversion, call_code, captured, root_cause
from onnxkit.errors import ConversionError, InputError, ParameterError
from onnxkit.models import Step, workspace
from onnxkit.runtime import random_inputs, validate_feeds

DEFAULT_OPSET = 17


def tensorflow_modules() -> tuple[Any, Any]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ banner noise
    tf = require("tensorflow", purpose="Converting TensorFlow/Keras models")
    tf2onnx = require("tf2onnx", purpose="Converting TensorFlow/Keras models")
    return tf, tf2onnx


def from_keras(model: Any, example_inputs: Any = None, *, opset: int | None = None,
               output_names: Sequence[str] | None = None,
               out: str | os.PathLike[str] | None = None, rtol: float = RTOL,
               atol: float = ATOL) -> Conversion:
    """Convert a Keras 3 model through a ``tf.function``.

    ``tf2onnx.convert.from_keras`` converts Keras 3 functional models but fails on Sequential
    ones (KeyError 'keras_tensor_N' with tf2onnx 1.17 and Keras 3.15), so the model is wrapped
    in a ``tf.function`` whose input signature comes from ``model.inputs`` (batch dims stay
    dynamic) and converted the way ``from_function`` does, which works for both. The result is
    checked against ``model(x, training=False)`` on ``example_inputs`` (an array, a list of
    arrays in input order, or a dict by input name; default: random inputs).
    """
    tf, _ = tensorflow_modules()
    import keras

    if not isinstance(model, keras.Model):
        raise ParameterError(f"from_keras(model=...) must be a keras.Model; got "
                             f"{type(model).__name__}.")
    specs = [tf.TensorSpec(t.shape, t.dtype, name=_clean(t.name, i))
             for i, t in enumerate(model.inputs)]
    single = len(specs) == 1

    def call(*xs: Any) -> Any:
        return model(xs[0] if single else list(xs), training=False)

    fn = tf.function(call, input_signature=specs, autograph=False)
    names = list(output_names) if output_names else list(getattr(model, "output_names", []))
    conversion = _convert(fn, specs, opset, names, out, "keras_model" if not model.name
                          else model.name, "convert.from_keras", rtol, atol,
                          lambda feeds: _run_keras(model, feeds, [s.name for s in specs]),
                          example_inputs)
    return conversion


def from_tensorflow(fn_or_saved_model: Any, example_inputs: Any = None, *,
                    input_signature: Sequence[Any] | None = None, opset: int | None = None,
                    output_names: Sequence[str] | None = None,
                    out: str | os.PathLike[str] | None = None, rtol: float = RTOL,
                    atol: float = ATOL) -> Conversion:
    """Convert a ``tf.function`` (with an input signature) or a SavedModel folder.

    For a SavedModel, its ``serving_default`` signature is converted.
    """
    tf, _ = tensorflow_modules()
    if isinstance(fn_or_saved_model, (str, os.PathLike)):
        fn, specs, stem = _saved_model_function(tf, fn_or_saved_model)
    else:
        specs = list(input_signature or getattr(fn_or_saved_model, "input_signature", None)
                     or [])
        if not specs:
            raise ParameterError("from_tensorflow(input_signature=...) is needed: decorate the "
                                 "function with @tf.function(input_signature=[tf.TensorSpec("
                                 "...)]) or pass input_signature=[...].")
        fn, specs = _named_signature(tf, fn_or_saved_model, specs)
        stem = getattr(fn_or_saved_model, "__name__", "tf_function")
    names = [s.name for s in specs]

    def reference(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        result = fn(*[tf.constant(feeds[n]) for n in names])
        return _flatten(result)

    return _convert(fn, specs, opset, list(output_names or []), out, stem,
                    "convert.from_tensorflow", rtol, atol, reference, example_inputs)


def _named_signature(tf: Any, fn: Any, specs: list[Any]) -> tuple[Any, list[Any]]:
    """The function with every input named (``input_<i>`` where its TensorSpec has no name,
    the usual way to write one), so the ONNX inputs carry the names the check feeds."""
    named = [tf.TensorSpec(s.shape, s.dtype, name=_clean(s.name, i))
             for i, s in enumerate(specs)]
    original = fn.python_function if hasattr(fn, "python_function") else fn
    return tf.function(original, input_signature=named, autograph=False), named


def _saved_model_function(tf: Any, path: Any) -> tuple[Any, list[Any], str]:
    try:
        loaded = tf.saved_model.load(str(path))
        concrete = loaded.signatures["serving_default"]
    except Exception as e:
        raise ConversionError(f"from_tensorflow: cannot load a SavedModel with a "
                              f"'serving_default' signature from '{path}': {root_cause(e)}") from e
    _, kw_specs = concrete.structured_input_signature
    specs = [tf.TensorSpec(s.shape, s.dtype, name=k) for k, s in sorted(kw_specs.items())]
    keys = [s.name for s in specs]

    def call(*xs: Any) -> Any:
        return concrete(**dict(zip(keys, xs)))

    fn = tf.function(call, input_signature=specs, autograph=False)
    fn._onnxkit_keep = loaded  # the concrete function needs its SavedModel alive
    return fn, specs, os.path.basename(os.path.normpath(str(path))) or "saved_model"


def _convert(fn: Any, specs: list[Any], opset: int | None, output_names: list[str],
             out: Any, stem: str, op: str, rtol: float, atol: float,
             reference: Any, example_inputs: Any) -> Conversion:
    with captured() as log:
        try:
            proto = _frozen_onnx(fn, specs, opset or DEFAULT_OPSET)
        except Exception as e:
            raise ConversionError(f"tf2onnx could not convert '{stem}': {root_cause(e)}") from e
    _check_inputs(proto, specs, stem, op.split(".")[-1])
    _rename_outputs(proto, output_names)
    params = {"opset": opset, "output_names": output_names or None}
    model = workspace().save(proto, stem=stem, out=out, step=Step(op, params))
    feeds = _example_feeds(model, example_inputs)
    expected = reference(feeds)
    verification = compare(dict(zip([o.name for o in model.proto.graph.output], expected)),
                           model, feeds, rtol=rtol, atol=atol)
    fn_name = op.split(".")[-1]
    code = call_code(fn_name, "model", *(["example_inputs"] if example_inputs is not None
                                         else []), **{k: v for k, v in params.items() if v})
    return Conversion(model, verification, "tf2onnx", log.seconds, code, None, None,
                      log.unique())


def _frozen_onnx(fn: Any, specs: list[Any], opset: int) -> onnx.ModelProto:
    """tf2onnx's ``from_function``, with only the signature's tensors as inputs.

    ``from_function`` lists every input of the concrete function, and that includes the
    tensors it captures (a ``tf.constant`` built outside becomes ``MatMul/b:0``): they come
    out as graph inputs nobody can feed. Freezing already turns captured constants and
    variables into constants, so the graph is frozen the same way and converted with the
    signature's tensors (the concrete function's first inputs, captures come after) only.
    """
    tf, tf2onnx = tensorflow_modules()
    concrete = fn.get_concrete_function(*specs)
    inputs = [t.name for t in concrete.inputs[:len(specs)]]
    outputs = [t.name for t in concrete.outputs if t.dtype != tf.dtypes.resource]
    renames = tf2onnx.convert.tensor_names_from_structed(concrete, inputs, outputs)
    with tf.device("/cpu:0"):  # as from_function does
        graph_def = tf2onnx.tf_loader.from_function(concrete, inputs, outputs)
        proto, _ = tf2onnx.convert.from_graph_def(graph_def, name=concrete.name,
                                                  input_names=inputs, output_names=outputs,
                                                  opset=opset, tensors_to_rename=renames)
    return proto


def _check_inputs(proto: onnx.ModelProto, specs: list[Any], stem: str, caller: str) -> None:
    """A model whose inputs are not the function's cannot be run as the function is."""
    expected = [s.name for s in specs]
    found = [i.name for i in graph_inputs(proto.graph)]
    if found != expected:
        raise ConversionError(
            f"{caller}: tf2onnx converted '{stem}' to a model with inputs {found}, but "
            f"the function's input signature is {expected}, so it could not be run as the "
            "function is. Capture only tf.constant or tf.Variable values (they are frozen into "
            "the model), and pass any other tensor as an input of the signature.")


def _clean(name: str, index: int) -> str:
    return (name or f"input_{index}").split(":")[0]


def _rename_outputs(proto: onnx.ModelProto, names: list[str]) -> None:
    """tf2onnx names outputs after TF tensors (``Identity:0``); give them the model's names."""
    olds = [o.name for o in proto.graph.output]
    news = names[:len(olds)] + [f"output_{i}" for i in range(len(names), len(olds))]
    mapping = {old: new for old, new in zip(olds, news) if old != new}
    for node in proto.graph.node:
        node.output[:] = [mapping.get(n, n) for n in node.output]
        node.input[:] = [mapping.get(n, n) for n in node.input]
    for o in proto.graph.output:
        o.name = mapping.get(o.name, o.name)


def _example_feeds(model: Any, example_inputs: Any) -> dict[str, np.ndarray]:
    inputs = graph_inputs(model.proto.graph)
    if example_inputs is None:
        return random_inputs(model, batch=2)
    if isinstance(example_inputs, (list, tuple)):
        if len(example_inputs) != len(inputs):
            raise InputError(f"example_inputs has {len(example_inputs)} arrays for "
                             f"{len(inputs)} inputs ({[i.name for i in inputs]}).")
        example_inputs = dict(zip([i.name for i in inputs], example_inputs))
    return validate_feeds(inputs, example_inputs)


def _run_keras(model: Any, feeds: dict[str, np.ndarray], names: list[str]) -> list[np.ndarray]:
    xs = [feeds[n] for n in names]
    return _flatten(model(xs[0] if len(xs) == 1 else xs, training=False))


def _flatten(result: Any) -> list[np.ndarray]:
    if isinstance(result, dict):
        result = [result[k] for k in sorted(result)]
    items = result if isinstance(result, (list, tuple)) else [result]
    return [np.asarray(x) for x in items]
