"""The one rule that picks a winner among measured variants (``Study.best``, ``tune``).

A variant wins when it is faster than the reference beyond the noise (its speedup interval
above 1) and by ``min_speedup`` at least; among those tied with the leader (intervals
overlapping), the smallest; and only if, timed against the reference once more head to head,
it is still faster: a burst of noise during its own rounds must not pick it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from onnxkit.bench import Speedup


class Measured(Protocol):
    """What the rule reads of a row: its name, its size and its speedup."""

    @property
    def name(self) -> str: ...

    @property
    def size_bytes(self) -> int: ...

    @property
    def speedup(self) -> Speedup | None: ...  # None: never timed (a recipe that failed)


Row = TypeVar("Row", bound=Measured)


@dataclass(frozen=True)
class Pick(Generic[Row]):
    """The rule's answer: the ``winner`` (None: keep the reference) and ``why``, a clause
    the caller puts after its own subject ("keep the reference: ..." or "'x': ...")."""

    winner: Row | None
    why: str


def pick(rows: Sequence[Row], *, min_speedup: float,
         confirm: Callable[[Row], Speedup] | None, reference: str = "the reference"
         ) -> Pick[Row]:
    """The winner among ``rows`` (each already within the caller's limits), or None.

    ``confirm(row)`` times the chosen row against the reference again, head to head; None
    skips that (a search still running, or cancelled: the caller says so).
    """
    timed = [(r, r.speedup) for r in rows if r.speedup is not None]
    if not timed:
        return Pick(None, "no variant within the limits was timed")
    faster = [(r, s) for r, s in timed if s.verdict == "faster" and s.median >= min_speedup]
    if not faster:
        best, fast = max(timed, key=lambda rs: rs[1].median)
        worth = "" if fast.verdict != "faster" else f", under min_speedup={min_speedup:g}"
        return Pick(None, f"no variant within the limits is faster than {reference} beyond the "
                          f"noise (the fastest, '{best.name}', is {fast}: {fast.verdict}{worth})")
    lead = max(s.median for _, s in faster)
    low = next(s.low for _, s in faster if s.median == lead)
    tied = [(r, s) for r, s in faster if s.high >= low]
    chosen, speed = min(tied, key=lambda rs: (rs[0].size_bytes, rs[0].name))
    why = f"{speed} faster than {reference}, within the limits"
    if confirm is not None:
        again = confirm(chosen)
        if again.verdict != "faster" or again.median < min_speedup:
            return Pick(None, f"'{chosen.name}' led at {speed}, but timed again head "
                              f"to head it is {again} ({again.verdict}): not faster beyond the "
                              "noise")
        why += f" (head to head again: {again})"
    others = [r.name for r, _ in tied if r is not chosen]
    if others:
        why += (f"; tied with {', '.join(repr(n) for n in others)} (overlapping intervals), "
                "and the smallest")
    return Pick(chosen, why)
