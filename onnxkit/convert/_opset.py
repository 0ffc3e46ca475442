"""``to_opset``: onnx's version converter, verified against the original."""

from __future__ import annotations

import re

import onnx

from onnxkit.convert._conversion import root_cause
from onnxkit.errors import ConversionError, ParameterError
from onnxkit.models import Model, ModelLike, load
from onnxkit.transforms import derive, verified


def to_opset(model: ModelLike, version: int) -> Model:
    """Convert the model's ai.onnx opset up or down with onnx's version converter.

    The result is checked against the original on the same random inputs (recorded in its
    lineage); a converter failure names the op it could not adapt.

    Examples:
        >>> import onnxkit
        >>> up = onnxkit.convert.to_opset(onnxkit.samples.tiny_model(), 21)
        >>> up.name, onnxkit.summarize(up).opsets["ai.onnx"]
        ('tiny.opset21', 21)
    """
    newest = onnx.defs.onnx_opset_version()
    if not isinstance(version, int) or not 7 <= version <= newest:
        raise ParameterError(f"to_opset(version=...) must be an integer in 7..{newest} (the "
                             f"installed onnx); got {version!r}.")
    parent = load(model)
    current = next((o.version for o in parent.proto.opset_import if o.domain in ("", "ai.onnx")),
                   None)
    try:
        converted = onnx.version_converter.convert_version(parent.to_proto(), version)
    except Exception as e:
        missing = re.search(r"No Adapter (?:From|To) Version \$(\d+) for (\w+)", str(e))
        why = (f"it has no adapter for {missing.group(2)} across opset {missing.group(1)}"
               if missing else root_cause(e))
        raise ConversionError(f"onnx's version converter cannot take '{parent.name}' from opset "
                              f"{current} to {version}: {why}. Re-export at that opset "
                              "instead.") from e
    child = derive(parent, converted, op="convert.to_opset", tag=f"opset{version}",
                   params={"version": version}, details={"from": current})
    return verified(parent, child, rtol=1e-4, atol=1e-5)
