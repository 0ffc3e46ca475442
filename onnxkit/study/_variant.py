"""``Variant``: one row of a :class:`~onnxkit.Study`."""

from __future__ import annotations

from dataclasses import dataclass, field

from onnxkit.bench import Speedup
from onnxkit.models import Model
from onnxkit.results import Result
from onnxkit.study import _render as render


@dataclass(frozen=True)
class Variant(Result):
    """One row of a :class:`Study`: a model and what was measured on it.

    ``speedup`` is the reference's time over this model's, paired within interleaved rounds:
    its median and 95% interval (a :class:`onnxkit.bench.Speedup`, see
    :func:`onnxkit.bench.measure`); ``score`` is the accuracy, or the user's metric (higher
    is better); ``note`` says why a variant is larger than the reference, when it is, and
    where it diverges on another platform; ``platforms`` (with ``Study(platforms=...)``):
    platform -> "" when its outputs there match this machine's within the tolerance of its
    precision, else how far apart they are (such a variant is never :meth:`Study.best`).
    """

    name: str
    model: Model
    size_bytes: int
    p50_ms: float
    p90_ms: float
    load_ms: float
    speedup: Speedup
    peak_mem_bytes: int | None
    max_abs_err: float | None
    cosine: float | None
    agreement: float | None
    score: float | None
    note: str = ""
    platforms: dict[str, str] = field(default_factory=dict)

    @property
    def diverges(self) -> list[str]:
        """The platforms where its outputs differ from this machine's beyond tolerance."""
        return [p for p, why in self.platforms.items() if why]

    @property
    def verdict(self) -> str:
        """``"faster"``/``"slower"`` than the reference beyond the spread, else
        ``"indistinguishable"`` (the speedup's, see :func:`onnxkit.bench.speed_verdict`)."""
        return self.speedup.verdict

    def __repr__(self) -> str:
        return f"Variant('{self.name}', {render.describe(self)})"
