"""``demo``: the whole deployment path on the digits sample, written up as one HTML report."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from onnxkit._demo import _render
from onnxkit._demo._report import DemoReport, Stage
from onnxkit._demo._stages import Run
from onnxkit.base import require
from onnxkit.bundled.manifest import check_target
from onnxkit.errors import ParameterError, WorkspaceError
from onnxkit.models import workspace


def demo(out: str | os.PathLike[str] = "report.html", *,
         bundle_dir: str | os.PathLike[str] | None = None, quick: bool = False,
         overwrite: bool = False, progress: Callable[[Stage], None] | None = None
         ) -> DemoReport:
    """Take the digits CNN from PyTorch to a verified bundle and write an HTML report.

    The stages: train the sample (:func:`onnxkit.samples.digits_torch`), convert it
    (:func:`onnxkit.convert.from_torch`, dynamic batch), optimize it
    (:func:`onnxkit.optimize` at ORT's portable ``basic`` level, then
    :func:`onnxkit.to_fp16`), quantize it (int8 static calibrated on the first 96 held-out
    images, and int8 dynamic), compare every variant in a :class:`~onnxkit.Study` on the
    other held-out images and pick the fastest within one point of accuracy, then bundle it
    (:func:`onnxkit.deploy.bundle`) and verify the bundle. Intermediate models go to the
    workspace. The report is one HTML file that works offline (plotly.js is embedded once).

    Args:
        out: the report's path. An existing file is refused unless ``overwrite``; the report
            is written atomically (temp file + rename).
        bundle_dir: the bundle folder (default: ``<workspace>/bundles/digits-demo``, replaced
            on each run). A folder you name follows :func:`onnxkit.deploy.bundle`'s rule: new
            or empty, or a previous bundle with ``overwrite``.
        quick: fewer latency rounds and runs (for tests; the figures get noisier).
        overwrite: replace an existing report at ``out`` and a previous bundle in
            ``bundle_dir``.
        progress: called with each finished :class:`Stage`; it may raise
            :class:`~onnxkit.errors.Cancelled` to stop.

    Raises:
        WorkspaceError: ``out`` exists (without ``overwrite``), is a folder, or its folder is
            missing; ``bundle_dir`` may not be used. Checked before any work starts.
        MissingDependencyError: torch, scikit-learn or plotly is not installed.

    Examples:
        >>> import onnxkit
        >>> report = onnxkit.demo("digits.html", quick=True)  # doctest: +SKIP
        >>> [s.name for s in report.stages]  # doctest: +SKIP
        ['sample', 'convert', 'optimize', 'quantize', 'compare', 'bundle']
    """

    target = _report_target(out, overwrite)
    if bundle_dir is None:
        folder, replace = workspace().root / "bundles" / "digits-demo", True
    else:
        folder, replace = Path(bundle_dir).absolute(), overwrite
    check_target(folder, replace)  # fail now, not after a minute of work
    for module in ("torch", "sklearn", "plotly"):
        require(module, purpose="onnxkit.demo")
    started = time.perf_counter()

    run = Run(quick, progress)
    run.all(folder, replace)
    report = run.report(target, folder, time.perf_counter() - started)

    _write_atomically(target, _render.page(report))
    return report


def _report_target(out: str | os.PathLike[str], overwrite: bool) -> Path:
    if not isinstance(out, (str, os.PathLike)) or not str(out):
        raise ParameterError(f"demo(out=...) must be a file path such as 'report.html'; got "
                             f"{out!r}.")
    target = Path(out).absolute()
    if target.is_dir():
        raise WorkspaceError(f"demo(out=...): '{target}' is a folder; give the report's file "
                             "path, e.g. report.html.")
    if target.exists() and not overwrite:
        raise WorkspaceError(f"demo(out=...): '{target}' already exists; onnxkit does not "
                             "overwrite files unless asked. Choose another name, or pass "
                             "overwrite=True (--overwrite in the shell).")
    if not target.parent.is_dir():
        raise WorkspaceError(f"demo(out=...): the folder '{target.parent}' does not exist; "
                             "create it first.")
    return target


def _write_atomically(target: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.tmp-", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the report from others
        os.replace(tmp, target)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise WorkspaceError(f"demo: could not write the report '{target}': {e}.") from e
