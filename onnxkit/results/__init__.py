"""The contract every onnxkit result keeps, and the HTML helpers that render results.

A kernel call computes once and returns a frozen result; the result only renders what was
computed (scikit-learn's Display objects). Every result class derives from :class:`Result`:

- ``to_dict()``: plain JSON-ready data (paths and models as strings, tuples as lists);
- ``table()``: a pandas DataFrame, one row per item the result is about;
- ``__repr__``: a readable summary; ``_repr_html_``: the notebook view (by default the table);
- ``plot()``: a plotly figure, on the results where a picture says more than the table.

``to_dataframe()``, the older name of ``table()`` on some results, still works for one
release with a :class:`DeprecationWarning`.
"""

from onnxkit._publish import publish as _publish
from onnxkit.results._contract import Result, jsonable
from onnxkit.results._html import fmt_bytes, fmt_count, html_section, html_table

__all__ = ["Result", "jsonable", "html_table", "html_section", "fmt_bytes", "fmt_count"]

_publish(globals(), __name__, __all__)
