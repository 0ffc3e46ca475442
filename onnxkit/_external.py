"""External data (weights stored beside the model file): find, validate, never leave the folder."""

from __future__ import annotations

import os
from collections.abc import Iterator
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
    """Every tensor stored in the model: initializers and constant attributes, subgraphs too."""
    for graph in _iter_graphs(model):
        yield from graph.initializer
        for sparse in graph.sparse_initializer:
            yield sparse.values
            yield sparse.indices
        for node in graph.node:
            for attr in node.attribute:
                if attr.HasField("t"):
                    yield attr.t
                yield from attr.tensors


def _iter_graphs(model: onnx.ModelProto) -> Iterator[onnx.GraphProto]:
    pending = [model.graph]
    pending += [
        a.g for f in model.functions for n in f.node for a in n.attribute if a.HasField("g")
    ]
    while pending:
        graph = pending.pop()
        yield graph
        for node in graph.node:
            for attr in node.attribute:
                if attr.HasField("g"):
                    pending.append(attr.g)
                pending.extend(attr.graphs)


def _external_fields(tensor: onnx.TensorProto) -> dict[str, str]:
    return {e.key: e.value for e in tensor.external_data}


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
        offset = int(fields.get("offset", 0))
        length = int(fields["length"]) if "length" in fields else None
        if offset > size or (length is not None and offset + length > size):
            raise ExternalDataError(
                f"{where} needs bytes {offset}..{offset + (length or 0)} of '{location}', "
                f"but that file has only {size} bytes: it is truncated. Copy it again."
            )
    return tuple(ExternalFile(loc, n) for loc, n in sorted(sizes.items()))
