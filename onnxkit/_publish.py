"""Public homes: an object the front door exports reads as ``onnxkit.Model``, not as the
private module that defines it (``__module__``, shown by ``help``, reprs and docs).

Each package that exports names calls :func:`publish` once, at the end of its ``__init__``,
so the home is set before any caller sees the object. The defining module is kept in
``__onnxkit_origin__`` (doctest discovery reads it: see the root conftest).
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterable
from typing import Any


def front_door_names(package: str) -> list[str]:
    """The names ``onnxkit/__init__.py`` exports from ``package`` (e.g. ``onnxkit.runtime``)."""
    exports: dict[str, str] = sys.modules["onnxkit"]._EXPORTS  # type: ignore[attr-defined]
    return [name for name, stage in exports.items() if f"onnxkit.{stage}" == package]


def publish(namespace: dict[str, Any], home: str, names: Iterable[str]) -> None:
    """Give the classes and functions ``names`` of ``namespace`` (a package's globals) the
    public home ``home``, when the package defines them."""
    package = namespace["__name__"]
    for name in names:
        obj = namespace[name]
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue  # constants, modules and typing aliases keep no module of their own
        origin = vars(obj).get("__onnxkit_origin__", obj.__module__)  # not inherited
        if origin == package or origin.startswith(package + "."):
            setattr(obj, "__onnxkit_origin__", origin)  # noqa: B010 - any class or function
            obj.__module__ = home
