"""``demo``: the whole deployment path on the digits sample, written up as one HTML report.

sample (a small CNN trained in PyTorch) -> convert (verified against PyTorch) -> optimize
(onnxslim + ORT's portable level, and float16) -> quantize (int8 static, calibrated on held-out
images, and int8 dynamic) -> compare (a :class:`~onnxkit.Study`; the fastest variant within one
point of accuracy) -> bundle (a deployable folder, verified). ``onnxkit demo`` runs it from the
shell, for people without Jupyter. The stages' work is in ``_demo_stages``, the page in
``_demo_render``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from onnxkit.errors import ParameterError, WorkspaceError

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from onnxkit._model import Model
    from onnxkit._providers import ProviderTable
    from onnxkit._study import Study
    from onnxkit._summary import ModelSummary
    from onnxkit.convert import Conversion
    from onnxkit.deploy import Bundle, BundleCheck
    from onnxkit.quantize import LayerErrors

STAGES = ("sample", "convert", "optimize", "quantize", "compare", "bundle")
MAX_ACCURACY_DROP = 0.01  # Study.best's limit: at most one point of accuracy lost
CALIBRATION_ROWS = 96  # the first held-out images calibrate int8 static (6 feeds of 16)
LABELS = [str(d) for d in range(10)]
LATENCY_BATCH = 256  # images per timed run in the comparison
# (rounds, runs) of the Study's interleaved latency measurement: full run, then --quick
TIMING = {False: (3, 50), True: (2, 10)}


@dataclass(frozen=True)
class Stage:
    """One step of the demo: its wall time, its key figure in words, and the figures themselves."""

    name: str
    seconds: float
    headline: str
    figures: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        """``quantize   0.9 s  int8-static size 0.28x acc 98.6%``: what the CLI prints."""
        return f"{self.name:<9} {self.seconds:5.1f} s  {self.headline}"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "seconds": self.seconds, "headline": self.headline,
                "figures": dict(self.figures)}


@dataclass(frozen=True)
class DemoReport:
    """Result of :func:`demo`: the report and bundle written, each stage's figures and timing,
    and the results behind them (for a closer look in a notebook).

    Truthy when the conversion matched PyTorch and the bundle verified.
    """

    path: Path
    bundle_dir: Path
    stages: tuple[Stage, ...]
    best: str
    seconds: float
    quick: bool
    versions: dict[str, str]
    conversion: Conversion = field(repr=False)
    models: dict[str, Model] = field(repr=False)  # variant name -> model (exported first)
    summaries: dict[str, ModelSummary] = field(repr=False)
    layer_errors: LayerErrors = field(repr=False)
    study: Study = field(repr=False)
    bundle: Bundle = field(repr=False)
    check: BundleCheck = field(repr=False)
    machine: ProviderTable = field(repr=False)
    settings: dict[str, Any] = field(default_factory=dict, repr=False)

    def __bool__(self) -> bool:
        return bool(self.conversion) and bool(self.check)

    def stage(self, name: str) -> Stage:
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(f"no stage {name!r}; the stages are {[s.name for s in self.stages]}")

    def to_dict(self) -> dict[str, Any]:
        return {"report": str(self.path), "bundle": str(self.bundle_dir), "passed": bool(self),
                "best": self.best, "seconds": self.seconds, "quick": self.quick,
                "versions": dict(self.versions), "settings": dict(self.settings),
                "stages": [s.to_dict() for s in self.stages],
                "models": {k: str(m.path) for k, m in self.models.items()},
                "study": self.study.to_dict(), "check": self.check.to_dict()}

    def __repr__(self) -> str:
        verdict = "passed" if self else "FAILED"
        lines = [f"Demo of the digits CNN in {self.seconds:.1f} s: {verdict}, best variant "
                 f"'{self.best}'"]
        lines += ["  " + s.line() for s in self.stages]
        lines += [f"  report: {self.path}", f"  bundle: {self.bundle_dir}"]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from onnxkit import _render

        rows = [(s.name, f"{s.seconds:.1f} s", s.headline) for s in self.stages]
        rows += [("report", "", str(self.path)), ("bundle", "", str(self.bundle_dir))]
        return _render.table(("stage", "time", "result"), rows,
                             caption=f"onnxkit demo in {self.seconds:.1f} s: "
                                     f"{'passed' if self else 'FAILED'}, best '{self.best}'")

    def figures(self) -> dict[str, go.Figure]:
        """The report's plots by stage (rendered from the results; nothing is recomputed)."""
        from onnxkit import _demo_render

        return _demo_render.figures(self)


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
    from onnxkit._deps import require
    from onnxkit._workspace import workspace
    from onnxkit.deploy._bundle import _check_target

    target = _report_target(out, overwrite)
    if bundle_dir is None:
        folder, replace = workspace().root / "bundles" / "digits-demo", True
    else:
        folder, replace = Path(bundle_dir).absolute(), overwrite
    _check_target(folder, replace)  # fail now, not after a minute of work
    for module in ("torch", "sklearn", "plotly"):
        require(module, purpose="onnxkit.demo")
    started = time.perf_counter()
    from onnxkit._demo_stages import Run

    run = Run(quick, progress)
    run.all(folder, replace)
    report = run.report(target, folder, time.perf_counter() - started)
    from onnxkit import _demo_render

    _write_atomically(target, _demo_render.page(report))
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
