"""``Conversion``: a converted model, checked against its source framework, and how it was made."""

from __future__ import annotations

import contextlib
import io
import logging
import re
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from onnxkit.bench import Comparison
from onnxkit.inspect import summarize
from onnxkit.models import Model
from onnxkit.results import Result, html_table

RTOL, ATOL = 1e-3, 1e-4


@dataclass(frozen=True)
class Conversion(Result):
    """Result of a ``from_*`` converter: truthy when the ONNX model matched the source.

    ``verification`` compares ONNX Runtime with the framework on the example inputs;
    ``resized`` does the same at other sizes of the dynamic axes (None without any), and
    ``revalued`` at other input values when the export traced a branch on a value (None
    otherwise).
    """

    model: Model
    verification: Comparison
    exporter: str
    duration_s: float
    code: str
    resized: Comparison | None = None
    fallback: str | None = None  # why the preferred exporter was not used
    warnings: tuple[str, ...] = field(default_factory=tuple)
    revalued: Comparison | None = None

    def __bool__(self) -> bool:
        return all(c is None or bool(c) for c in (self.verification, self.resized,
                                                  self.revalued))

    def to_dict(self) -> dict[str, Any]:
        return {"model": str(self.model.path), "passed": bool(self), "exporter": self.exporter,
                "duration_s": self.duration_s, "code": self.code, "fallback": self.fallback,
                "warnings": list(self.warnings), "verification": self.verification.to_dict(),
                "resized": self.resized.to_dict() if self.resized is not None else None,
                "revalued": self.revalued.to_dict() if self.revalued is not None else None}

    def __repr__(self) -> str:
        verdict = "verified" if self else "MISMATCH"
        lines = [f"Conversion to '{self.model.name}' with {self.exporter} in "
                 f"{self.duration_s:.1f} s: {verdict}", f"  {self.model.path}"]
        if self.fallback:
            lines.append(f"  fell back: {self.fallback}")
        lines += ["  " + line for line in repr(self.verification).splitlines()]
        if self.resized is not None:
            lines += ["  at other sizes: " + repr(self.resized).splitlines()[0]]
        if self.revalued is not None:
            lines += ["  at other values: " + repr(self.revalued).splitlines()[0]]
        lines += [f"  warning: {w}" for w in self.warnings[:5]]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = [("exporter", self.exporter), ("duration", f"{self.duration_s:.1f} s"),
                ("file", self.model.path), ("code", self.code)]
        if self.fallback:
            rows.append(("fell back because", self.fallback))
        rows += [("warning", w) for w in self.warnings[:5]]
        head = html_table(("conversion", "verified" if self else "MISMATCH"), rows)
        parts = [head, self.verification._repr_html_()]
        parts += [c._repr_html_() for c in (self.resized, self.revalued) if c is not None]
        return "".join(parts) + summarize(self.model)._repr_html_()


class Captured:
    """Warnings and printed chatter of a converter, kept for the result instead of the cell."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.categories: list[str] = []
        self.started = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started

    def unique(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.messages))


# Converters log whole graphs and tracebacks on these loggers while they try; the reason of a
# failure reaches the user through the exception instead.
_CHATTY = ("torch", "onnxscript", "tf2onnx", "tensorflow", "skl2onnx", "absl")


class _Mute(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.name.split(".")[0] not in _CHATTY


@contextlib.contextmanager
def captured() -> Iterator[Captured]:
    record = Captured()
    mute = _Mute()
    names = ["", *(n for n in list(logging.root.manager.loggerDict)
                   if n.split(".")[0] in _CHATTY)]
    handlers = {h for name in names for h in getattr(logging.getLogger(name), "handlers", [])}
    for handler in handlers:  # handler filters also catch records of loggers made meanwhile
        handler.addFilter(mute)
    with warnings.catch_warnings(record=True) as caught, \
            contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("always")
        try:
            yield record
        finally:
            record.messages += [first_line(str(w.message)) for w in caught]
            record.categories += [w.category.__name__ for w in caught]
            for handler in handlers:
                handler.removeFilter(mute)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def first_line(text: str, limit: int = 300) -> str:
    text = _ANSI.sub("", text)
    line = next((ln.strip() for ln in text.strip().splitlines() if ln.strip()), "")
    return line if len(line) <= limit else line[: limit - 3] + "..."


def root_cause(error: BaseException) -> str:
    """The innermost exception's first line: the exporters wrap the reason several times."""
    seen = error
    while seen.__cause__ is not None or (seen.__context__ is not None
                                         and not seen.__suppress_context__):
        seen = seen.__cause__ or seen.__context__  # type: ignore[assignment]
    return f"{type(seen).__name__}: {first_line(str(seen)).rstrip('.')}"


def call_code(fn: str, *args: str, **kwargs: Any) -> str:
    """``onnxkit.convert.from_torch(module, example_inputs, opset=18)``: what reproduces it."""
    parts = list(args) + [f"{k}={v!r}" for k, v in kwargs.items() if v is not None]
    return f"onnxkit.convert.{fn}({', '.join(parts)})"
