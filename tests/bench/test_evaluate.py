"""onnxkit.evaluate in this process: arrays, streams of batches, metrics, a reference, and bad
input. (The same calls on a Ray cluster: tests/cluster.)"""

from __future__ import annotations

import numpy as np
import pytest

import onnxkit
from onnxkit.errors import Cancelled, InputError, ParameterError


def _pairs(images, labels, size):
    for start in range(0, len(images), size):
        yield {"image": images[start:start + size]}, labels[start:start + size]


def test_arrays_and_a_stream_of_labelled_batches_give_the_same_figures(digits):
    images, labels = digits.inputs["image"], digits.labels
    arrays = onnxkit.evaluate(digits.model, images, labels=labels, batch=100)
    streamed = onnxkit.evaluate(digits.model, _pairs(images, labels, 100))
    expected = np.mean(onnxkit.run(digits.model, images)["logits"].argmax(1) == labels)
    assert (arrays.rows, arrays.batches) == (len(images), 5)
    assert arrays.score == streamed.score == pytest.approx(expected)
    assert arrays.score_name == streamed.score_name == "accuracy"


def test_a_reference_gives_error_and_agreement(digits):
    images = digits.inputs["image"]
    itself = onnxkit.evaluate(digits.model, images, reference=digits.model)
    assert (itself.max_abs_err, itself.agreement, itself.score) == (0.0, 1.0, None)
    fp16 = onnxkit.evaluate(onnxkit.to_fp16(digits.model), images, reference=digits.model)
    assert 0 < fp16.max_abs_err < 0.1  # float16 rounding of logits of size ~10


def test_a_metric_is_the_row_weighted_mean_of_its_batches(digits):
    images = digits.inputs["image"][:250]

    def mean_top(outputs, labels):
        return float(outputs["logits"].max(1).mean())

    result = onnxkit.evaluate(digits.model, images, metric=mean_top, batch=100)  # 100+100+50
    top = onnxkit.run(digits.model, images)["logits"].max(1).mean()
    assert result.score_name == "metric" and result.score == pytest.approx(top, rel=1e-5)


def test_bad_input_is_refused_with_what_to_do(digits):
    images, labels = digits.inputs["image"], digits.labels
    with pytest.raises(InputError, match="one label per row"):
        onnxkit.evaluate(digits.model, images, labels=labels[:10])
    with pytest.raises(ParameterError, match="labels"):
        onnxkit.evaluate(digits.model, iter([{"image": images[:5]}]), labels=labels[:5])
    mixed = iter([({"image": images[:5]}, labels[:5]), {"image": images[5:10]}])
    with pytest.raises(InputError, match="1 of 2 batches came with labels"):
        onnxkit.evaluate(digits.model, mixed)
    with pytest.raises(InputError, match="no rows"):
        onnxkit.evaluate(digits.model, iter([]))
    with pytest.raises(ParameterError, match="metric"):
        onnxkit.evaluate(digits.model, images, metric="accuracy")
    with pytest.raises(ParameterError, match="data"):
        onnxkit.evaluate(digits.model, 3.5)


def test_progress_counts_batches_and_may_cancel(digits):
    seen = []

    def progress(done, total):
        seen.append((done, total))
        if done == 2:
            raise Cancelled("enough")

    with pytest.raises(Cancelled):
        onnxkit.evaluate(digits.model, digits.inputs["image"], batch=100, progress=progress)
    assert seen == [(1, 5), (2, 5)]
