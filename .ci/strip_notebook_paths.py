"""Committed notebook outputs carry no path of the machine that ran them: the workspace
becomes ``onnxkit-work/...`` (relative to notebooks/, as a reader's run would make it) and a
temporary folder ``/tmp/...`` becomes ``TMP/...``. Run by ``make notebooks`` after executing.

Usage: python .ci/strip_notebook_paths.py notebooks/*.ipynb
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

WORKSPACE = re.compile(r"(?:[A-Za-z]:)?(?:[/\\][^\s'\"<>\\/]+)*[/\\]notebooks[/\\](onnxkit-work)")
TEMPORARY = re.compile(r"(?<![\w.])/tmp/[^\s'\"<>\\/]+")
# What a committed output may not hold (tests/test_notebooks.py checks it too).
ABSOLUTE = re.compile(r"(?<![\w.:/])/(?:work|home|root|tmp|Users|var)/[^\s'\"<\\]*")


def strip(text: str) -> str:
    return TEMPORARY.sub("TMP", WORKSPACE.sub(r"\1", text))


def strip_notebook(path: Path) -> bool:
    notebook = json.loads(path.read_text())
    changed = False
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            before = json.dumps(output, sort_keys=True)
            cleaned = json.loads(strip(before))
            if cleaned != output:
                output.clear()
                output.update(cleaned)
                changed = True
    if changed:
        path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
    return changed


if __name__ == "__main__":
    for name in sys.argv[1:]:
        if strip_notebook(Path(name)):
            print(f"stripped machine paths from {name}")
