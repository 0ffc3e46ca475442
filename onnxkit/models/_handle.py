"""``Model``: a handle on an ONNX file (parsed lazily, validated), and its lineage (``Step``)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import onnx

from onnxkit.errors import InvalidModelError, ModelChangedError, ModelNotFoundError
from onnxkit.models import _external
from onnxkit.models._external import ExternalFile
from onnxkit.results import fmt_bytes, html_table

ModelLike = Union[str, "os.PathLike[str]", bytes, onnx.ModelProto, "Model"]

_LINEAGE_SUFFIX = ".onnxkit.json"
# (proto without weights, external files) of the parse
_Parsed = tuple[onnx.ModelProto, tuple[ExternalFile, ...]]
Stamp = tuple[int, int, int]  # (inode, mtime in ns, size): a replaced file gets a new inode


@dataclass(frozen=True)
class Step:
    """One transformation in a model's lineage: what was done, with which options, to what."""

    op: str
    params: dict[str, Any] = field(default_factory=dict)
    source: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op, "params": self.params, "source": self.source,
                "details": self.details}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Step:
        return cls(d["op"], d.get("params", {}), d.get("source"), d.get("details", {}))

    def call(self) -> str:
        """The step as the call that made it: ``"optimize(level='basic', simplify=True)"``
        (unset options left out)."""
        params = ", ".join(f"{k}={v!r}" for k, v in self.params.items()
                           if v is not None and v != [])
        return f"{self.op}({params})"

    def notes(self) -> str:
        """What the step checked, in words: ``"outputs verified, speedup 1.21x"`` ("" if
        nothing)."""
        notes = []
        check = self.details.get("verification")
        if check is not None:
            notes.append("outputs verified" if check.get("passed") else
                         "outputs differ: " + "; ".join(check.get("failed", [])))
        if "speedup" in self.details:
            speedup = self.details["speedup"]
            notes.append(f"speedup {speedup:.2f}x" +
                         (" (slower: keep the model before it)" if speedup < 1 else ""))
        if "size_ratio" in self.details:
            notes.append(f"size {self.details['size_ratio']:.2f}x")
        return ", ".join(notes)


def lineage_file(model_path: Path) -> Path:
    """The sidecar that records a derived model's lineage (and marks it as onnxkit's own)."""
    return model_path.with_name(model_path.name + _LINEAGE_SUFFIX)


def _read_lineage(model_path: Path) -> tuple[Step, ...]:
    try:
        data = json.loads(lineage_file(model_path).read_text())
        return tuple(Step.from_dict(s) for s in data["lineage"])
    except (OSError, ValueError, KeyError, TypeError):
        return ()


class Model:
    """A handle on an ONNX model file.

    The proto is parsed lazily, without external weights (``to_proto()`` loads them).
    ``os.fspath(model)`` gives the path, so a ``Model`` can be passed wherever onnx or
    onnxruntime expect a file name. A handle means the file as it was when the handle was made:
    if something replaces the file later, using the handle raises
    :class:`~onnxkit.errors.ModelChangedError` instead of silently meaning another model.

    Examples:
        >>> import onnxkit, onnx
        >>> m = onnxkit.load(onnxkit.samples.tiny_model())
        >>> m.name, m.proto.graph.node[0].op_type
        ('tiny', 'Gemm')
    """

    def __init__(self, path: str | os.PathLike[str], *, lineage: tuple[Step, ...] | None = None):
        self._path = Path(path).absolute()
        self._lineage = tuple(lineage) if lineage is not None else _read_lineage(self._path)
        self._cached: _Parsed | None = None
        self._stamp: Stamp | None = _stamp_of(self._path) if self._path.is_file() else None

    @property
    def path(self) -> Path:
        return self._path

    @property
    def name(self) -> str:
        """File name without ``.onnx``: ``digits_cnn.fp16.onnx`` -> ``digits_cnn.fp16``."""
        name = self._path.name
        return name[: -len(".onnx")] if name.endswith(".onnx") else name

    @property
    def lineage(self) -> tuple[Step, ...]:
        """The steps that produced this file, oldest first (empty for a user's own file)."""
        return self._lineage

    @property
    def proto(self) -> onnx.ModelProto:
        """The parsed model without external weights (shapes are all there). Do not mutate."""
        return self._load()[0]

    @property
    def external_data(self) -> tuple[ExternalFile, ...]:
        """External weight files beside the model, validated but not read."""
        return self._load()[1]

    @property
    def size_bytes(self) -> int:
        """Size on disk: the model file plus its external data files."""
        folder = self._path.parent  # stat afresh: the data files may change independently
        return stat_model_file(self._path).st_size + sum(
            (folder / f.location).stat().st_size for f in self.external_data)

    def to_proto(self, *, with_weights: bool = True) -> onnx.ModelProto:
        """A fresh copy of the proto, with external weights loaded unless ``with_weights=False``."""
        proto = onnx.ModelProto()
        proto.CopyFrom(self.proto)
        if with_weights and self.external_data:
            onnx.load_external_data_for_model(proto, str(self._path.parent))
        return proto

    def _load(self) -> _Parsed:
        stat = stat_model_file(self._path)
        stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if self._stamp is None:
            self._stamp = stamp  # a handle made before its file existed: pinned at first use
        if stamp != self._stamp:
            raise ModelChangedError(
                f"'{self._path}' was replaced since this handle to it was made (another step "
                "or program wrote a different model there), so the handle would now mean "
                "another model. onnxkit.load(path) opens the file as it is now.")
        if self._cached is None:
            proto = _parse(self._path, stat.st_size)
            self._cached = (proto, _external.validate(proto, self._path.parent))
        return self._cached

    def __fspath__(self) -> str:
        return str(self._path)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Model) and other._path == self._path

    def __hash__(self) -> int:
        return hash(self._path)

    def __repr__(self) -> str:
        return f"Model('{self.name}', path='{self._path}')"

    def _repr_html_(self) -> str:
        rows = [("path", self._path), ("size", fmt_bytes(self.size_bytes))]
        rows += [(f"step {i + 1}", _describe(s)) for i, s in enumerate(self._lineage)]
        return html_table(("model", self.name), rows)


def _describe(step: Step) -> str:
    params = ", ".join(f"{k}={v!r}" for k, v in step.params.items())
    return f"{step.op}({params})"


def _stamp_of(path: Path) -> Stamp:
    stat = path.stat()
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


def stat_model_file(path: Path) -> os.stat_result:
    if path.is_dir():
        inside = sorted(p.name for p in path.glob("*.onnx"))[:5]
        hint = f" It contains: {', '.join(inside)}." if inside else " It contains no .onnx file."
        raise InvalidModelError(f"'{path}' is a folder, not an ONNX model file.{hint}")
    try:
        return path.stat()
    except FileNotFoundError as e:
        raise ModelNotFoundError(
            f"No model file at '{path}'. Check the path (relative paths start from "
            f"'{Path.cwd()}')."
        ) from e
    except OSError as e:
        raise InvalidModelError(f"Cannot read the model file '{path}': {e}.") from e


def _parse(path: Path, size: int) -> onnx.ModelProto:
    if size == 0:
        raise InvalidModelError(f"'{path}' is empty (0 bytes): export or copy the model again.")
    try:
        proto = onnx.load_model(str(path), load_external_data=False)
    except Exception as e:  # protobuf raises DecodeError, RuntimeError or others on bad bytes
        raise InvalidModelError(
            f"'{path}' ({size} bytes) is not a readable ONNX model: {_what_it_looks_like(path)} "
            "Export or copy the model again."
        ) from e
    check_parsed(proto, f"'{path}'")
    return proto


def parse_bytes(data: bytes, what: str = "the bytes") -> onnx.ModelProto:
    """Parse serialized model bytes, with the same checks as a file."""
    if not data:
        raise InvalidModelError(f"{what} are empty: there is no model to load.")
    try:
        proto = onnx.load_model_from_string(data)
    except Exception as e:
        raise InvalidModelError(
            f"{what} ({len(data)} bytes) do not parse as an ONNX model; they may be truncated "
            "or not a model at all."
        ) from e
    check_parsed(proto, what)
    return proto


def check_parsed(proto: onnx.ModelProto, what: str) -> None:
    # Protobuf happily parses many byte strings (random ones, or a file cut at a field
    # boundary) into a half-empty message; a real model always has these.
    if proto.ir_version <= 0 or not proto.HasField("graph"):
        raise InvalidModelError(
            f"{what} parsed as protobuf but has no IR version or no graph: it is not an ONNX "
            "model (or it is badly truncated). Export or copy the model again."
        )
    if not proto.opset_import:
        raise InvalidModelError(
            f"{what} has no opset imports, which every ONNX model has: the file is probably "
            "truncated. Export or copy the model again."
        )


def _what_it_looks_like(path: Path) -> str:
    with open(path, "rb") as f:
        head = f.read(64)
    text = head.decode("utf-8", errors="ignore")
    if len(text) >= len(head) - 3 and all(c.isprintable() or c.isspace() for c in text):
        return f"it looks like a text file (it starts with {text[:40]!r})."
    return "the bytes are not valid protobuf (the file may be truncated or corrupt)."
