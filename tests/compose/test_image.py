"""Image preprocessing in the graph: raw uint8 images in, each step checked against PIL and
numpy (within PIXEL_ATOL grey levels), the whole model against the bare one."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import onnxkit
from onnxkit.compose import PIXEL_ATOL, ImagePrep, with_preprocessing
from onnxkit.errors import ParameterError

pytest.importorskip("PIL")


@pytest.fixture(scope="module")
def rgb_net() -> onnxkit.Model:
    """A 1x1 conv over NCHW RGB of any size: every pixel's value reaches the output."""
    w = np.random.default_rng(0).standard_normal((2, 3, 1, 1)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["pixel_values", "w"], ["features"])], "rgb",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT,
                                       ["batch", 3, "h", "w"])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, None)],
        [onnx.numpy_helper.from_array(w, "w")])
    return onnxkit.load(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                                          ir_version=8))


PREPS = [
    ImagePrep(resize=(8, 8)),  # a shrink by 4 to 7 times: antialiasing matters
    ImagePrep(resize=(8, 8), antialias=False),
    ImagePrep(resize=16, crop=12, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)),
    ImagePrep(letterbox=(20, 24)),
    ImagePrep(resize=(64, 80)),  # a stretch up
    ImagePrep(resize=(10, 12), layout="nchw"),
    ImagePrep(letterbox=16, layout="nhwc"),
]


@pytest.mark.parametrize("prep", PREPS, ids=lambda p: ", ".join(p.steps()[:-1]))
def test_graph_equals_pil_and_numpy(rgb_net, prep):
    model = with_preprocessing(rgb_net, image=prep)
    check = model.lineage[-1].details["verification"]
    assert check["passed"], check
    assert check["pixels"]["max_grey_levels"] <= PIXEL_ATOL
    assert check["model"]["max_abs"] <= 1e-5
    raw = onnxkit.summarize(model).inputs[0]
    assert raw.dtype == "uint8" and len(raw.shape) == (3 if prep.layout == "hwc" else 4)


def test_letterbox_row_maps_back_to_the_image(rgb_net):
    model = with_preprocessing(rgb_net, image=ImagePrep(letterbox=32))
    image = np.zeros((30, 60, 3), np.uint8)
    row = onnxkit.run(model, {"image": image})["letterbox"]
    # 30x60 into 32x32: scale 32/60, 16x32 high, 8 rows of padding above
    np.testing.assert_allclose(row, [16 / 30, 32 / 60, 8, 0, 30, 60])


def test_channels_last_model_and_float16(rgb_net):
    nhwc = onnxkit.load(helper.make_model(helper.make_graph(
        [helper.make_node("ReduceMean", ["x"], ["m"], keepdims=0)], "nhwc",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT16, [1, 8, 8, 3])],
        [helper.make_tensor_value_info("m", TensorProto.FLOAT16, [])]),
        opset_imports=[helper.make_opsetid("", 17)], ir_version=8))
    model = with_preprocessing(nhwc, image=ImagePrep(resize=(8, 8)))
    assert model.lineage[-1].details["verification"]["passed"]


def test_bad_preparations_say_what_to_change(digits):
    with pytest.raises(ParameterError, match="letterbox"):
        ImagePrep(letterbox=8, crop=4)
    with pytest.raises(ParameterError, match="layout"):
        ImagePrep(layout="chw")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="8x8|12x12"):
        with_preprocessing(digits.model, image=ImagePrep(resize=(12, 12)))
    with pytest.raises(ParameterError, match="crop"):
        with_preprocessing(digits.model, image=ImagePrep(resize=12))
    with pytest.raises(ParameterError, match="per channel"):
        with_preprocessing(digits.model, image=ImagePrep(resize=(8, 8), mean=(0.1, 0.2)))
    with pytest.raises(ParameterError, match="one of"):
        with_preprocessing(digits.model)
