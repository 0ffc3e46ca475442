"""Write and show the zoo's table at the end of the run."""

from __future__ import annotations

from typing import Any

import zoo_table


def pytest_terminal_summary(terminalreporter: Any) -> None:
    path = zoo_table.write()
    if path is not None:
        terminalreporter.write_line(f"model zoo table ({path}):")
        for line in zoo_table.markdown().splitlines()[4:]:
            terminalreporter.write_line(line)
