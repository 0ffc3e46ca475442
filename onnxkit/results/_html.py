"""HTML for notebooks: tables and sections, and numbers formatted for people."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

_TABLE_STYLE = "border-collapse:collapse;font-size:12px;margin:4px 0"
_CELL_STYLE = "padding:2px 8px;border-bottom:1px solid #ddd;text-align:left"
_BAD_STYLE = "background:#fde2e1"


def fmt_bytes(n: int | float) -> str:
    """``1536`` -> ``'1.5 KiB'``."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def fmt_count(n: int) -> str:
    """``1234567`` -> ``'1.23M'``: parameter counts read better abbreviated."""
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= limit:
            return f"{n / limit:.2f}{suffix}"
    return str(n)


def html_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    caption: str | None = None,
    bad: Iterable[bool] | None = None,
) -> str:
    """An HTML table; rows flagged in ``bad`` are highlighted (failures, problems)."""
    rows = list(rows)
    flags = list(bad) if bad is not None else [False] * len(rows)
    head = "".join(f"<th style='{_CELL_STYLE}'>{html.escape(str(h))}</th>" for h in headers)
    body = []
    for row, is_bad in zip(rows, flags):
        cells = "".join(f"<td style='{_CELL_STYLE}'>{html.escape(str(c))}</td>" for c in row)
        body.append(f"<tr style='{_BAD_STYLE if is_bad else ''}'>{cells}</tr>")
    cap = ("" if caption is None else
           f"<caption style='text-align:left;font-weight:bold'>{html.escape(caption)}</caption>")
    return (
        f"<table style='{_TABLE_STYLE}'>{cap}"
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def html_section(title: str, content: str) -> str:
    """``content`` (HTML) under a bold ``title``."""
    return f"<div><b>{html.escape(title)}</b>{content}</div>"
