"""A bundle whose graph takes raw images: the manifest marks the image input, the
requirements pin Pillow, and predict.py takes JPEG/PNG files and bytes as well as uint8
arrays, refusing undecodable bytes, wrong channels and wrong dtypes in one clear line."""

from __future__ import annotations

import subprocess
from importlib.metadata import version

import numpy as np
import pytest
from bundle_venv import bare_env
from image_bundles import COLOURS, encoded, picture

from onnxkit.bundled import predict

pytest.importorskip("PIL")


def test_the_manifest_marks_the_image_input_and_pins_pillow(image_bundles):
    hwc, nchw = image_bundles["hwc"].manifest, image_bundles["nchw"].manifest
    assert hwc["inputs"] == [{"name": "image", "dtype": "uint8",
                              "shape": ["height", "width", 3],
                              "image": {"layout": "hwc", "channels": 3}}]
    assert nchw["inputs"][0]["image"] == {"layout": "nchw", "channels": 3}
    pins = (image_bundles["hwc"].path / "requirements.txt").read_text().splitlines()
    assert f"pillow=={version('pillow')}" in pins


@pytest.mark.parametrize("layout", ["hwc", "nchw"])
def test_predict_takes_files_bytes_and_arrays(image_bundles, layout, tmp_path):
    folder = image_bundles[layout].path
    for colour in COLOURS:
        pixels = picture(colour)
        jpeg = tmp_path / f"{colour}.jpg"
        jpeg.write_bytes(encoded(pixels, "JPEG"))
        array = pixels if layout == "hwc" else pixels.transpose(2, 0, 1)[None]
        from_png = predict.predict(encoded(pixels, "PNG"), folder)
        from_array = predict.predict({"image": array}, folder)
        assert predict.predict(str(jpeg), folder)["predictions"] == [colour]
        assert from_png["predictions"] == from_array["predictions"] == [colour]
        np.testing.assert_array_equal(from_png["logits"], from_array["logits"])  # lossless


def test_both_layouts_see_the_same_pixels(image_bundles):
    png = encoded(picture("green", size=(17, 23)), "PNG")
    np.testing.assert_allclose(predict.predict(png, image_bundles["hwc"].path)["logits"],
                               predict.predict(png, image_bundles["nchw"].path)["logits"],
                               rtol=1e-6)


def test_a_palette_png_is_converted_and_the_rest_refused(image_bundles):
    folder, pixels = image_bundles["hwc"].path, picture("blue")
    assert predict.predict(encoded(pixels, "PNG", mode="P"), folder)["predictions"] == ["blue"]
    bad = {
        b"not an image at all": "not an image Pillow can decode",
        encoded(pixels, "PNG")[:60]: "not an image Pillow can decode",  # truncated
        encoded(pixels, "PNG", mode="L"): "takes 3-channel RGB images; this one is L",
        encoded(pixels, "PNG", mode="RGBA"): "takes 3-channel RGB images; this one is RGBA",
        encoded(pixels, "PNG", mode="I;16"): "takes 8-bit .uint8. images",
    }
    for data, message in bad.items():
        with pytest.raises(predict.BundleError, match=message):
            predict.predict(data, folder)
    with pytest.raises(predict.BundleError, match="expects dtype uint8; got float32"):
        predict.predict(pixels.astype(np.float32), folder)
    with pytest.raises(predict.BundleError, match="cannot read the image file"):
        predict.predict(str(folder / "missing.jpg"), folder)


def test_a_model_without_preprocessing_takes_no_image_bytes(plain_bundle):
    assert "image" not in plain_bundle.manifest["inputs"][0]
    assert not any(line.startswith("pillow") for line in
                   (plain_bundle.path / "requirements.txt").read_text().splitlines())
    with pytest.raises(predict.BundleError, match="not an encoded image"):
        predict.predict(encoded(picture("red"), "PNG"), plain_bundle.path)


def test_the_command_line_reads_an_image_file(image_bundles, image_bundle_python, tmp_path):
    """predict.py in a venv of the bundle's requirements.txt only (Pillow among them)."""
    folder = image_bundles["nchw"].path
    jpeg = tmp_path / "photo.jpeg"
    jpeg.write_bytes(encoded(picture("red"), "JPEG"))
    (tmp_path / "junk.png").write_bytes(b"\x89PNG but not really")
    runs = [subprocess.run([str(image_bundle_python), "-I", str(folder / "predict.py"),
                            "--input", str(path)], capture_output=True, text=True,
                           timeout=120, env=bare_env())
            for path in (jpeg, tmp_path / "junk.png")]
    assert runs[0].returncode == 0, runs[0].stderr
    assert 'predictions: ["red"]' in runs[0].stdout
    assert runs[1].returncode == 1
    assert runs[1].stderr.startswith("predict.py: error: input 'image': the 19 bytes are not "
                                     "an image Pillow can decode")
