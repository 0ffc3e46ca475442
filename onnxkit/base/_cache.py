"""The user's cache folder: what is expensive to build and the same from run to run (trained
samples; later, emulated platform roots), kept across workspaces and sessions."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path


def user_cache(*parts: str) -> Path:
    """``$ONNXKIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/onnxkit``, else ``~/.cache/onnxkit``,
    joined with ``parts`` (created)."""
    root = os.environ.get("ONNXKIT_CACHE_DIR") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "onnxkit"
    folder = Path(root, *parts)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def cache_key(*, sources: Iterable[Path], libraries: Iterable[str], extra: str = "") -> str:
    """A key that changes when the code that builds a thing or a library it uses changes:
    the sources' bytes and the libraries' installed versions."""
    digest = hashlib.sha256(extra.encode())
    for path in sorted(sources):
        digest.update(path.name.encode() + path.read_bytes())
    for library in sorted(libraries):
        try:
            digest.update(f"{library}={metadata.version(library)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{library} absent".encode())
    return digest.hexdigest()[:16]


def cached_bytes(path: Path, build: Callable[[], bytes]) -> bytes:
    """The file's bytes, else ``build()``'s, written atomically (a concurrent run that builds
    the same thing replaces it with the same bytes; a reader never sees half a file)."""
    if path.exists():
        return path.read_bytes()
    data = build()
    fd, partial = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(partial, path)
    return data
