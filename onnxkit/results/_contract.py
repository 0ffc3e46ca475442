"""The result contract: :class:`Result` and :func:`jsonable`."""

from __future__ import annotations

import dataclasses
import math
import os
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from onnxkit.results._html import html_table

if TYPE_CHECKING:
    import pandas as pd


class Result:
    """Base of the result objects: ``to_dict``, ``table``, ``_repr_html_`` from one place.

    A subclass (a frozen dataclass) gives its rows with ``_rows()`` when the default, one row
    of its plain fields, does not fit, and writes its own ``__repr__``.

    Examples:
        >>> from dataclasses import dataclass
        >>> from onnxkit.results import Result
        >>> @dataclass(frozen=True)
        ... class Timing(Result):
        ...     model: str
        ...     p50_ms: float
        ...     samples: tuple[float, ...]
        >>> t = Timing("tiny", 0.5, (0.4, 0.5, 0.6))
        >>> t.to_dict()
        {'model': 'tiny', 'p50_ms': 0.5, 'samples': [0.4, 0.5, 0.6]}
        >>> t.table().to_dict("records")
        [{'model': 'tiny', 'p50_ms': 0.5}]
    """

    def to_dict(self) -> dict[str, Any]:
        """The result as plain data that ``json.dumps`` takes."""
        if not dataclasses.is_dataclass(self):
            raise NotImplementedError(f"{type(self).__name__} must define to_dict()")
        return {f.name: jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def _rows(self) -> list[dict[str, Any]]:
        """The rows of :meth:`table`: by default one, the fields that are not collections."""
        return [{k: v for k, v in self.to_dict().items() if not isinstance(v, (list, dict))}]

    def table(self) -> pd.DataFrame:
        """The result as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame(self._rows())

    def to_dataframe(self, *args: Any, **kwargs: Any) -> pd.DataFrame:
        """Deprecated: the same as :meth:`table` (this name goes in the next release)."""
        warnings.warn(f"{type(self).__name__}.to_dataframe() is deprecated; call .table() "
                      "instead.", DeprecationWarning, stacklevel=2)
        return self.table(*args, **kwargs)

    def _repr_html_(self) -> str:
        rows = self._rows()
        headers = list(dict.fromkeys(k for row in rows for k in row))
        return html_table(headers, ([_cell(row.get(h)) for h in headers] for row in rows),
                          caption=type(self).__name__)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def jsonable(value: Any) -> Any:
    """``value`` as JSON-ready data: results and dataclasses as dicts, paths (and anything
    ``os.fspath`` takes, such as a ``Model``) as strings, sequences as lists, numpy numbers
    as Python numbers, NaN as None.

    Examples:
        >>> import numpy as np
        >>> from pathlib import Path
        >>> from onnxkit.results import jsonable
        >>> jsonable({"path": Path("/m.onnx"), "shape": (1, 2), "x": np.float32(0.5),
        ...           "nan": float("nan")})
        {'path': '/m.onnx', 'shape': [1, 2], 'x': 0.5, 'nan': None}
    """
    if isinstance(value, Result):
        return value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (str, bool, int)) or value is None:
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, Mapping):
        return {str(k) if not isinstance(k, (str, int)) else k: jsonable(v)
                for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return jsonable(value.tolist())
    if isinstance(value, type):
        return value.__name__
    return str(value)
