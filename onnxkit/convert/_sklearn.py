"""``from_sklearn``: skl2onnx, verified against ``predict`` / ``predict_proba``."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from onnxkit.base import require
from onnxkit.convert._conversion import ATOL, RTOL, Conversion, call_code, captured, root_cause
from onnxkit.errors import ConversionError, InputError, ParameterError
from onnxkit.models import Step, workspace
from onnxkit.runtime import compare

DEFAULT_OPSET = {"": 17, "ai.onnx.ml": 3}  # what the installed onnxruntime runs everywhere


def from_sklearn(estimator: Any, sample: Any, *, options: dict[str, Any] | None = None,
                 opset: int | None = None, name: str | None = None,
                 out: str | os.PathLike[str] | None = None, rtol: float = RTOL,
                 atol: float = ATOL) -> Conversion:
    """Convert a fitted scikit-learn estimator or pipeline with skl2onnx.

    Args:
        sample: a few rows of input (numpy array; floats are converted as float32), used for
            the input type and for verification.
        options: skl2onnx options; classifiers default to ``{"zipmap": False}`` so the
            probabilities come out as a tensor rather than a list of dicts.
        opset: the ai.onnx opset (default 17, with ai.onnx.ml 3).

    The converted model's outputs are checked against ``predict`` (labels or values) and, for
    classifiers, ``predict_proba``.
    """
    require("skl2onnx", purpose="Converting scikit-learn models")
    import skl2onnx
    from sklearn.base import is_classifier
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    if not hasattr(estimator, "fit") or not hasattr(estimator, "predict"):
        raise ParameterError(f"from_sklearn(estimator=...) must be a fitted scikit-learn "
                             f"estimator or pipeline; got {type(estimator).__name__}.")
    try:
        check_is_fitted(estimator)
    except NotFittedError as e:
        raise ParameterError(f"from_sklearn: this {type(estimator).__name__} is not fitted; call "
                             ".fit(X, y) first.") from e
    x = _as_float_rows(sample)
    classifier = is_classifier(estimator)
    opts = {**({"zipmap": False} if classifier else {}), **(options or {})}
    target = {"": opset, "ai.onnx.ml": 3} if opset else DEFAULT_OPSET
    with captured() as log:
        try:
            proto = skl2onnx.to_onnx(estimator, x, options=opts or None, target_opset=target)
        except Exception as e:
            raise ConversionError(
                f"skl2onnx cannot convert {_describe(estimator)}: {root_cause(e)}. Check that "
                "every step is supported (skl2onnx's list of supported models) or register a "
                "converter for it.") from e
    stem = name or type(estimator).__name__.lower()
    params = {"options": options, "opset": opset}
    model = workspace().save(proto, stem=stem, out=out,
                             step=Step("convert.from_sklearn", params,
                                       details={"estimator": _describe(estimator)}))
    feeds = {model.proto.graph.input[0].name: x}
    verification = compare(_expected(estimator, x, model, classifier), model, feeds, rtol=rtol,
                           atol=atol)
    code = call_code("from_sklearn", "estimator", "sample",
                     **{k: v for k, v in params.items() if v is not None})
    return Conversion(model, verification, "skl2onnx", log.seconds, code, None, None,
                      log.unique())


def _as_float_rows(sample: Any) -> np.ndarray:
    try:
        x = np.asarray(sample)
    except Exception as e:
        raise InputError(f"from_sklearn(sample=...) must be array-like rows; got "
                         f"{type(sample).__name__}.") from e
    if x.ndim != 2 or not len(x):
        raise InputError(f"from_sklearn(sample=...) must be a 2-D array of rows (samples x "
                         f"features); got shape {x.shape}.")
    return x.astype(np.float32) if np.issubdtype(x.dtype, np.floating) else x


def _describe(estimator: Any) -> str:
    steps = getattr(estimator, "steps", None)
    if steps:
        return "Pipeline(" + ", ".join(type(s).__name__ for _, s in steps) + ")"
    return type(estimator).__name__


def _expected(estimator: Any, x: np.ndarray, model: Any, classifier: bool
              ) -> dict[str, np.ndarray]:
    names = [o.name for o in model.proto.graph.output]
    predicted = np.asarray(estimator.predict(x))
    expected = {names[0]: predicted}
    if classifier and len(names) > 1 and hasattr(estimator, "predict_proba"):
        expected[names[1]] = np.asarray(estimator.predict_proba(x), np.float32)
    shapes = {o.name: o for o in model.proto.graph.output}
    for name, value in expected.items():  # regressors come out as [n, 1]
        dims = shapes[name].type.tensor_type.shape.dim
        if len(dims) == 2 and value.ndim == 1:
            expected[name] = value.reshape(-1, 1)
    first = expected[names[0]]
    if np.issubdtype(first.dtype, np.floating):
        expected[names[0]] = first.astype(np.float32)
    return expected
