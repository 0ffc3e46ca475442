"""ONNX Runtime's error messages, without their noise, and what to do about them."""

from __future__ import annotations

import re

# ORT wraps messages in a status prefix, the path and the C++ source location and signature.
_NOISE = (
    re.compile(r"^\[ONNXRuntimeError\] : \d+ : \w+ : "),
    re.compile(r"^Load model from .*? failed:"),
    re.compile(r"\S+\.(?:cc|cpp|h):\d+ \S*?\(.*?\) (?=\S)"),
)

_HINTS = (
    (r"Could not find an implementation|is not a registered function/op|No Op registered",
     "This op (or this op at this opset) has no implementation here: it is a custom op, or "
     "the opset is wrong. Register the custom-op library, or convert to a supported opset "
     "(onnxkit.convert.to_opset)."),
    (r"[Oo]pset .*(under development|not supported|higher|is greater)|Unsupported model IR",
     "The model is newer than the installed onnxruntime supports: upgrade onnxruntime, or "
     "convert to an older opset (onnxkit.convert.to_opset)."),
    (r"topologically sorted|not output of any previous nodes",
     "A node reads a value before it is produced: run onnxkit.check for the structure."),
    (r"[Ss]hape|[Dd]imension|[Rr]ank",
     "Shapes do not fit what the operators need: check the input shapes, or re-export the "
     "model / fix its declared dims (onnxkit.fix_dims / make_dynamic)."),
    (r"[Tt]ype",
     "An operator receives a data type it does not accept: re-export, or insert a Cast."),
)


def clean_ort_message(raw: str) -> str:
    """The first line of what ORT said, minus status codes, paths and C++ signatures."""
    message = raw
    for noise in _NOISE:
        message = noise.sub("", message)
    message = message.strip()
    return message.splitlines()[0] if message else raw


def ort_hint(message: str) -> str:
    return next((h for pattern, h in _HINTS if re.search(pattern, message)), "")
