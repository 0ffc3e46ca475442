"""What the panel tests share: click a button and wait, read the output area, run printed code."""

from __future__ import annotations

from typing import Any


def click(panel: Any, button: Any) -> None:
    """Click like a user (the action runs in the background) and wait for it to finish."""
    button.click()
    assert panel.wait(timeout=120)


def texts(panel: Any) -> str:
    """Everything the output area shows, as text (stderr streams, text/plain, text/html)."""
    parts = []
    for out in panel.output.outputs:
        parts.append(out.get("text", ""))
        parts += [v for k, v in out.get("data", {}).items() if k.startswith("text/")]
    return "\n".join(parts)


def run_code(code: str) -> dict[str, Any]:
    """Run a panel's ``to_code()`` as a learner would paste it into a cell; its namespace."""
    namespace: dict[str, Any] = {}
    exec(code, namespace)  # noqa: S102 - the point: the printed code runs as is
    return namespace
