"""Bundles whose graph takes raw images, for their tests: a colour classifier (the mean of
each RGB channel, labels red/green/blue) with ``with_preprocessing(image=ImagePrep(...))`` and
without, and JPEG/PNG files that Pillow makes. Tests import the fixtures by name."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import onnxkit

COLOURS = {"red": (220, 30, 40), "green": (20, 200, 50), "blue": (30, 40, 210)}


def colour_net() -> onnxkit.Model:
    """NCHW float RGB in, the mean of each channel out: its argmax is the dominant colour."""
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["pixel_values", "axes"], ["logits"], keepdims=0)],
        "colours",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch", 3, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])],
        [onnx.numpy_helper.from_array(np.array([2, 3], np.int64), "axes")])
    return onnxkit.load(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)],
                                          ir_version=8))


def picture(colour: str, size: tuple[int, int] = (30, 20)) -> np.ndarray:
    """A noisy image of one dominant colour, [height, width, 3] uint8."""
    noise = np.random.default_rng(len(colour)).integers(-15, 16, (size[1], size[0], 3))
    return np.clip(np.array(COLOURS[colour]) + noise, 0, 255).astype(np.uint8)


def encoded(pixels: np.ndarray, fmt: str, mode: str | None = None) -> bytes:
    from PIL import Image

    image = Image.fromarray(pixels)
    if mode is not None:
        image = image.convert(mode)
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


@pytest.fixture(scope="session")
def image_bundles(tmp_path_factory) -> dict[str, onnxkit.deploy.Bundle]:
    """The colour classifier bundled twice: one HWC image, and a batch in NCHW."""
    pytest.importorskip("PIL")  # the preprocessing's check compares with PIL
    from onnxkit.compose import ImagePrep, with_preprocessing

    folder, net = tmp_path_factory.mktemp("image-bundles"), colour_net()
    bundles = {}
    for layout in ("hwc", "nchw"):
        model = with_preprocessing(net, image=ImagePrep(resize=(8, 8), layout=layout))
        bundles[layout] = onnxkit.deploy.bundle(model, folder / layout, labels=list(COLOURS))
    return bundles


@pytest.fixture(scope="session")
def plain_bundle(tmp_path_factory) -> onnxkit.deploy.Bundle:
    """The colour classifier without preprocessing: it takes float NCHW tensors."""
    return onnxkit.deploy.bundle(colour_net(), tmp_path_factory.mktemp("plain") / "b")


@pytest.fixture(scope="session")
def image_bundle_python(image_bundles) -> Path:
    """``.venv-bundle-images/bin/python``: an image bundle's requirements.txt (Pillow too)."""
    from bundle_venv import ROOT, venv_python

    reqs = (image_bundles["hwc"].path / "requirements.txt").read_text()
    return venv_python(reqs, ROOT / ".venv-bundle-images")
