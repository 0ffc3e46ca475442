"""Parameter checks for public functions, with one message shape (after scikit-learn's
``validate_params``): ``function(param=...) must be X; got Y. Fix: ...``.

Each check returns the value (normalized where that is safe, e.g. a numpy integer becomes an
``int``) or raises :class:`~onnxkit.errors.ParameterError` naming the function and parameter.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Collection, Sequence
from typing import Any, TypeVar

from onnxkit.errors import ParameterError

T = TypeVar("T")


def message(where: str, param: str, must: str, got: Any, fix: str | None = None) -> str:
    """``"benchmark(runs=...) must be an integer in 1..1000; got 0. Fix: ..."``.

    Examples:
        >>> from onnxkit.base import message
        >>> message("sweep", "rounds", "an integer in 1..100", 0, "pass rounds=3")
        'sweep(rounds=...) must be an integer in 1..100; got 0. Fix: pass rounds=3.'
    """
    text = f"{where}({param}=...) must be {must}; got {got!r}."
    if not fix:
        return text
    return f"{text} Fix: {fix}" if fix.endswith(("?", "!")) else f"{text} Fix: {fix.rstrip('.')}."


def invalid(where: str, param: str, must: str, got: Any, fix: str | None = None
            ) -> ParameterError:
    """The error for a parameter outside what ``where`` accepts (to ``raise``)."""
    return ParameterError(message(where, param, must, got, fix))


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def integer(value: Any, where: str, param: str, *, low: int = 1, high: int | None = None,
            fix: str | None = None) -> int:
    """An integer in ``low..high`` (``high`` None: no upper bound); bools are refused.

    Examples:
        >>> from onnxkit.base import integer
        >>> integer(4, "session", "threads")
        4
        >>> integer(0, "session", "threads")
        Traceback (most recent call last):
        ...
        onnxkit.errors.ParameterError: session(threads=...) must be a positive integer; got 0.
    """
    if _is_int(value) and value >= low and (high is None or value <= high):
        return int(value)
    if high is not None:
        must = f"an integer in {low}..{high}"
    else:
        must = {1: "a positive integer", 0: "a non-negative integer"}.get(
            low, f"an integer >= {low}")
    raise invalid(where, param, must, value, fix)


def number(value: Any, where: str, param: str, *, low: float | None = None,
           high: float | None = None, low_open: bool = False, fix: str | None = None) -> float:
    """A finite real number within the bounds (``low_open``: ``low`` itself excluded).

    Examples:
        >>> from onnxkit.base import number
        >>> number(0.5, "check", "timeout", low=0, low_open=True)
        0.5
    """
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value <= high
    if ok:
        return float(value)
    lo = "" if low is None else (f"> {low:g}" if low_open else f">= {low:g}")
    hi = "" if high is None else f"<= {high:g}"
    bounds = " and ".join(b for b in (lo, hi) if b)
    raise invalid(where, param, "a finite number" + (f" {bounds}" if bounds else ""), value, fix)


def boolean(value: Any, where: str, param: str) -> bool:
    """``True`` or ``False`` (not 1, not "yes")."""
    if isinstance(value, bool):
        return value
    raise invalid(where, param, "True or False", value)


def one_of(value: T, choices: Collection[T], where: str, param: str, *,
           fix: str | None = None, ignore_case: bool = False) -> T:
    """``value`` when it is one of ``choices`` (with ``ignore_case``, the choice it matches
    whatever its case). A near miss gets a "did you mean" in the message.

    Examples:
        >>> from onnxkit.base import one_of
        >>> one_of("qdq", ("qdq", "qoperator"), "static", "format")
        'qdq'
        >>> one_of("qdk", ("qdq", "qoperator"), "static", "format")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        onnxkit.errors.ParameterError: static(format=...) ... Fix: did you mean 'qdq'?
    """
    try:
        if value in choices:
            return value
    except TypeError:  # an unhashable value against a set
        pass
    if isinstance(value, str):
        if ignore_case:
            match = [c for c in choices if isinstance(c, str) and c.lower() == value.lower()]
            if match:
                return match[0]
        close = difflib.get_close_matches(value, [c for c in choices if isinstance(c, str)],
                                          n=1, cutoff=0.6)
        if close and fix is None:
            fix = f"did you mean {close[0]!r}?"
    raise invalid(where, param, "one of " + ", ".join(map(repr, choices)), value, fix)


def names(value: Any, where: str, param: str, *, allow_empty: bool = False,
          example: str = "['a', 'b']") -> list[str]:
    """A list (or tuple) of strings, each once; not a bare string."""
    ok = isinstance(value, Sequence) and not isinstance(value, (str, bytes)) and all(
        isinstance(v, str) for v in value) and (allow_empty or len(value) > 0)
    if not ok:
        must = "a list of names" + ("" if allow_empty else " (at least one)")
        raise invalid(where, param, must, value, f"pass e.g. {example}")
    twice = sorted({v for v in value if list(value).count(v) > 1})
    if twice:
        raise invalid(where, param, "a list naming each item once", list(value),
                      f"remove the repeated {twice}")
    return list(value)


class Params:
    """The checks above for one function, which it names once: ``arg = Params("sweep")``,
    then ``arg.integer(rounds, "rounds", high=100)``.

    Examples:
        >>> from onnxkit.base import Params
        >>> arg = Params("profile")
        >>> arg.integer(3, "runs", high=10_000), arg.number(0.5, "budget_s", low=0)
        (3, 0.5)
        >>> arg.one_of("l3", ("l1", "l2"), "criterion")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        onnxkit.errors.ParameterError: profile(criterion=...) must be one of 'l1', 'l2'; ...
    """

    def __init__(self, where: str) -> None:
        self.where = where

    def integer(self, value: Any, param: str, **bounds: Any) -> int:
        return integer(value, self.where, param, **bounds)

    def number(self, value: Any, param: str, **bounds: Any) -> float:
        return number(value, self.where, param, **bounds)

    def boolean(self, value: Any, param: str) -> bool:
        return boolean(value, self.where, param)

    def one_of(self, value: T, choices: Collection[T], param: str, **options: Any) -> T:
        return one_of(value, choices, self.where, param, **options)

    def names(self, value: Any, param: str, **options: Any) -> list[str]:
        return names(value, self.where, param, **options)

    def invalid(self, param: str, must: str, got: Any, fix: str | None = None
                ) -> ParameterError:
        return invalid(self.where, param, must, got, fix)
