"""Run the bundled ONNX model on inputs from a file. Needs only numpy and onnxruntime.

Usage:
    python predict.py --input x.npy              (one-input models)
    python predict.py --input inputs.npz         (arrays named after the model's inputs)
    python predict.py --input inputs.json        ({"input name": nested lists, ...})
    python predict.py --input x.npz --output out.npz   (or out.json; default: print)
    python predict.py --input x.npz --providers cuda,cpu
    python predict.py --input photo.jpg          (a model that takes raw images: JPEG, PNG)
    python predict.py "Once upon" --max-tokens 20   (a language model's bundle: text out;
                                                     its onnxruntime-genai and tokenizers)

Before loading the model it checks the SHA-256 of every file listed in manifest.json, and it
checks the inputs' names, dtypes and ranks against the manifest. Errors print one line and
exit with status 1. An image input (``"image"`` in the manifest: a graph with its
preprocessing) also takes encoded images, decoded with Pillow. From Python, ``predict(inputs)``
does the same, and ``generate(prompt, ...)`` for a language model. Written by onnxkit's
``deploy.bundle``; this file is part of the bundle.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
_CHUNK = 1 << 20
IMAGE_FILES = (".jpg", ".jpeg", ".png")  # what --input reads as an encoded image
_MODES = {1: "L", 3: "RGB", 4: "RGBA"}  # the Pillow mode of a uint8 image with C channels
_OBJECT = re.compile(r" ?<[^<>]* at 0x[0-9a-fA-F]+>")  # an object's repr in Pillow's messages


class BundleError(Exception):
    """A problem the user can fix; printed as one line."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def load_manifest(folder: Path) -> dict:
    path = folder / "manifest.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise BundleError(f"no manifest.json in '{folder}': the bundle is incomplete") from None
    except ValueError as e:
        raise BundleError(f"manifest.json is not valid JSON ({e}): the bundle is damaged") from e


def file_problems(folder: Path, manifest: dict) -> dict:
    """``{file: what is wrong}`` for each file of the manifest that is missing or altered
    (the one check: onnxkit's verify and serve use it too)."""
    problems = {}
    for name, entry in manifest.get("files", {}).items():
        path = folder / name
        if not path.is_file():
            problems[name] = "missing"
        elif path.stat().st_size != entry.get("size"):
            problems[name] = f"altered (size {path.stat().st_size}, manifest {entry.get('size')})"
        elif sha256_of(path) != entry.get("sha256"):
            problems[name] = "altered (SHA-256 differs from the manifest)"
    return problems


def check_files(folder: Path, manifest: dict) -> None:
    """Every file in the manifest must exist with its recorded size and SHA-256."""
    for name, problem in file_problems(folder, manifest).items():
        if problem == "missing":
            raise BundleError(f"'{name}' is missing from the bundle '{folder}'; "
                              "restore it from the original bundle")
        raise BundleError(f"'{name}' was {problem}; refusing to run. Restore the original "
                          "file")


LANGUAGE_MODEL = "language-model"  # the manifest's "kind" of a bundle that generates text
_TEXT_MODELS: dict = {}  # folder -> its decoder, loaded once


def generate(prompt: str, folder: Path = HERE, **options):
    """A language-model bundle continues ``prompt``: ``{"text", "tokens", "finish_reason",
    "prompt_tokens"}``. ``options``: ``max_new_tokens`` (64), ``do_sample``, ``temperature``,
    ``top_k``, ``top_p``, ``repetition_penalty``, ``stop``, ``seed``; greedy by default."""
    folder = Path(folder)
    textgen = _textgen(folder)
    if folder not in _TEXT_MODELS:
        manifest = load_manifest(folder)
        check_files(folder, manifest)
        _TEXT_MODELS[folder] = textgen.TextModel(folder, manifest["llm"])
    try:
        decoding = _TEXT_MODELS[folder].generate([prompt], textgen.checked_settings(options))
        for _ in decoding:
            pass
    except textgen.TextError as e:
        raise BundleError(str(e)) from None
    row = decoding.results[0]
    return {"text": row.text, "tokens": row.tokens, "finish_reason": row.reason,
            "prompt_tokens": len(row.ids)}


def _textgen(folder: Path):
    """The bundle's ``serving.textgen`` (onnxruntime-genai and tokenizers behind it)."""
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    from serving import textgen

    return textgen


def read_inputs(path: Path, manifest: dict) -> dict:
    inputs = manifest["inputs"]
    suffix = path.suffix.lower()
    if not path.is_file():
        raise BundleError(f"--input '{path}' does not exist")
    try:
        if suffix == ".npy":
            data = {"": np.load(path, allow_pickle=False)}
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as npz:
                data = {k: npz[k] for k in npz.files}
        elif suffix == ".json":
            data = json.loads(path.read_text())
            data = data if isinstance(data, dict) else {"": data}
        elif suffix in IMAGE_FILES:
            data = {"": path.read_bytes()}
        else:
            raise BundleError(f"--input '{path}': use a .npy, .npz or .json file (or, for a "
                              f"model that takes images, {', '.join(IMAGE_FILES)})")
    except (OSError, ValueError) as e:
        raise BundleError(f"--input '{path}' cannot be read as {suffix}: {e}") from e
    if "" in data:
        if len(inputs) != 1:
            raise BundleError(f"--input '{path}' holds one unnamed array but the model has "
                              f"inputs {[i['name'] for i in inputs]}: use an .npz or a JSON "
                              "object keyed by input name")
        data = {inputs[0]["name"]: data[""]}
    return data


def validate(data: dict, manifest: dict, from_json: bool) -> dict:
    specs = {i["name"]: i for i in manifest["inputs"]}
    unknown = sorted(set(data) - set(specs))
    if unknown:
        raise BundleError(f"unknown input name(s) {unknown}; the model's inputs are "
                          f"{list(specs)}")
    missing = [n for n in specs if n not in data]
    if missing:
        raise BundleError(f"missing input(s) {missing}; the model's inputs are {list(specs)}")
    return {name: _check_array(spec, data[name], from_json) for name, spec in specs.items()}


def _numpy_dtype(name: str, want: str) -> np.dtype:
    if want == "string":
        return np.dtype(object)
    try:
        return np.dtype(want)
    except TypeError:
        raise BundleError(f"input '{name}' has dtype {want}, which plain numpy cannot make; "
                          "feed it from Python with ml_dtypes instead") from None


def _check_array(spec: dict, value, from_json: bool) -> np.ndarray:
    name, want = spec["name"], _numpy_dtype(spec["name"], spec["dtype"])
    if isinstance(value, (bytes, bytearray, memoryview)):
        value, from_json = decode_image(spec, bytes(value)), False
    if from_json:
        try:
            array = np.asarray(value)
            converted = array.astype(want)
        except (TypeError, ValueError) as e:
            raise BundleError(f"input '{name}' expects {want}; the JSON values do not convert "
                              f"({e})") from e
        if array.dtype.kind == "f" and converted.dtype.kind in "iub" and \
                not np.array_equal(array, converted):
            raise BundleError(f"input '{name}' expects {want}; the JSON has non-integer values")
        value = converted
    elif want.kind == "O" and value.dtype.kind in "OUS":
        value = value.astype(object)
    elif value.dtype != want:
        raise BundleError(f"input '{name}' expects dtype {want}; got {value.dtype}. Convert it "
                          f"with array.astype('{want}')")
    shape = spec["shape"]
    if shape is not None:
        if value.ndim != len(shape):
            raise BundleError(f"input '{name}' expects rank {len(shape)} {shape}; got shape "
                              f"{list(value.shape)}")
        for axis, (got, dim) in enumerate(zip(value.shape, shape)):
            if isinstance(dim, int) and got != dim:
                raise BundleError(f"input '{name}' expects size {dim} at axis {axis} "
                                  f"(shape {shape}); got shape {list(value.shape)}")
    return value


def decode_image(spec: dict, data: bytes) -> np.ndarray:
    """Encoded image bytes (JPEG, PNG, anything Pillow reads) as the uint8 array the image
    input takes: ``[height, width, channels]``, or a batch of one in its NHWC/NCHW layout."""
    name, image = spec["name"], spec.get("image")
    if image is None:
        raise BundleError(f"input '{name}' takes {spec['dtype']}{spec['shape']} values, not "
                          "an encoded image; only a model with image preprocessing takes "
                          "image files")
    try:
        from PIL import Image
    except ImportError:
        raise BundleError(f"input '{name}' got an encoded image; decoding it needs Pillow: "
                          "pip install -r requirements.txt (it lists pillow)") from None
    try:
        with Image.open(io.BytesIO(data)) as opened:
            opened.load()
            picture = _with_channels(name, opened, image["channels"])
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        why = _OBJECT.sub("", " ".join(str(e).split()))[:200]  # no "<BytesIO at 0x...>"
        raise BundleError(f"input '{name}': the {len(data)} bytes are not an image Pillow can "
                          f"decode ({why}); send a JPEG or PNG file") from None
    pixels = np.asarray(picture, dtype=np.uint8).reshape(picture.height, picture.width, -1)
    if image["layout"] == "nchw":
        return np.ascontiguousarray(pixels.transpose(2, 0, 1)[None])
    return pixels[None] if image["layout"] == "nhwc" else pixels


def _with_channels(name: str, picture, channels: int):
    """The decoded image in the mode of ``channels`` 8-bit channels, converting only what
    loses nothing (palette, 1-bit); anything else is the caller's to convert."""
    if picture.mode.startswith(("I", "F")):
        raise BundleError(f"input '{name}' takes 8-bit (uint8) images; this one is "
                          f"{picture.mode} (16/32-bit or float): save it as an 8-bit JPEG/PNG")
    want = _MODES[channels]
    if picture.mode == "1" and want == "L" or picture.mode == "P" and want != "L":
        picture = picture.convert(want)
    if picture.mode != want:
        raise BundleError(f"input '{name}' takes {channels}-channel {want} images; this one is "
                          f"{picture.mode} ({len(picture.getbands())} channel(s)): convert it, "
                          f"e.g. PIL's Image.convert('{want}')")
    return picture


def predict(inputs, folder: Path = HERE, providers: list | None = None) -> dict:
    """Run the bundle from Python: ``{input name: array}`` (or one array for a one-input
    model), where an image input also takes encoded bytes or an image file's path. Returns
    the outputs, and ``"predictions"`` when the bundle has labels or a threshold."""
    manifest = load_manifest(folder)
    check_files(folder, manifest)
    names = [i["name"] for i in manifest["inputs"]]
    if not isinstance(inputs, dict):
        if len(names) != 1:
            raise BundleError(f"predict: the model has inputs {names}; pass a dict by name")
        inputs = {names[0]: inputs}
    images = {i["name"] for i in manifest["inputs"] if "image" in i}
    data = {k: _image_file(k, v) if k in images and isinstance(v, (str, Path)) else v
            for k, v in inputs.items()}
    data = {k: v if isinstance(v, (bytes, bytearray, memoryview)) else np.asarray(v)
            for k, v in data.items()}
    outputs = run_model(folder, manifest, validate(data, manifest, from_json=False),
                        providers or choose_providers(None, manifest))
    predictions = postprocess(outputs, manifest)
    return outputs if predictions is None else {**outputs, "predictions": predictions}


def _image_file(name: str, path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise BundleError(f"input '{name}': cannot read the image file '{path}' "
                          f"({e.strerror})") from None


def choose_providers(requested: str | None, manifest: dict) -> list:
    import onnxruntime as ort

    available = ort.get_available_providers()
    if requested is None:
        wanted = [p for p in manifest.get("providers", []) if p in available]
        return wanted or ["CPUExecutionProvider"]
    chosen = []
    for item in requested.split(","):
        key = item.strip().lower()
        match = [p for p in available if key in (p.lower(), p.lower()[:-len("executionprovider")])]
        if not match:
            raise BundleError(f"--providers: '{item.strip()}' is not available here; available: "
                              f"{', '.join(available)}")
        chosen.append(match[0])
    return chosen


CONTRIB_DOMAIN = "ai.onnx.contrib"  # onnxruntime-extensions' operators (tokenizers...)


def session_options(manifest: dict):
    """ONNX Runtime session options for the bundle's model: quiet, and with
    onnxruntime-extensions' operator library registered when the model uses its domain."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if CONTRIB_DOMAIN in manifest["model"].get("opset_imports", {}):
        try:
            import onnxruntime_extensions
        except ImportError:
            raise BundleError(f"the model uses onnxruntime-extensions' operators (domain "
                              f"{CONTRIB_DOMAIN}): pip install onnxruntime-extensions") from None
        options.register_custom_ops_library(onnxruntime_extensions.get_library_path())
    return options


def run_model(folder: Path, manifest: dict, feeds: dict, providers: list) -> dict:
    import onnxruntime as ort

    options = session_options(manifest)
    known = dict(zip(manifest.get("providers", []), manifest.get("provider_options", [])))
    session = ort.InferenceSession(str(folder / manifest["model"]["file"]), options,
                                   providers=providers,
                                   provider_options=[known.get(p) or {} for p in providers])
    names = [o["name"] for o in manifest["outputs"]]
    return dict(zip(names, session.run(names, feeds)))


def postprocess(outputs: dict, manifest: dict):
    """Class labels (argmax) or a binary threshold on one output, as the bundle specifies."""
    post = manifest.get("postprocess")
    if not post:
        return None
    scores = np.asarray(outputs[post["output"]])
    labels = post.get("labels")
    if post.get("threshold") is not None:
        if scores.ndim >= 1 and scores.shape[-1] == 2:
            scores = scores[..., 1]
        elif scores.ndim >= 2 and scores.shape[-1] == 1:
            scores = scores[..., 0]
        index = (scores >= post["threshold"]).astype(np.int64)
    else:
        index = scores.argmax(axis=-1)
    return np.asarray(labels, dtype=object)[index].tolist() if labels else index.tolist()


def write_outputs(path: Path | None, outputs: dict, predictions, overwrite: bool) -> None:
    if path is None:
        for name, value in outputs.items():
            print(f"{name}: {value.dtype}{list(value.shape)}")
            print(np.array2string(value, threshold=50))
        if predictions is not None:
            print(f"predictions: {json.dumps(predictions)}")
        return
    if path.exists() and not overwrite:
        raise BundleError(f"--output '{path}' exists; pass --overwrite to replace it")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        extra = {} if predictions is None else {"predictions": np.asarray(predictions)}
        np.savez(path, **outputs, **extra)  # type: ignore[arg-type]  # stubs: **kwds
    elif suffix == ".json":
        data = {k: v.tolist() for k, v in outputs.items()}
        if predictions is not None:
            data["predictions"] = predictions
        path.write_text(json.dumps(data))
    else:
        raise BundleError(f"--output '{path}': use a .npz or .json file")
    print(f"wrote {path}")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run the bundled ONNX model.")
    parser.add_argument("--input", required=True, type=Path,
                        help=".npy (one-input models), .npz or .json keyed by input name")
    parser.add_argument("--output", type=Path, help=".npz or .json (default: print)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    parser.add_argument("--providers", help="comma-separated, e.g. cuda,cpu (default: the "
                                            "manifest's, where available)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    try:
        manifest = load_manifest(HERE)
        check_files(HERE, manifest)  # before anything is loaded
        if manifest.get("kind") == LANGUAGE_MODEL:
            textgen = _textgen(HERE)
            try:
                return textgen.cli(HERE, manifest["llm"], argv)
            except textgen.TextError as e:
                raise BundleError(str(e)) from None
        args = parse_args(argv)
        data = read_inputs(args.input, manifest)
        feeds = validate(data, manifest, from_json=args.input.suffix.lower() == ".json")
        outputs = run_model(HERE, manifest, feeds, choose_providers(args.providers, manifest))
        write_outputs(args.output, outputs, postprocess(outputs, manifest), args.overwrite)
    except BundleError as e:
        print(f"predict.py: error: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # onnxruntime's own errors: one line, no traceback
        message = " ".join(str(e).split())
        print(f"predict.py: error: {type(e).__name__}: {message[:500]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
