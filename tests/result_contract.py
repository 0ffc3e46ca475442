"""The contract every result class keeps (onnxkit.results.Result), checked on a real object."""

from __future__ import annotations

import json
import warnings
from typing import Any


def check_result_contract(result: Any) -> None:
    """``to_dict`` is JSON, the repr is readable, the notebook view and ``table()`` render,
    ``plot()`` (where there is one) is a plotly figure, ``to_dataframe`` is the old name."""
    import pandas as pd
    import plotly.graph_objects as go

    from onnxkit.results import Result

    name = type(result).__name__
    assert isinstance(result, Result), name
    json.dumps(result.to_dict())  # plain data: raises if not
    text = repr(result)
    assert text and " object at 0x" not in text, f"{name} has no readable repr"
    if callable(getattr(result, "_repr_html_", None)):
        assert "<" in result._repr_html_(), f"{name}'s HTML"
    else:  # a drawing shows itself through its mime bundle
        assert "text/plain" in result._repr_mimebundle_(), name
    table = result.table()
    assert isinstance(table, pd.DataFrame) and len(table.columns), f"{name}.table()"
    if callable(getattr(result, "plot", None)):
        assert isinstance(result.plot(), go.Figure), f"{name}.plot()"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        old = result.to_dataframe()
    assert any(issubclass(w.category, DeprecationWarning) for w in caught), name
    assert old.equals(table), f"{name}.to_dataframe() is not table()"
