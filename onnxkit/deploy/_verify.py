"""``verify``: is a bundle folder intact, and does its model still run?"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from onnxkit.bundled import manifest as _manifest
from onnxkit.bundled.manifest import SMOKE_INPUTS
from onnxkit.errors import OnnxkitError, ParameterError
from onnxkit.models import Model
from onnxkit.results import Result, html_table
from onnxkit.runtime import create_session, random_inputs, run_session


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
    """

    path: Path
    hashes_ok: bool
    smoke_ok: bool
    failed_files: dict[str, str] = field(default_factory=dict)
    output_shapes: dict[str, list[int]] = field(default_factory=dict)
    error: str = ""

    def __bool__(self) -> bool:
        return self.hashes_ok and self.smoke_ok

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "passed": bool(self), "hashes_ok": self.hashes_ok,
                "failed_files": dict(self.failed_files), "smoke_ok": self.smoke_ok,
                "output_shapes": dict(self.output_shapes), "error": self.error}

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
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = [("hashes", "ok" if self.hashes_ok else "FAILED")]
        rows += [(f"  {name}", why) for name, why in self.failed_files.items()]
        rows.append(("smoke inference", "ok " + ", ".join(
            f"{k}{v}" for k, v in self.output_shapes.items()) if self.smoke_ok else "FAILED"))
        if self.error:
            rows.append(("error", self.error))
        return html_table(("bundle", str(self.path)), rows,
                             bad=[r[1] != "ok" and not r[1].startswith("ok ") for r in rows])


def verify(bundle_dir: str | os.PathLike[str]) -> BundleCheck:
    """Check a bundle: every file's SHA-256 against ``manifest.json``, then one smoke inference.

    The model is loaded only when every hash matches. The smoke inference runs on random inputs
    (batch 1) on the CPU and must give the output shapes recorded when the bundle was made.

    Raises:
        ParameterError: ``bundle_dir`` is not a folder.

    Examples:
        >>> import onnxkit
        >>> folder = onnxkit.workspace().root / "doc-bundles" / "verify"
        >>> _ = onnxkit.deploy.bundle(onnxkit.samples.tiny_model(), folder, overwrite=True)
        >>> check = onnxkit.deploy.verify(folder)
        >>> check.hashes_ok, check.output_shapes
        (True, {'y': [1, 3]})
    """
    folder = Path(bundle_dir).absolute()
    if not folder.is_dir():
        raise ParameterError(f"verify(bundle_dir=...): '{folder}' is not a folder. Pass the "
                             "folder that bundle() wrote.")
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
    return _smoke(folder, manifest)


def _smoke_inputs(folder: Path, model: Model, manifest: dict[str, Any]) -> dict[str, Any]:
    """The smoke test's own inputs when the bundle kept them (hash-checked like every file),
    else random ones of the shapes it recorded."""
    if (folder / SMOKE_INPUTS).exists():
        with np.load(folder / SMOKE_INPUTS, allow_pickle=True) as npz:  # our own, verified
            return {k: npz[k] for k in npz.files}
    shapes = manifest.get("smoke_test", {}).get("inputs", {})
    return random_inputs(model, dims={k: v for k, v in shapes.items()})


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
