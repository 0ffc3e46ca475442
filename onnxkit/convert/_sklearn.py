"""``from_sklearn``: skl2onnx, verified against ``predict`` / ``predict_proba``.

Arrays become one input ``X`` (floats as float32); a pandas DataFrame becomes one input per
column, each with its column's type, as a ``ColumnTransformer`` that selects columns by name
needs. A conversion that fails its check leaves no file behind.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from onnxkit.base import elem_type_name, numpy_dtype, require
from onnxkit.bench import compare
from onnxkit.convert._conversion import ATOL, RTOL, Conversion, call_code, captured, root_cause
from onnxkit.errors import ConversionError, InputError, ParameterError
from onnxkit.models import Model, Step, workspace

DEFAULT_OPSET = {"": 17, "ai.onnx.ml": 3}  # what the installed onnxruntime runs everywhere


def from_sklearn(estimator: Any, sample: Any, *, options: dict[str, Any] | None = None,
                 initial_types: list[tuple[str, Any]] | None = None, opset: int | None = None,
                 name: str | None = None, out: str | os.PathLike[str] | None = None,
                 rtol: float = RTOL, atol: float = ATOL) -> Conversion:
    """Convert a fitted scikit-learn estimator or pipeline with skl2onnx.

    Args:
        sample: a few rows of input, used for the input types and for verification: a numpy
            array (one input ``X``; floats are converted as float32) or a pandas DataFrame
            (one input per column, named after it: numbers as float32 or int64, text as
            strings), which a ``ColumnTransformer`` selecting columns by name needs.
        options: skl2onnx options; classifiers default to ``{"zipmap": False}`` so the
            probabilities come out as a tensor rather than a list of dicts.
        initial_types: skl2onnx's input types, to override what the sample implies, e.g.
            ``[("X", FloatTensorType([None, 4]))]``.
        opset: the ai.onnx opset (default 17, with ai.onnx.ml 3).

    The converted model's outputs are checked against ``predict`` (labels or values) and, for
    classifiers, ``predict_proba``, which are given the rows ONNX Runtime is given (floats
    rounded to float32) in the float type the estimator was fitted on (float64 unless its
    fitted arrays are float32).
    """
    require("skl2onnx", purpose="Converting scikit-learn models")
    _check_fitted(estimator)
    feeds, types = _inputs(sample)
    with captured() as log:
        proto = _convert(estimator, initial_types or types, options, opset)
    params = {"options": options, "opset": opset}
    model = workspace().save(proto, stem=name or type(estimator).__name__.lower(), out=out,
                             step=Step("convert.from_sklearn", params,
                                       details={"estimator": _describe(estimator)}))
    try:
        expected = _expected(estimator, _reference_rows(sample, feeds, _fitted_dtype(estimator)),
                             model)
        verification = compare(expected, model, _feeds_for(model, feeds), rtol=rtol, atol=atol)
    except Exception:
        workspace().discard(model)  # nothing is left behind by a conversion that failed
        raise
    code = call_code("from_sklearn", "estimator", "sample",
                     **{k: v for k, v in params.items() if v is not None})
    return Conversion(model, verification, "skl2onnx", log.seconds, code, None, None,
                      log.unique())


def _check_fitted(estimator: Any) -> None:
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


def _inputs(sample: Any) -> tuple[dict[str, np.ndarray], list[tuple[str, Any]]]:
    """The feeds the sample gives, by input name, and their skl2onnx types."""
    from skl2onnx.common.data_types import FloatTensorType, Int64TensorType, StringTensorType

    if _is_frame(sample):
        if not len(sample):
            raise InputError("from_sklearn(sample=...) is an empty DataFrame; give a few rows.")
        feeds = {str(c): _column(sample[c]) for c in sample.columns}
    else:
        feeds = {"X": _as_float_rows(sample)}
    kinds = {"f": FloatTensorType, "i": Int64TensorType, "O": StringTensorType}
    types = [(k, kinds[v.dtype.kind if v.dtype.kind in "fi" else "O"]([None, v.shape[1]]))
             for k, v in feeds.items()]
    return feeds, types


def _is_frame(sample: Any) -> bool:
    return hasattr(sample, "columns") and hasattr(sample, "dtypes")  # a pandas DataFrame


def _column(values: Any) -> np.ndarray:
    array = np.asarray(values).reshape(-1, 1)
    if array.dtype.kind == "f":
        return array.astype(np.float32)
    if array.dtype.kind in "iub":
        return array.astype(np.int64)
    return array.astype(str).astype(object)  # categories, text: ONNX strings


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


def _convert(estimator: Any, types: list[tuple[str, Any]], options: dict[str, Any] | None,
             opset: int | None) -> Any:
    import skl2onnx
    from sklearn.base import is_classifier

    opts = {**({"zipmap": False} if is_classifier(estimator) else {}), **(options or {})}
    target = {"": opset, "ai.onnx.ml": 3} if opset else DEFAULT_OPSET
    try:
        return skl2onnx.to_onnx(estimator, initial_types=types, options=opts or None,
                                target_opset=target)
    except Exception as e:
        raise ConversionError(_failure(estimator, e)) from e


def _failure(estimator: Any, error: Exception) -> str:
    """Whose fault a failed conversion is: a step skl2onnx has no converter for, or
    skl2onnx failing on a step it claims to convert."""
    import skl2onnx
    import sklearn

    supported = set(skl2onnx.supported_converters(from_sklearn=True))
    steps = [type(s).__name__ for s in _steps(estimator)]
    missing = [s for s in steps if s not in supported]
    if missing:
        return (f"skl2onnx has no converter for {', '.join(dict.fromkeys(missing))} (in "
                f"{_describe(estimator)}): {root_cause(error)}. Replace that step, or register "
                "a converter for it with skl2onnx.update_registered_converter.")
    versions = f"skl2onnx {skl2onnx.__version__}, scikit-learn {sklearn.__version__}"
    return (f"skl2onnx failed inside its own converter for {_describe(estimator)} "
            f"({versions}): {root_cause(error)}. "
            "skl2onnx lists every step as supported, so this is a skl2onnx bug or version "
            "mismatch, not your model: try other skl2onnx/scikit-learn versions, or an "
            "equivalent estimator (e.g. GradientBoostingClassifier for HistGradientBoosting).")


def _steps(estimator: Any) -> list[Any]:
    """The estimator and, inside pipelines and column transformers, every step."""
    found = [estimator]
    for _, step in getattr(estimator, "steps", []):
        found += _steps(step)
    for _, step, _ in getattr(estimator, "transformers_", getattr(estimator, "transformers", [])):
        if not isinstance(step, str):  # "drop" / "passthrough"
            found += _steps(step)
    return found


def _describe(estimator: Any) -> str:
    steps = getattr(estimator, "steps", None)
    if steps:
        return "Pipeline(" + ", ".join(type(s).__name__ for _, s in steps) + ")"
    return type(estimator).__name__


def _feeds_for(model: Model, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The feeds by the graph's input names: skl2onnx keeps the order of the inputs it was
    given but may rename them (a column 'a/b' becomes input 'a_b')."""
    names = [i.name for i in model.proto.graph.input]
    if len(names) == len(feeds):
        return dict(zip(names, feeds.values()))
    return {k: v for k, v in feeds.items() if k in names}


def _fitted_dtype(estimator: Any) -> np.dtype:
    """The float type an estimator was fitted on: float32 when any fitted array in it (or in
    its steps) is float32, else scikit-learn's default float64.

    Estimators that keep float32 (KMeans, PCA, KNeighbors, linear models, ...) show it in
    their fitted arrays, and those with typed kernels (KMeans) refuse the other type at
    ``predict``; the rest compute in float64 (or their own type, as trees do) whatever
    they are fed, so float64 is safe for them even when they were fitted on float32.
    """
    return np.dtype(np.float32 if _holds_float32(estimator, set()) else np.float64)


def _holds_float32(obj: Any, seen: set[int]) -> bool:
    if id(obj) in seen:
        return False
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        return obj.dtype == np.float32 or (obj.dtype == object and _holds_any(obj.flat, seen))
    if isinstance(obj, (list, tuple)):
        return _holds_any(obj, seen)
    if isinstance(obj, dict):
        return _holds_any(obj.values(), seen)
    if hasattr(obj, "get_params"):  # an estimator: its steps, fitted arrays, sub-estimators
        return _holds_any(vars(obj).values(), seen)
    return False


def _holds_any(items: Any, seen: set[int]) -> bool:
    return any(_holds_float32(item, seen) for item in items)


def _reference_rows(sample: Any, feeds: dict[str, np.ndarray], dtype: np.dtype) -> Any:
    """The rows the ONNX model is fed (floats rounded to float32), in the float type the
    estimator was fitted on: both sides then see the same values, and scikit-learn gets
    the type its fitted arrays need."""
    if not _is_frame(sample):
        rows = feeds["X"]
        return rows.astype(dtype) if rows.dtype.kind == "f" else np.asarray(sample)
    floats = [c for c in sample.columns if sample[c].dtype.kind == "f"]
    return sample.astype({c: np.float32 for c in floats}).astype({c: dtype for c in floats})


def _expected(estimator: Any, sample: Any, model: Model) -> dict[str, np.ndarray]:
    """What scikit-learn itself says on the sample, shaped like the ONNX outputs."""
    from sklearn.base import is_classifier

    names = [o.name for o in model.proto.graph.output]
    expected = {names[0]: np.asarray(estimator.predict(sample))}
    if is_classifier(estimator) and len(names) > 1 and hasattr(estimator, "predict_proba"):
        expected[names[1]] = np.asarray(estimator.predict_proba(sample), np.float32)
    elif len(names) > 1 and hasattr(estimator, "transform") and not hasattr(estimator, "steps"):
        expected[names[1]] = np.asarray(estimator.transform(sample), np.float32)  # distances
    outputs = {o.name: o for o in model.proto.graph.output}
    for name, value in expected.items():
        if outputs[name].type.WhichOneof("value") != "tensor_type":
            continue  # zipmap's list of {class: probability} dicts
        dims = outputs[name].type.tensor_type.shape.dim
        if len(dims) == 2 and value.ndim == 1:  # regressors come out as [n, 1]
            value = expected[name] = value.reshape(-1, 1)
        onnx_type = numpy_dtype(elem_type_name(outputs[name].type.tensor_type.elem_type))
        if value.dtype.kind in "iu" and onnx_type.kind in "iu":  # int32 labels, int64 in ONNX
            expected[name] = value.astype(onnx_type)
    first = expected[names[0]]
    if np.issubdtype(first.dtype, np.floating):
        expected[names[0]] = first.astype(np.float32)
    return expected
