"""from_sklearn: classifiers, regressors and pipelines, verified against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest

from onnxkit.convert import ConversionError, from_sklearn
from onnxkit.errors import InputError, ParameterError

sklearn = pytest.importorskip("sklearn")
from sklearn.datasets import load_diabetes, load_iris  # noqa: E402
from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402


@pytest.fixture(scope="module")
def iris():
    return load_iris(return_X_y=True)


def test_pipeline_classifier_labels_and_probabilities(iris):
    x, y = iris
    pipe = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=10,
                                                                 random_state=0)).fit(x, y)
    conversion = from_sklearn(pipe, x[:30])
    assert conversion, repr(conversion)
    names = [o.name for o in conversion.verification.outputs]
    assert names == ["label", "probabilities"]
    assert conversion.model.lineage[-1].details["estimator"] == \
        "Pipeline(StandardScaler, RandomForestClassifier)"


def test_regressor():
    x, y = load_diabetes(return_X_y=True)
    conversion = from_sklearn(GradientBoostingRegressor(n_estimators=20, random_state=0)
                              .fit(x, y), x[:30])
    assert conversion and conversion.verification.outputs[0].max_abs < 1e-3


def test_zipmap_option_can_be_turned_back_on(iris):
    x, y = iris
    model = LogisticRegression(max_iter=500).fit(x, y)
    conversion = from_sklearn(model, x[:5], options={"zipmap": True})
    assert conversion.model.proto.graph.output[1].type.WhichOneof("value") == "sequence_type"


def test_bad_estimators(iris):
    x, y = iris
    with pytest.raises(ParameterError, match="not fitted"):
        from_sklearn(LogisticRegression(), x[:5])
    from sklearn.semi_supervised import LabelSpreading

    with pytest.raises(ConversionError, match="LabelSpreading"):
        from_sklearn(LabelSpreading().fit(x, y), x[:5])
    with pytest.raises(ParameterError, match="estimator"):
        from_sklearn(object(), x[:5])
    with pytest.raises(InputError, match="2-D"):
        from_sklearn(LogisticRegression(max_iter=500).fit(x, y), x[0])


def test_float64_sample_becomes_float32(iris):
    x, y = iris
    conversion = from_sklearn(LogisticRegression(max_iter=500).fit(x, y), x[:10])
    assert conversion.model.proto.graph.input[0].type.tensor_type.elem_type == 1
    assert np.issubdtype(x.dtype, np.float64)
