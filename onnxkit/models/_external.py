"""External data (weights stored beside the model file): find, validate, never leave the folder."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import onnx

from onnxkit.errors import ExternalDataError


@dataclass(frozen=True)
class ExternalFile:
    """A file of external weights: path relative to the model, and its size on disk."""

    location: str
    size_bytes: int


def iter_tensors(model: onnx.ModelProto) -> Iterator[onnx.TensorProto]:
    """Every tensor stored in the model: initializers and constant attributes, in subgraphs and
    model-local functions too."""
    yield from _graph_tensors(model.graph)
    for function in model.functions:
        yield from _node_tensors(function.node)


def _graph_tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    yield from _node_tensors(graph.node)


def _node_tensors(nodes: Iterable[onnx.NodeProto]) -> Iterator[onnx.TensorProto]:
    for node in nodes:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            for graph in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                yield from _graph_tensors(graph)


def _external_fields(tensor: onnx.TensorProto) -> dict[str, str]:
    return {e.key: e.value for e in tensor.external_data}


_HALF_BYTE_TYPES = {onnx.TensorProto.INT4, onnx.TensorProto.UINT4,
                    getattr(onnx.TensorProto, "FLOAT4E2M1", -1)}


def _span(tensor: onnx.TensorProto, fields: dict[str, str], where: str) -> tuple[int, int]:
    """(offset, length) of a tensor's bytes, checked against what its dims and type need."""
    try:
        offset = int(fields.get("offset", 0))
        length = int(fields["length"]) if "length" in fields else None
    except ValueError as e:
        raise ExternalDataError(f"{where} has a non-numeric external offset or length "
                                f"({fields}). The model is damaged: re-export it.") from e
    needed = _nbytes(tensor)
    if length is None:
        length = needed if needed is not None else 0
    elif needed is not None and length != needed:
        raise ExternalDataError(
            f"{where} has dims {list(tensor.dims)} ({needed} bytes) but its external data "
            f"entry says {length} bytes. The model is damaged: re-export it.")
    if offset < 0 or length < 0:
        raise ExternalDataError(f"{where} has a negative external offset or length ({fields}).")
    return offset, length


def _nbytes(tensor: onnx.TensorProto) -> int | None:
    count = math.prod(tensor.dims)
    if tensor.data_type in _HALF_BYTE_TYPES:
        return (count + 1) // 2
    try:
        return count * onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
    except (KeyError, TypeError, ValueError):
        return None  # strings and unknown types: no fixed size to check against


def validate(model: onnx.ModelProto, base_dir: Path) -> tuple[ExternalFile, ...]:
    """Check every external reference (without reading weights) and list the files.

    A location must be relative, stay inside ``base_dir`` (even through symlinks) and the file
    must hold every byte the tensors claim; anything else raises :class:`ExternalDataError`.
    """
    base = os.path.realpath(base_dir)
    sizes: dict[str, int] = {}
    for tensor in iter_tensors(model):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        fields = _external_fields(tensor)
        location = fields.get("location", "")
        where = f"tensor '{tensor.name}'"
        if not location:
            raise ExternalDataError(
                f"{where} is marked as external data but names no file (no 'location'). "
                "The model is damaged: re-export it with its external data."
            )
        target = os.path.realpath(os.path.join(base, location))
        if os.path.isabs(location) or os.path.commonpath([base, target]) != base:
            raise ExternalDataError(
                f"{where} stores its weights at '{location}', which is outside the model's "
                f"folder '{base}'. onnxkit refuses to read files outside it; move the data "
                "file next to the model and fix the location."
            )
        if not os.path.isfile(target):
            raise ExternalDataError(
                f"{where} needs the external data file '{location}', which is missing from "
                f"'{base}'. Copy the data file next to the model (it must keep that name)."
            )
        size = sizes.setdefault(location, os.path.getsize(target))
        offset, length = _span(tensor, fields, where)
        if offset + length > size:
            raise ExternalDataError(
                f"{where} needs bytes {offset}..{offset + length} of '{location}', "
                f"but that file has only {size} bytes: it is truncated. Copy it again."
            )
    return tuple(ExternalFile(loc, n) for loc, n in sorted(sizes.items()))
