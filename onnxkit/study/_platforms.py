"""``platforms=`` of :class:`~onnxkit.Study` and :func:`~onnxkit.quantize.tune`: each model is
run on the other platform too (:func:`onnxkit.deploy.verify`, emulated) on the first rows of
the evaluation data and compared with this machine, with the tolerance its precision warrants.
A model whose outputs diverge there is marked and never picked.

A platform this machine cannot emulate is an error (:class:`~onnxkit.errors.PlatformError`)
raised before anything is measured, never a silent skip.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from onnxkit import deploy
from onnxkit.errors import ParameterError
from onnxkit.models import Model

ROWS = 64  # rows of the data each platform run takes: divergence shows on a few, emulation is slow


def platforms_arg(value: Any, where: str) -> tuple[str, ...]:
    """``["linux/arm64"]`` -> ``("linux/arm64",)``; None or empty: ``()``."""
    if value is None:
        return ()
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or \
            not all(isinstance(n, str) and n in deploy.PLATFORMS for n in names):
        raise ParameterError(f"{where}(platforms=...) must be a list of platforms from "
                             f"{list(deploy.PLATFORMS)}; got {value!r}.")
    return tuple(dict.fromkeys(names))


def prepare(platforms: tuple[str, ...]) -> None:
    """Build (or find cached) each platform's root now: a missing capability is raised here,
    before the study or search measures anything."""
    for name in platforms:
        deploy.platform_root(name)


def verdicts(model: Model, platforms: tuple[str, ...], data: Mapping[str, np.ndarray]
             ) -> dict[str, str]:
    """platform -> "" when ``model``'s outputs there match this machine's within tolerance,
    else how they differ (in words)."""
    feeds = {k: v[:ROWS] for k, v in data.items()}
    return {name: describe(deploy.verify(model, platform=name, feeds=feeds).platform)
            for name in platforms}


def describe(check: deploy.PlatformCheck | None) -> str:
    if check is None:
        return "not run: the bundle of the model failed its own check"
    if check:
        return ""
    if check.error:
        return check.error
    bad = [o for o in check.outputs if not o.passed]
    return "; ".join(f"'{o.name}' max abs diff {_g(o.max_abs)} > tolerance "
                     f"(atol {check.tolerances.get(o.name, (0.0, 0.0))[1]:.3g}, "
                     f"{check.precision})" for o in bad)


def note(found: Mapping[str, str]) -> str:
    """The variant's note: where it diverges ("" when nowhere)."""
    return "; ".join(f"diverges on {name}: {why}" for name, why in found.items() if why)


def _g(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"
