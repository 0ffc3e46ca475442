"""What ``demo`` reports: its stages (:class:`Stage`) and the whole run (:class:`DemoReport`).

sample (a small CNN trained in PyTorch) -> convert (verified against PyTorch) -> optimize
(onnxslim + ORT's portable level, and float16) -> quantize (int8 static, calibrated on held-out
images, and int8 dynamic) -> compare (a :class:`~onnxkit.Study`; the fastest variant within one
point of accuracy) -> bundle (a deployable folder, verified). ``onnxkit demo`` runs it from the
shell, for people without Jupyter. The stages' work is in ``_stages``, the page in
``_render``, the entry point in ``_run``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from onnxkit._demo import _render
from onnxkit.convert import Conversion
from onnxkit.deploy import Bundle, BundleCheck
from onnxkit.errors import NotFoundError
from onnxkit.inspect import ModelSummary
from onnxkit.models import Model
from onnxkit.quantize import LayerErrors
from onnxkit.results import Result, html_table
from onnxkit.runtime import ProviderTable
from onnxkit.study import Study

if TYPE_CHECKING:
    import plotly.graph_objects as go

STAGES = ("sample", "convert", "optimize", "quantize", "compare", "bundle")
MAX_ACCURACY_DROP = 0.01  # Study.best's limit: at most one point of accuracy lost
CALIBRATION_ROWS = 96  # the first held-out images calibrate int8 static (6 feeds of 16)
LABELS = [str(d) for d in range(10)]
LATENCY_BATCH = 256  # images per timed run in the comparison
# the Study's interleaved timing: full run (Study's adaptive defaults), then --quick
TIMING: dict[bool, dict[str, Any]] = {False: {}, True: {"rounds": 3, "max_rounds": 3}}


@dataclass(frozen=True)
class Stage(Result):
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
class DemoReport(Result):
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
        raise NotFoundError(f"no stage {name!r}; the stages are {[s.name for s in self.stages]}")

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
        rows = [(s.name, f"{s.seconds:.1f} s", s.headline) for s in self.stages]
        rows += [("report", "", str(self.path)), ("bundle", "", str(self.bundle_dir))]
        return html_table(("stage", "time", "result"), rows,
                             caption=f"onnxkit demo in {self.seconds:.1f} s: "
                                     f"{'passed' if self else 'FAILED'}, best '{self.best}'")

    def figures(self) -> dict[str, go.Figure]:
        """The report's plots by stage (rendered from the results; nothing is recomputed)."""

        return _render.figures(self)
