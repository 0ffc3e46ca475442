"""The compose stage's results keep the one result contract (checked on real objects)."""

from __future__ import annotations

import pytest
from result_contract import check_result_contract

import onnxkit.compose
import onnxkit.samples
from onnxkit.results import Result


@pytest.fixture(scope="module")
def results() -> dict[str, Result]:
    sample = onnxkit.samples.detector()
    model = onnxkit.compose.with_postprocessing(
        onnxkit.compose.with_preprocessing(sample.model, image=sample.prep),
        nms=onnxkit.compose.NMS(score=0.3, max_detections=10))
    score = onnxkit.compose.evaluate_detector(model, sample.images[:8], sample.truths[:8],
                                              classes=sample.classes)
    return {"DetectionSample": sample, "DetectionScore": score}


def test_every_compose_result_class_is_covered(results):
    public = {name for name in onnxkit.compose.__all__
              if isinstance(cls := getattr(onnxkit.compose, name), type)
              and issubclass(cls, Result)}
    assert public | {"DetectionSample"} == set(results)


@pytest.mark.parametrize("name", ["DetectionSample", "DetectionScore"])
def test_compose_result_keeps_the_contract(results, name):
    check_result_contract(results[name])
