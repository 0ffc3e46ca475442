"""``verify``: is a bundle folder intact, does its model still run, and (``platform=``) does it
give the same outputs on another platform?"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from onnxkit.base import one_of
from onnxkit.bundled import manifest as _manifest
from onnxkit.bundled.manifest import SMOKE_INPUTS
from onnxkit.bundled.predict import LANGUAGE_MODEL
from onnxkit.deploy._bundle import bundle as make_bundle
from onnxkit.deploy._emulated_root import Target, resolve_platform
from onnxkit.deploy._lm_bundle import smoke_tokens
from onnxkit.deploy._platform import TOLERANCES, PlatformCheck, Precision, check_on
from onnxkit.errors import OnnxkitError, ParameterError
from onnxkit.models import Model, ModelLike, load, workspace
from onnxkit.results import Result, html_table
from onnxkit.runtime import Feeds, create_session, prepare_feeds, random_inputs, run_session


@dataclass(frozen=True)
class BundleCheck(Result):
    """Result of :func:`verify`: truthy when every hash matches and the model ran.

    Attributes:
        path: the bundle folder.
        hashes_ok: every file in the manifest exists with its recorded size and SHA-256.
        failed_files: ``{file: "missing" | "altered (...)"}``.
        smoke_ok: the model ran on random inputs with the manifest's output shapes (False
            when it was not run because a hash failed).
        output_shapes: ``{output: shape}`` of that run.
        error: why the check failed, in words ("" when it passed).
        platform: with ``verify(..., platform=...)``, the bundle run there vs here
            (:class:`PlatformCheck`); None otherwise.
    """

    path: Path
    hashes_ok: bool
    smoke_ok: bool
    failed_files: dict[str, str] = field(default_factory=dict)
    output_shapes: dict[str, list[int]] = field(default_factory=dict)
    error: str = ""
    platform: PlatformCheck | None = None

    def __bool__(self) -> bool:
        return self.hashes_ok and self.smoke_ok and (self.platform is None or bool(self.platform))

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "passed": bool(self), "hashes_ok": self.hashes_ok,
                "failed_files": dict(self.failed_files), "smoke_ok": self.smoke_ok,
                "output_shapes": dict(self.output_shapes), "error": self.error,
                "platform": None if self.platform is None else self.platform.to_dict()}

    def __repr__(self) -> str:
        lines = [f"Bundle check of '{self.path}': {'passed' if self else 'FAILED'}"]
        lines.append("  hashes: ok" if self.hashes_ok else "  hashes: FAILED")
        lines += [f"    {name}: {why}" for name, why in self.failed_files.items()]
        if self.smoke_ok:
            shapes = ", ".join(f"{k}{v}" for k, v in self.output_shapes.items())
            lines.append(f"  smoke inference: ok ({shapes})")
        else:
            lines.append("  smoke inference: " + ("not run" if not self.hashes_ok else "FAILED"))
        if self.error:
            lines.append(f"  {self.error}")
        if self.platform is not None:
            lines += [f"  {line}" for line in self.platform.lines()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = [("hashes", "ok" if self.hashes_ok else "FAILED")]
        rows += [(f"  {name}", why) for name, why in self.failed_files.items()]
        rows.append(("smoke inference", "ok " + ", ".join(
            f"{k}{v}" for k, v in self.output_shapes.items()) if self.smoke_ok else "FAILED"))
        if self.error:
            rows.append(("error", self.error))
        page = html_table(("bundle", str(self.path)), rows,
                          bad=[r[1] != "ok" and not r[1].startswith("ok ") for r in rows])
        return page + ("" if self.platform is None else self.platform._repr_html_())


def verify(bundle: str | os.PathLike[str] | ModelLike, *, platform: str | None = None,
           feeds: Feeds | None = None, precision: Precision | None = None) -> BundleCheck:
    """Check a bundle: every file's SHA-256 against ``manifest.json``, then one smoke inference;
    with ``platform``, also run it on that platform and compare its outputs with this machine's.

    The model is loaded only when every hash matches. The smoke inference runs on the bundle's
    smoke inputs (or random ones, batch 1) on the CPU and must give the output shapes recorded
    when the bundle was made.

    With ``platform="linux/arm64"`` the bundle's own ``predict.py`` runs in an emulated arm64
    Debian root (built once with debootstrap and qemu-user-static, cached in the user cache; its
    pinned ``requirements.txt`` installed there once) and here, on the same inputs, and every
    output is compared with the tolerance the model's precision warrants (``check.platform``,
    a :class:`PlatformCheck`). Needs root on an x86_64 Linux host; the first call builds the root
    (minutes), later ones take seconds to a minute. Emulated run times are not the device's
    speed and are not reported as such.

    Args:
        bundle: the folder :func:`bundle` wrote. With ``platform``, also a model: it is bundled
            into a temporary folder first (``feeds`` as its smoke inputs), so a single model and
            its inputs can be checked.
        platform: ``"linux/arm64"`` (or ``"arm64"``, ``"aarch64"``); default: this machine only.
        feeds: the inputs of the platform run (e.g. held-out data; default: the bundle's smoke
            inputs).
        precision: ``"fp32"``, ``"fp16"``, ``"int8-static"``, ``"int8-dynamic"`` or ``"int4"``,
            which sets the tolerances; default: read from the model's graph.

    Raises:
        ParameterError: ``bundle`` is not a folder (and no ``platform`` makes a model welcome),
            or an unknown ``platform``/``precision``.
        PlatformError: the platform cannot be emulated here (no root, no binfmt_misc, no
            qemu-user-static, no debootstrap) or a setup step failed; the message names it.

    Examples:
        >>> import onnxkit
        >>> folder = onnxkit.workspace().root / "doc-bundles" / "verify"
        >>> _ = onnxkit.deploy.bundle(onnxkit.samples.tiny_model(), folder, overwrite=True)
        >>> check = onnxkit.deploy.verify(folder)
        >>> check.hashes_ok, check.output_shapes
        (True, {'y': [1, 3]})
    """
    target = None if platform is None else resolve_platform(platform, "verify")
    if precision is not None:
        one_of(precision, tuple(TOLERANCES), "verify", "precision")
    if isinstance(bundle, (str, os.PathLike)) and Path(bundle).is_dir():
        return _verify_folder(Path(bundle).absolute(), target, feeds, precision)
    if target is None:
        shown = Path(bundle).absolute() if isinstance(bundle, (str, os.PathLike)) \
            else type(bundle).__name__
        raise ParameterError(f"verify(bundle=...): '{shown}' is not a folder. Pass the folder "
                             "that bundle() wrote (or a model together with platform=...).")
    return _verify_model(load(bundle), target.name, feeds, precision)


def _verify_folder(folder: Path, target: Target | None, feeds: Feeds | None,
                   precision: Precision | None) -> BundleCheck:
    manifest = _manifest.read_manifest(folder)
    if manifest is None:
        return BundleCheck(folder, False, False, {_manifest.MANIFEST: "missing or not onnxkit's"},
                           error="no onnxkit manifest.json: this is not a bundle, or it is "
                                 "damaged")
    failed = _manifest.check_files(folder, manifest)
    if failed:
        names = ", ".join(f"'{n}' ({why})" for n, why in failed.items())
        return BundleCheck(folder, False, False, failed,
                           error=f"refusing to load the model: {names}. Restore the original "
                                 "files or make the bundle again.")
    if manifest.get("kind") == LANGUAGE_MODEL:
        if target is not None:
            raise ParameterError("verify(platform=...) runs tensor bundles on another "
                                 "platform; a language model's bundle is checked here only. "
                                 "Leave platform unset.")
        return _smoke_text(folder, manifest)
    check = _smoke(folder, manifest)
    if target is None or not check:
        return check
    model = Model(folder / manifest["model"]["file"])
    inputs = prepare_feeds(model, feeds) if feeds is not None else \
        _smoke_inputs(folder, model, manifest)
    return replace(check, platform=check_on(target, folder, manifest, inputs, precision))


def _verify_model(model: Model, platform: str, feeds: Feeds | None,
                  precision: Precision | None) -> BundleCheck:
    """A model and its inputs: bundled into a temporary folder of the workspace, checked there."""
    ws = workspace()
    ws.ensure_root()
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-verify-", dir=ws.root))
    try:
        made = make_bundle(model, tmp / "bundle", feeds=feeds)
        return replace(verify(made.path, platform=platform, precision=precision),
                       path=model.path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _smoke_inputs(folder: Path, model: Model, manifest: Mapping[str, Any]
                 ) -> dict[str, np.ndarray]:
    """The smoke test's own inputs when the bundle kept them (hash-checked like every file),
    else random ones of the shapes it recorded."""
    if (folder / SMOKE_INPUTS).exists():
        with np.load(folder / SMOKE_INPUTS, allow_pickle=True) as npz:  # our own, verified
            return {k: npz[k] for k in npz.files}
    shapes = manifest.get("smoke_test", {}).get("inputs", {})
    return random_inputs(model, dims={k: v for k, v in shapes.items()})


def _smoke_text(folder: Path, manifest: dict[str, Any]) -> BundleCheck:
    """A language model's bundle: its greedy tokens on the smoke prompt, decoded again by
    its runtime, must be those recorded (``lm.generate``'s when it was made)."""
    expected = manifest["smoke_test"]["tokens"]
    try:
        tokens = smoke_tokens(folder, manifest["llm"])
    except Exception as e:  # onnxruntime-genai's RuntimeError, with its own text
        return BundleCheck(folder, True, False, error=f"smoke generation failed: {e}")
    shapes = {"tokens": [len(tokens)]}
    if tokens != expected:
        return BundleCheck(folder, True, False, output_shapes=shapes,
                           error=f"greedy tokens {tokens} differ from the manifest's {expected}")
    return BundleCheck(folder, True, True, output_shapes=shapes)


def _smoke(folder: Path, manifest: dict[str, Any]) -> BundleCheck:
    model = Model(folder / manifest["model"]["file"])
    try:
        outputs = run_session(create_session(model, (("CPUExecutionProvider", {}),)),
                              _smoke_inputs(folder, model, manifest), model.name)
    except OnnxkitError as e:
        return BundleCheck(folder, True, False, error=f"smoke inference failed: {e}")
    shapes = {k: list(v.shape) for k, v in outputs.items()}
    expected = {k: v["shape"] for k, v in manifest.get("smoke_test", {}).get("outputs", {}).items()}
    if expected and shapes != expected:
        return BundleCheck(folder, True, False, output_shapes=shapes,
                           error=f"output shapes {shapes} differ from the manifest's {expected}")
    return BundleCheck(folder, True, True, output_shapes=shapes)
