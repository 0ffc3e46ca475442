"""Open Inference Protocol (KServe v2) tensors over HTTP: JSON, and Triton's binary tensor
extension (``Inference-Header-Content-Length``), as tritonclient and KServe clients send them.

Spec: https://kserve.github.io/website/latest/modelserving/data_plane/v2_protocol/ and
Triton's ``binary_tensor_data`` extension.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

import numpy as np

try:  # a fast codec when installed (a bundle lists it); the standard library otherwise
    import orjson

    def dumps(obj: Any) -> bytes:
        """JSON bytes; numpy arrays as lists, written by orjson itself."""
        return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY)

    def loads(data: bytes | str) -> Any:
        """Parsed JSON; what orjson refuses as not strict JSON (NaN, Infinity, as Python's
        json writes them) is read by the standard library, so the checks can say why."""
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            return json.loads(data)
except ImportError:  # pragma: no cover - exercised in a bundle without orjson
    def dumps(obj: Any) -> bytes:
        return json.dumps(obj, default=lambda v: v.tolist()).encode()

    loads = json.loads

HEADER_LENGTH = "inference-header-content-length"
# KServe v2 datatype <-> numpy; "BYTES" carries strings (numpy object arrays).
DATATYPES = {"BOOL": np.bool_, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32,
             "UINT64": np.uint64, "INT8": np.int8, "INT16": np.int16, "INT32": np.int32,
             "INT64": np.int64, "FP16": np.float16, "FP32": np.float32, "FP64": np.float64,
             "BYTES": np.object_}
_BY_DTYPE = {np.dtype(v): k for k, v in DATATYPES.items() if k != "BYTES"}
_BY_DTYPE.update({d.newbyteorder(">" if d.byteorder in "<=" else "<"): k
                  for d, k in list(_BY_DTYPE.items())})  # either byte order


class RequestError(Exception):
    """A request the client must fix (4xx), or that the server cannot take now (503): answered
    with ``status``, a JSON ``{"error": ...}`` and ``headers`` (``Retry-After``, ``Allow``)."""

    def __init__(self, message: str, status: int = 400, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


class ServerError(Exception):
    """A server setting the operator must fix (a token missing beyond loopback, a port
    taken): the server does not start; ``serve.py`` prints it as one line."""


def datatype_of(dtype: str | np.dtype) -> str:
    """The v2 datatype of a numpy dtype (or a manifest dtype string such as ``"float32"``)."""
    found = _BY_DTYPE.get(dtype) if isinstance(dtype, np.dtype) else None
    if found is not None:
        return found
    if str(dtype) in ("string", "object", "str") or np.dtype(dtype).kind in "OUS":
        return "BYTES"
    found = _BY_DTYPE.get(np.dtype(dtype))
    if found is None:
        raise RequestError(f"dtype {dtype} has no Open Inference Protocol datatype", 500)
    return found


def tensor_metadata(spec: dict[str, Any]) -> dict[str, Any]:
    """A manifest input/output (name, numpy dtype, shape with names for dynamic dims) as v2
    metadata: dynamic dims are -1."""
    shape = spec.get("shape")
    dims = [-1] if shape is None else [d if isinstance(d, int) and d >= 0 else -1 for d in shape]
    return {"name": spec["name"], "datatype": datatype_of(spec["dtype"]), "shape": dims}


def parse_request(body: bytes, header_length: str | None) -> dict[str, Any]:
    """The JSON part of an infer request and, with the binary extension, its raw tensors:
    ``{"json": {...}, "blobs": bytes}``."""
    if header_length is not None:
        try:
            size = int(header_length)
        except ValueError:
            raise RequestError(f"Inference-Header-Content-Length must be an integer; got "
                               f"{header_length[:40]!r}") from None
        if not 0 < size <= len(body):
            raise RequestError(f"Inference-Header-Content-Length {size} does not fit the "
                               f"{len(body)}-byte body")
        head, blobs = body[:size], memoryview(body)[size:]  # no copy of the tensors
    else:
        head, blobs = body, memoryview(b"")
    try:
        message = loads(head)
    except (ValueError, UnicodeDecodeError) as e:
        raise RequestError(f"the request body is not valid JSON ({e})") from None
    if not isinstance(message, dict):
        raise RequestError("the request body must be a JSON object with an \"inputs\" list")
    for key, kind, what in (("id", str, "a string"), ("parameters", dict, "an object")):
        if key in message and not isinstance(message[key], kind):
            raise RequestError(f"\"{key}\" must be {what}; got {type(message[key]).__name__}")
    return {"json": message, "blobs": blobs}


def decode_inputs(request: dict[str, Any]) -> dict[str, np.ndarray]:
    """``{input name: array}`` from a parsed infer request (JSON data or binary blobs)."""
    message, blobs = request["json"], request["blobs"]
    inputs = message.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise RequestError("\"inputs\" must be a non-empty list of tensors, each with name, "
                           "shape, datatype and data")
    arrays, offset = {}, 0
    for tensor in inputs:
        name, shape, datatype = tensor_header(tensor)
        size = _parameters(tensor, name).get("binary_data_size")
        if size is not None:
            if type(size) is not int or size < 0 or offset + size > len(blobs):
                raise RequestError(f"input '{name}': binary_data_size {size!r} runs past the "
                                   f"{len(blobs)} bytes of binary data")
            array = array_from_bytes(blobs[offset:offset + size], datatype, shape, name)
            offset += size
        elif "data" in tensor:
            array = _from_json(tensor["data"], datatype, shape, name)
        else:
            raise RequestError(f"input '{name}' has neither \"data\" nor binary_data_size")
        if name in arrays:
            raise RequestError(f"input '{name}' is given twice")
        arrays[name] = array
    return arrays


def tensor_header(tensor: Any) -> tuple[str, list[int], str]:
    if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
        raise RequestError("each input must be an object with a string \"name\"")
    name, shape, datatype = tensor["name"], tensor.get("shape"), tensor.get("datatype")
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise RequestError(f"input '{name[:100]}': \"shape\" must be a list of non-negative "
                           f"integers; got {_short(shape)}")
    if not isinstance(datatype, str) or datatype not in DATATYPES:
        raise RequestError(f"input '{name[:100]}': unknown datatype {_short(datatype)}; use "
                           f"one of {', '.join(DATATYPES)}")
    return name, shape, datatype


def _parameters(tensor: dict[str, Any], name: str) -> dict[str, Any]:
    parameters = tensor.get("parameters")
    if parameters is None:
        return {}
    if not isinstance(parameters, dict):
        raise RequestError(f"'{name[:100]}': \"parameters\" must be an object; got "
                           f"{_short(parameters)}")
    return parameters


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _from_json(data: Any, datatype: str, shape: list[int], name: str) -> np.ndarray:
    if not isinstance(data, list):
        data = [data]  # one value
    try:  # numbers straight into numpy (C speed); strings and nesting checked below
        flat = np.asarray(data, dtype=object if datatype == "BYTES" else None).reshape(-1)
    except (TypeError, ValueError) as e:  # ragged nesting
        raise RequestError(f"input '{name}': the data are not a regular array "
                           f"({_short(str(e))})") from None
    if datatype == "BYTES":
        if not all(isinstance(v, (str, bytes)) for v in flat):
            raise RequestError(f"input '{name}' is BYTES; the data must be strings")
        return _reshaped(flat, shape, name)
    target = np.dtype(DATATYPES[datatype])
    if flat.size and flat.dtype.kind not in "biuf":
        raise RequestError(f"input '{name}' is {datatype}; the data must be numbers")
    if flat.dtype.kind == "f" and target.kind in "iub":
        if not np.isfinite(flat).all():
            raise RequestError(f"input '{name}' is {datatype}; the data have NaN or infinity")
        if not np.array_equal(flat, np.round(flat)):
            raise RequestError(f"input '{name}' is {datatype}; the data have fractional values")
    if target.kind in "iu" and flat.size:
        info = np.iinfo(target)
        if flat.min() < info.min or flat.max() > info.max:
            raise RequestError(f"input '{name}': the data do not fit {datatype} (from "
                               f"{info.min} to {info.max})")
    try:
        array = flat.astype(target)
    except (OverflowError, ValueError) as e:
        raise RequestError(f"input '{name}': the data do not fit {datatype} ({e})") from None
    return _reshaped(array, shape, name)


def array_from_bytes(raw: bytes, datatype: str, shape: list[int], name: str) -> np.ndarray:
    if datatype == "BYTES":
        items, at = [], 0
        while at < len(raw):
            if at + 4 > len(raw):
                raise RequestError(f"input '{name}': truncated BYTES element")
            (length,) = struct.unpack_from("<I", raw, at)
            if at + 4 + length > len(raw):
                raise RequestError(f"input '{name}': a BYTES element runs past the data")
            items.append(bytes(raw[at + 4:at + 4 + length]))
            at += 4 + length
        return _reshaped(texts(items, name), shape, name)
    dtype = np.dtype(DATATYPES[datatype]).newbyteorder("<")
    if len(raw) % dtype.itemsize:
        raise RequestError(f"input '{name}': {len(raw)} bytes is not a whole number of "
                           f"{datatype} values")
    array = np.frombuffer(raw, dtype=dtype)  # read-only, no copy: nothing writes to inputs
    if not dtype.isnative:
        array = array.astype(dtype.newbyteorder("="))
    return _reshaped(array, shape, name)


def texts(items: list[bytes], name: str) -> np.ndarray:
    """BYTES elements as the strings ONNX Runtime's string tensors take (UTF-8 text)."""
    try:
        return np.array([item.decode("utf-8") for item in items], dtype=object)
    except UnicodeDecodeError as e:
        image = next((kind for item in items for magic, kind in _IMAGE_MAGIC.items()
                      if item.startswith(magic)), None)
        if image:
            raise RequestError(f"input '{name}': a BYTES element is a {image} image, not text; "
                               "post encoded images to /predict (a multipart file field or an "
                               "image/* body), or send decoded pixels as a UINT8 tensor") from None
        raise RequestError(f"input '{name}': a BYTES element is not UTF-8 text ({e.reason} at "
                           f"byte {e.start}); send text") from None


# The first bytes of the encoded images people send by mistake as BYTES tensors.
_IMAGE_MAGIC = {b"\xff\xd8\xff": "JPEG", b"\x89PNG\r\n\x1a\n": "PNG", b"GIF8": "GIF",
                b"BM": "BMP", b"RIFF": "WebP"}


def _reshaped(flat: np.ndarray, shape: list[int], name: str) -> np.ndarray:
    expected = math.prod(shape)
    if flat.size != expected:
        raise RequestError(f"input '{name}': shape {shape} holds {expected} values; the data "
                           f"have {flat.size}")
    return flat.reshape(shape)


def requested_outputs(request: dict[str, Any], names: list[str]) -> list[tuple[str, bool]]:
    """``[(output name, as binary)]``: the outputs the request asks for (default: all, as
    JSON unless the request's ``binary_data_output`` parameter is set)."""
    message = request["json"]
    default_binary = bool(message.get("parameters", {}).get("binary_data_output", False))
    wanted = message.get("outputs")
    if wanted is None:
        return [(n, default_binary) for n in names]
    if not isinstance(wanted, list):
        raise RequestError("\"outputs\" must be a list of {\"name\": ...} objects")
    out = []
    for item in wanted:
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str):
            raise RequestError(f"each requested output must be an object with a string "
                               f"\"name\", one of {names}; got {_short(item)}")
        if name not in names:
            raise RequestError(f"unknown output {_short(name)}; the model's outputs are {names}")
        binary = _parameters(item, name).get("binary_data", default_binary)
        out.append((name, bool(binary)))
    return out


def timeout_s(request: dict[str, Any]) -> float | None:
    """The request's queue timeout: Triton's ``timeout`` parameter, in microseconds."""
    value = request["json"].get("parameters", {}).get("timeout")
    if value is None:
        return None
    if type(value) is not int or value <= 0:
        raise RequestError(f"parameter \"timeout\" must be a positive integer (microseconds); "
                           f"got {_short(value)}")
    return value / 1e6


def encode_response(model: str, version: str, request_id: Any,
                    outputs: dict[str, np.ndarray], wanted: list[tuple[str, bool]]
                    ) -> tuple[bytes, dict[str, str]]:
    """The infer response body and its extra headers (the binary extension's length)."""
    blobs: list[bytes] = []
    tensors = [_tensor(name, np.asarray(outputs[name]), binary, blobs) for name, binary in wanted]
    message: dict[str, Any] = {"model_name": model, "model_version": version, "outputs": tensors}
    if request_id is not None:
        message["id"] = request_id
    head = dumps(message)
    if not blobs:
        return head, {}
    return head + b"".join(blobs), {"Inference-Header-Content-Length": str(len(head))}


def _tensor(name: str, value: np.ndarray, binary: bool, blobs: list[bytes]) -> dict[str, Any]:
    """One tensor of a request or response: its data inline (JSON), or appended to ``blobs``
    (the binary extension) with its size in ``parameters``."""
    entry: dict[str, Any] = {"name": name, "shape": list(value.shape),
                             "datatype": "BYTES" if value.dtype.kind in "OUS"
                             else datatype_of(value.dtype)}
    if binary:
        raw = array_to_bytes(value)
        entry["parameters"] = {"binary_data_size": len(raw)}
        blobs.append(raw)
    else:
        entry["data"] = _jsonable(value)
    return entry


def array_to_bytes(value: np.ndarray) -> bytes:
    if value.dtype.kind in "OUS":
        parts = [s if isinstance(s, bytes) else str(s).encode() for s in value.reshape(-1)]
        return b"".join(struct.pack("<I", len(p)) + p for p in parts)
    return np.ascontiguousarray(value, dtype=value.dtype.newbyteorder("<")).tobytes()


def _jsonable(value: np.ndarray) -> list[Any] | np.ndarray:
    """The flat data of a tensor: the array itself where the codec writes numpy directly."""
    flat = value.reshape(-1)
    if flat.dtype.kind in "OUS":
        return [s.decode("utf-8", "replace") if isinstance(s, bytes) else str(s) for s in flat]
    if flat.dtype.kind == "f" and not np.isfinite(flat).all():
        return [v if np.isfinite(v) else str(v) for v in flat.tolist()]  # JSON has no NaN
    return np.ascontiguousarray(flat, dtype=flat.dtype.newbyteorder("="))


# --- the client's side: what tritonclient does, for onnxkit's own calls and load tests -------

def encode_request(feeds: dict[str, np.ndarray], *, binary: bool = True
                   ) -> tuple[bytes, dict[str, str]]:
    """An infer request for ``feeds`` (binary tensors by default), and its headers."""
    blobs: list[bytes] = []
    tensors = [_tensor(name, np.asarray(value), binary, blobs) for name, value in feeds.items()]
    message = {"inputs": tensors, "parameters": {"binary_data_output": binary}}
    head = dumps(message)
    headers = {"Content-Type": "application/octet-stream" if binary else "application/json"}
    if binary:
        headers["Inference-Header-Content-Length"] = str(len(head))
    return head + b"".join(blobs), headers


def decode_response(body: bytes, header_length: str | None) -> dict[str, np.ndarray]:
    """``{output name: array}`` from an infer response (JSON or binary tensors)."""
    parsed = parse_request(body, header_length)
    message, blobs, offset = parsed["json"], parsed["blobs"], 0
    if "error" in message:
        raise RequestError(str(message["error"]))
    outputs = {}
    for tensor in message.get("outputs", []):
        name, shape, datatype = tensor_header(tensor)
        size = (tensor.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            outputs[name] = array_from_bytes(blobs[offset:offset + size], datatype, shape, name)
            offset += size
        else:
            outputs[name] = _from_json(tensor["data"], datatype, shape, name)
    return outputs
