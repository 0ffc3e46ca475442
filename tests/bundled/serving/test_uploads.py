"""``POST /predict`` takes uploaded images for a model with image preprocessing: a
multipart/form-data file field or a raw image/* body, answered like JSON /predict; every bad
upload gets a 4xx JSON error. A real server on 127.0.0.1, real JPEG/PNG from Pillow,
urllib3's form encoder and urllib; serve.py also in a venv of the bundle's requirements."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from bundle_venv import bare_env
from image_bundles import COLOURS, encoded, picture

import onnxkit

pytest.importorskip("PIL")
urllib3 = pytest.importorskip("urllib3")
LIMIT_MB = 0.05  # the server's body limit: a noisy 200x200 PNG is over it


def post(url: str, body: bytes, content_type: str) -> tuple[int, dict]:
    request = urllib.request.Request(url, body, {"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as e:
        assert e.headers["Content-Type"] == "application/json"
        return e.code, json.loads(e.read())


def form(fields: dict) -> tuple[bytes, str]:
    return urllib3.encode_multipart_formdata(fields)


@pytest.fixture(scope="module")
def server(image_bundles):
    with onnxkit.serve.start(image_bundles["hwc"].path, max_body_mb=LIMIT_MB) as running:
        yield running.url + "/predict"


def test_an_uploaded_image_is_answered_like_json(server):
    for colour in COLOURS:
        pixels = picture(colour)
        png = encoded(pixels, "PNG")
        status, as_json = post(server, json.dumps({"image": pixels.tolist()}).encode(),
                               "application/json")
        assert status == 200 and as_json["predictions"] == [colour]
        for body, kind in (form({"image": ("x.png", png, "image/png")}),
                           form({"file": ("x.png", png, "image/png")}),
                           (png, "image/png")):
            assert post(server, body, kind) == (200, as_json)  # PNG is lossless: same reply
        jpeg = encoded(pixels, "JPEG")
        for body, kind in (form({"image": ("x.jpg", jpeg, "image/jpeg")}),
                           (jpeg, "image/jpeg")):
            status, reply = post(server, body, kind)
            assert status == 200 and reply["predictions"] == [colour]
            np.testing.assert_allclose(reply["outputs"]["logits"],
                                       as_json["outputs"]["logits"], atol=0.05)  # JPEG's loss


def test_every_bad_upload_gets_a_4xx_json_error(server):
    pixels = picture("red")
    png = encoded(pixels, "PNG")
    noise = np.random.default_rng(0).integers(0, 256, (200, 200, 3), dtype=np.uint8)
    big = encoded(noise, "PNG")
    assert len(big) > LIMIT_MB * (1 << 20)
    cases = [
        ((b"GIF? no, just text", "image/png"), 400, "not an image Pillow can decode"),
        (form({"image": ("x.png", b"\x89PNG\r\n\x1a\n broken", "image/png")}), 400,
         "not an image Pillow can decode"),
        (form({"photo": ("x.png", png, "image/png")}), 400, "unknown form field 'photo'"),
        (form({"image": png.decode("latin-1")}), 400, "must be a file upload"),
        ((png, "multipart/form-data"), 400, "no parts"),
        (form({"image": ("x.png", encoded(pixels, "PNG", mode="L"), "image/png")}), 400,
         "takes 3-channel RGB images; this one is L"),
        (form({"image": ("x.png", encoded(pixels, "PNG", mode="I;16"), "image/png")}), 400,
         "takes 8-bit"),
        (form({"image": ("a.png", png, "image/png"), "file": ("b.png", png, "image/png")}),
         400, "given twice"),
        ((b"", "image/png"), 400, "the body is empty"),
        ((big, "image/png"), 413, "this server takes at most"),
        (form({"image": ("big.png", big, "image/png")}), 413, "this server takes at most"),
    ]
    for (body, kind), status, message in cases:
        got, reply = post(server, body, kind)
        assert (got, message in reply["error"]) == (status, True), (message, reply)
    got, reply = post(server + "?input=pixels", png, "image/png")
    assert got == 400 and "is not an image input" in reply["error"]


def test_a_model_without_image_input_refuses_image_bodies(plain_bundle):
    with onnxkit.serve.start(plain_bundle.path) as running:
        status, reply = post(running.url + "/predict", encoded(picture("red"), "PNG"),
                             "image/png")
        assert status == 415 and "takes no images" in reply["error"]
        body, kind = form({"pixel_values": ("x.png", b"..", "image/png")})
        status, reply = post(running.url + "/predict", body, kind)
        assert status == 400 and "takes no images" in reply["error"]
        body, kind = form({"pixel_values": json.dumps(np.zeros((1, 3, 8, 8)).tolist())})
        status, reply = post(running.url + "/predict", body, kind)
        assert status == 200 and np.shape(reply["outputs"]["logits"]) == (1, 3)


def test_serve_py_takes_an_upload_with_only_the_bundles_requirements(image_bundles,
                                                                     image_bundle_python):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([str(image_bundle_python), "-I",
                               str(image_bundles["nchw"].path / "serve.py"), "--port", str(port)],
                              env=bare_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and server.poll() is None:
            try:
                urllib.request.urlopen(url + "/v2/health/ready", timeout=2)
                break
            except OSError:
                time.sleep(0.1)
        body, kind = form({"image": ("photo.jpg", encoded(picture("green"), "JPEG"),
                                     "image/jpeg")})
        status, reply = post(url + "/predict", body, kind)
        assert (status, reply["predictions"]) == (200, ["green"])
        status, reply = post(url + "/predict", b"<html>", "image/jpeg")
        assert status == 400 and "not an image Pillow can decode" in reply["error"]
    finally:
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=60)
    assert "Traceback" not in err


def test_the_v2_infer_route_keeps_the_declared_uint8_datatype(server, image_bundles):
    """Open Inference Protocol: a tensor's datatype is the model metadata's (UINT8 here), so
    encoded images go to /predict; a BYTES tensor holding a JPEG is a 400, uint8 pixels work."""
    http = pytest.importorskip("tritonclient.http")
    client = http.InferenceServerClient(server.split("//")[1].split("/")[0])
    name = image_bundles["hwc"].manifest["model"]["name"]
    assert client.get_model_metadata(name)["inputs"][0]["datatype"] == "UINT8"
    jpeg = http.InferInput("image", [1], "BYTES")
    jpeg.set_data_from_numpy(np.array([encoded(picture("red"), "JPEG")], dtype=object))
    with pytest.raises(http.InferenceServerException,
                       match="is a JPEG image, not text; post encoded images to /predict"):
        client.infer(name, [jpeg])
    pixels = picture("red")
    tensor = http.InferInput("image", list(pixels.shape), "UINT8")
    tensor.set_data_from_numpy(pixels)
    assert client.infer(name, [tensor]).as_numpy("logits").argmax() == 0  # red
