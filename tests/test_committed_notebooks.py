"""What the course's committed outputs show a reader who opens them unrun (on GitHub, in
nbviewer): no path of the machine that executed them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
ABSOLUTE = re.compile(r"(?<![\w.:/])/(?:work|home|root|tmp|Users|var)/[^\s'\"<\\]*")


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.name for n in NOTEBOOKS])
def test_committed_outputs_carry_no_machine_paths(notebook):
    found = [(i, path) for i, cell in enumerate(json.loads(notebook.read_text())["cells"])
             for output in cell.get("outputs", [])
             for path in ABSOLUTE.findall(json.dumps(output))]
    assert not found, (f"{notebook.name}: absolute paths in committed outputs (cell, path): "
                       f"{found[:5]}; run python .ci/strip_notebook_paths.py {notebook.name}")
