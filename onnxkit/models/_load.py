"""``load``: anything model-like (a path, bytes, a ``ModelProto``, a ``Model``) to a ``Model``."""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

import onnx

from onnxkit.errors import ExternalDataError, ParameterError
from onnxkit.models import _external
from onnxkit.models._handle import (
    Model,
    ModelLike,
    Step,
    check_parsed,
    parse_bytes,
    stat_model_file,
)
from onnxkit.models._workspace import workspace


def load(model: ModelLike, *, name: str | None = None) -> Model:
    """Open anything model-like as a :class:`Model` (validated, weights left on disk).

    Paths are used in place. Bytes and ``ModelProto`` objects are written once into the
    workspace, so every ``Model`` is a file that onnxruntime and other tools can open.

    Args:
        model: a path, serialized bytes, an ``onnx.ModelProto`` or a ``Model``.
        name: file stem for bytes/proto input (default: the graph's name).

    Raises:
        ModelNotFoundError: the path does not exist.
        InvalidModelError: the file or bytes are not a readable ONNX model.
        ExternalDataError: external weights are missing, truncated or outside the model's folder.

    Examples:
        >>> import onnxkit
        >>> onnxkit.load(onnxkit.samples.tiny_model()).name
        'tiny'
    """

    if isinstance(model, Model):
        model.proto  # noqa: B018 - validates a handle made directly
        return model
    if isinstance(model, (str, os.PathLike)):
        return _handle_for(Path(model).absolute())
    if isinstance(model, (bytes, bytearray, memoryview)):
        proto = parse_bytes(bytes(model))
        stem = name or proto.graph.name or "model"
        return workspace().save(proto, stem=stem, step=Step("import"))
    if isinstance(model, onnx.ModelProto):
        check_parsed(model, "the ModelProto")
        _refuse_dangling_external(model)
        return workspace().save(
            model, stem=name or model.graph.name or "model", step=Step("import"), owned=False
        )
    raise ParameterError(
        f"load(model=...) takes a path, bytes, an onnx.ModelProto or an onnxkit.Model; got "
        f"{type(model).__name__}. Export the model to ONNX first (see onnxkit.convert)."
    )


# Handles by file and stamp: run(path, ...) in a loop must not re-parse the model each time.
_handles: OrderedDict[tuple[Path, int, int], Model] = OrderedDict()


def _handle_for(path: Path) -> Model:
    stat = stat_model_file(path)
    key = (path, stat.st_mtime_ns, stat.st_size)
    if key not in _handles:
        handle = Model(path)
        handle.proto  # noqa: B018 - parse and validate now, not at first use
        _handles[key] = handle
        while len(_handles) > 32:
            _handles.popitem(last=False)
    _handles.move_to_end(key)
    return _handles[key]


def _refuse_dangling_external(proto: onnx.ModelProto) -> None:
    for tensor in _external.iter_tensors(proto):
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            raise ExternalDataError(
                f"The ModelProto refers to external data (tensor '{tensor.name}') but an "
                "in-memory proto has no folder to find it in. Load it from its file path "
                "instead, or onnx.load(...) it with load_external_data=True."
            )
