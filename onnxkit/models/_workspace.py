"""The workspace: the folder where derived models are written, atomically, never over user files."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import onnx

from onnxkit._version import __version__
from onnxkit.errors import WorkspaceError
from onnxkit.models._handle import Model, Step, lineage_file

# Protobuf cannot serialize a message over 2 GiB; leave headroom for the graph itself.
_PROTOBUF_LIMIT = 1_800_000_000
_DEFAULT_ROOT = "onnxkit-work"


class Workspace:
    """A folder for derived models. Files carry a lineage sidecar; only those are ever replaced."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root).absolute()

    def __repr__(self) -> str:
        return f"Workspace('{self.root}')"

    def path_for(self, stem: str, tag: str | None = None) -> Path:
        """Where a model named ``stem`` after step ``tag`` goes: ``root/stem.tag.onnx``.

        An existing file there is reused only if onnxkit wrote it (it has a lineage sidecar);
        otherwise a free name ``stem.tag-2.onnx``, ``-3``... is chosen.
        """
        base = safe_name(stem) + (f".{safe_name(tag)}" if tag else "")
        for n in range(1, 10_000):
            path = self.root / (f"{base}.onnx" if n == 1 else f"{base}-{n}.onnx")
            if not path.exists() or lineage_file(path).exists():
                return path
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
    ) -> Model:
        """Write ``proto`` atomically and return its ``Model`` with ``parent``'s lineage + ``step``.

        Args:
            tag: the name's step part (``"int8-static"``); none for imports.
            external: store weights in ``<file>.data``; by default when the parent did or when
                the model would exceed protobuf's 2 GiB limit.
            owned: False when ``proto`` belongs to the caller: it is then copied before weights
                are moved out (onnx does that in place).
            out: write exactly there instead (a user's chosen path: refused if it exists).
        """
        self.ensure_root()
        target = self.path_for(stem, tag) if out is None else free_target(out)
        if parent is not None and target == parent.path:
            raise WorkspaceError(f"Refusing to overwrite the source model '{target}'.")
        if external is None:
            external = bool(parent is not None and parent.external_data) or _too_big(proto)
        if external and not owned:
            proto = _copy(proto)
        lineage = (parent.lineage if parent is not None else ()) + (step,)
        _atomic_save(proto, target, external)
        _write_lineage(target, lineage)
        return Model(target, lineage=lineage)

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


def _atomic_save(proto: onnx.ModelProto, target: Path, external: bool) -> None:
    """Write into a private temp folder, then move the data file and finally the model in place.

    A reader never sees a half-written file, and an existing model is replaced in one rename.
    """
    data_name = target.name + ".data"
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
    try:
        tmp_model = tmp / target.name
        if external:
            onnx.save_model(proto, str(tmp_model), save_as_external_data=True,
                            all_tensors_to_one_file=True, location=data_name, size_threshold=1024)
        else:
            onnx.save_model(proto, str(tmp_model))
        if (tmp / data_name).exists():
            os.replace(tmp / data_name, target.parent / data_name)
        elif (target.parent / data_name).exists() and lineage_file(target).exists():
            (target.parent / data_name).unlink()  # stale weights of the model being replaced
        os.replace(tmp_model, target)
    except OSError as e:
        raise WorkspaceError(f"Could not write '{target}': {e}.") from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


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
