"""Uploaded images for ``POST /predict``: a ``multipart/form-data`` form (a file field named
after the image input; other fields JSON values for the other inputs) or a raw ``image/*``
body. Both give ``{input name: value}`` with the encoded bytes as they came; the bundle's
checks (``predict.validate``) decode them with Pillow into the uint8 input, or say why not.
The standard library parses the form: no python-multipart in a bundle.
"""

from __future__ import annotations

import email.parser
import email.policy
from typing import Any

from .protocol import RequestError, loads

FORM = "multipart/form-data"


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def image_names(manifest: dict[str, Any]) -> list[str]:
    return [i["name"] for i in manifest["inputs"] if "image" in i]


def raw_image(body: bytes, manifest: dict[str, Any], wanted: str | None) -> dict[str, Any]:
    """An ``image/*`` body: the model's one image input (or ``?input=name``)."""
    names = image_names(manifest)
    if not names:
        raise RequestError("this model takes no images (no input has image preprocessing); "
                           "send JSON", 415)
    if wanted is None and len(names) > 1:
        raise RequestError(f"the model has image inputs {names}; name one with ?input=<name>")
    name = wanted or names[0]
    if name not in names:
        raise RequestError(f"?input={name[:100]!r} is not an image input; the model's image "
                           f"inputs are {names}")
    if not body:
        raise RequestError(f"the body is empty; send the image file for input '{name}'")
    return {name: body}


def form_inputs(body: bytes, content_type: str, manifest: dict[str, Any]) -> dict[str, Any]:
    """A ``multipart/form-data`` body: a file field per image input (named after it; ``file``
    or ``image`` also fit a model with one image input), other fields JSON values."""
    images, inputs = image_names(manifest), [i["name"] for i in manifest["inputs"]]
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
    parts = list(message.iter_parts()) if message.is_multipart() else []
    if not parts:
        raise RequestError("the multipart/form-data body has no parts (is its boundary "
                           "right?); send the image as a file field named after the input")
    data: dict[str, Any] = {}
    for part in parts:
        field = part.get_param("name", header="content-disposition")
        name = _input_for(field, part.get_filename() is not None, images, inputs)
        payload = part.get_payload(decode=True)
        payload = payload if isinstance(payload, bytes) else b""
        if name in data:
            raise RequestError(f"input '{name}' is given twice in the form")
        data[name] = payload if name in images else _json_field(name, payload)
    return data


def _input_for(field: Any, is_file: bool, images: list[str], inputs: list[str]) -> str:
    if not isinstance(field, str) or not field:
        raise RequestError("each form field needs a name (Content-Disposition: form-data; "
                           "name=...)")
    if field in inputs:
        if field in images and not is_file:
            raise RequestError(f"form field '{field}' must be a file upload (filename=...) "
                               "holding the image")
        if field not in images and is_file:
            raise RequestError(f"form field '{field}' is a file, but input '{field}' takes "
                               "no images (no image preprocessing); send its values as JSON "
                               "in a plain field")
        return field
    if field in ("file", "image") and len(images) == 1 and is_file:
        return images[0]
    raise RequestError(f"unknown form field '{field[:100]}'; the model's inputs are {inputs} "
                       f"(image inputs: {images}, as file fields)")


def _json_field(name: str, payload: bytes) -> Any:
    try:
        return loads(payload)
    except (ValueError, UnicodeDecodeError) as e:
        raise RequestError(f"form field '{name}' must hold the input's values as JSON "
                           f"({e})") from None
