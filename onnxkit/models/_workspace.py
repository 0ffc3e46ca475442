"""The workspace: the folder where derived models are written, atomically, never over user files."""

from __future__ import annotations

import filecmp
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import onnx

from onnxkit._version import __version__
from onnxkit.errors import WorkspaceError
from onnxkit.models._handle import Model, Step, lineage_file

# Protobuf cannot serialize a message over 2 GiB; leave headroom for the graph itself.
_PROTOBUF_LIMIT = 1_800_000_000
_DEFAULT_ROOT = "onnxkit-work"
_MAX_VERSIONS = 10_000  # stem.tag-N.onnx


class Workspace:
    """A folder for derived models. Files carry a lineage sidecar; only those are ever replaced."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root).absolute()

    def __repr__(self) -> str:
        return f"Workspace('{self.root}')"

    def candidates(self, stem: str, tag: str | None = None) -> Iterator[Path]:
        """The names a model ``stem`` after step ``tag`` may take: ``root/stem.tag.onnx``, then
        ``stem.tag-2.onnx``, ``-3``..."""
        base = safe_name(stem) + (f".{safe_name(tag)}" if tag else "")
        for n in range(1, _MAX_VERSIONS):
            yield self.root / (f"{base}.onnx" if n == 1 else f"{base}-{n}.onnx")
        raise WorkspaceError(f"No free file name for '{base}' in {self.root}: clean the folder.")

    def save(
        self,
        proto: onnx.ModelProto,
        *,
        stem: str,
        step: Step,
        parent: Model | None = None,
        tag: str | None = None,
        external: bool | None = None,
        owned: bool = True,
        out: str | os.PathLike[str] | None = None,
        replace: bool = False,
    ) -> Model:
        """Write ``proto`` atomically and return its ``Model`` with ``parent``'s lineage + ``step``.

        A handle never changes meaning: the first of :meth:`candidates` that is free takes the
        model, unless one that onnxkit wrote already holds these very bytes (rerunning a step
        reuses its file). A file onnxkit did not write (no lineage sidecar) is never touched,
        and a different model onnxkit wrote keeps its name and its handles.

        Args:
            tag: the name's step part (``"int8-static"``); none for imports.
            external: store weights in ``<file>.data``; by default when the parent did or when
                the model would exceed protobuf's 2 GiB limit.
            owned: False when ``proto`` belongs to the caller: it is then copied before weights
                are moved out (onnx does that in place).
            out: write exactly there instead (a user's chosen path: refused if it exists).
            replace: write over the first candidate if onnxkit wrote it (the sample cache:
                handles to the old file then refuse to be used).
        """
        self.ensure_root()
        if external is None:
            external = bool(parent is not None and parent.external_data) or _too_big(proto)
        if external and not owned:
            proto = _copy(proto)
        names = iter([free_target(out)]) if out is not None else self.candidates(stem, tag)
        target = _write_new(proto, names, external, replace,
                            avoid=parent.path if parent is not None else None)
        lineage = (parent.lineage if parent is not None else ()) + (step,)
        _write_lineage(target, lineage)
        return Model(target, lineage=lineage)

    def discard(self, model: Model) -> None:
        """Delete a model onnxkit wrote (its file, weights and sidecar): a conversion that
        failed its checks leaves nothing behind. A file without onnxkit's sidecar is never
        deleted."""
        sidecar = lineage_file(model.path)
        if not sidecar.exists():
            return
        for path in (model.path, model.path.with_name(model.path.name + ".data"), sidecar):
            path.unlink(missing_ok=True)

    def annotate(self, model: Model, **details: object) -> Model:
        """Add ``details`` (e.g. a verification) to the last lineage step of a derived model."""
        last = model.lineage[-1]
        step = Step(last.op, last.params, last.source, {**last.details, **details})
        lineage = model.lineage[:-1] + (step,)
        _write_lineage(model.path, lineage)
        return Model(model.path, lineage=lineage)

    def ensure_root(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise WorkspaceError(
                f"Cannot create the workspace folder '{self.root}': {e}. Choose another with "
                "onnxkit.set_workspace(path)."
            ) from e


def free_target(out: str | os.PathLike[str]) -> Path:
    target = Path(out).absolute()
    if target.exists():
        raise WorkspaceError(f"out='{target}' already exists; onnxkit never overwrites a file "
                             "it did not choose. Pick another name or delete it first.")
    if not target.parent.is_dir():
        raise WorkspaceError(f"out='{target}': the folder '{target.parent}' does not exist.")
    return target


def _write_lineage(model_path: Path, lineage: tuple[Step, ...]) -> None:
    lineage_file(model_path).write_text(json.dumps(
        {"onnxkit": __version__, "lineage": [s.to_dict() for s in lineage]}, indent=1, default=str))


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", name).strip("._") or "model"


def _too_big(proto: onnx.ModelProto) -> bool:
    try:
        return proto.ByteSize() > _PROTOBUF_LIMIT
    except (ValueError, OverflowError):
        return True


def _copy(proto: onnx.ModelProto) -> onnx.ModelProto:
    out = onnx.ModelProto()
    out.CopyFrom(proto)
    return out


def _write_new(proto: onnx.ModelProto, names: Iterator[Path], external: bool, replace: bool,
               avoid: Path | None) -> Path:
    """Write into a private temp folder, then move the files to the first usable name.

    A reader never sees a half-written file: the data file moves first, the model last, each in
    one rename. The bytes are written for the name they will take (external data names its
    file), so a name already taken is compared as it would be written.
    """
    for target in names:
        if target == avoid:
            continue  # never the source model of this step
        ours = lineage_file(target).exists()
        if target.exists() and not ours:
            continue  # a user's file
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
        try:
            written = _write_files(proto, tmp, target.name, external)
            if target.exists() and _same_files(written, target.parent):
                return target  # the identical model: its handles stay valid
            if target.exists() and not replace:
                continue  # another model: it keeps this name
            for path in sorted(written, key=lambda p: p.name == target.name):  # model last
                os.replace(path, target.parent / path.name)
            stale = target.with_name(target.name + ".data")
            if stale.exists() and len(written) == 1:
                stale.unlink()  # the weights of the model this one replaced
            return target
        except OSError as e:
            raise WorkspaceError(f"Could not write '{target}': {e}.") from e
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    raise AssertionError("candidates() ends by raising")


def _write_files(proto: onnx.ModelProto, folder: Path, name: str, external: bool
                 ) -> list[Path]:
    model = folder / name
    if external:
        onnx.save_model(proto, str(model), save_as_external_data=True,
                        all_tensors_to_one_file=True, location=name + ".data",
                        size_threshold=1024)
    else:
        onnx.save_model(proto, str(model))
    return [p for p in (model, folder / (name + ".data")) if p.exists()]


def _same_files(written: list[Path], folder: Path) -> bool:
    return all((folder / p.name).exists() and filecmp.cmp(p, folder / p.name, shallow=False)
               for p in written)


_current: Workspace | None = None


def workspace() -> Workspace:
    """The current workspace: ``set_workspace``'s, else ``$ONNXKIT_WORKSPACE``, else
    ``./onnxkit-work``."""
    global _current
    if _current is None:
        _current = Workspace(os.environ.get("ONNXKIT_WORKSPACE") or _DEFAULT_ROOT)
    return _current


def set_workspace(root: str | os.PathLike[str]) -> Workspace:
    """Send derived models to ``root`` from now on (created on first write)."""
    global _current
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise WorkspaceError(f"set_workspace(root='{root}'): that path is a file, not a folder.")
    _current = Workspace(root)
    return _current
