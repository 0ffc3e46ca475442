"""Committed notebook outputs carry no path of the machine that ran them: the workspace
becomes ``onnxkit-work/...`` (relative to notebooks/, as a reader's run would make it) and a
temporary folder ``/tmp/...`` becomes ``TMP/...``. Progress bars are dropped: unrun, a reader
sees their first text (``0%|``) frozen, and a finished bar says nothing the cell's result does
not. Run by ``make notebooks`` after executing.

Usage: python .ci/strip_notebook_paths.py notebooks/*.ipynb
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

# A path's segment: no space, quote, bracket or separator, and no HTML entity (a widget's
# HTML holds paths between &quot;s, which must stay).
_SEGMENT = r"(?:(?!&(?:quot|amp|lt|gt|#39|#x27);)[^\s'\"<>\\/])+"
WORKSPACE = re.compile(rf"(?:[A-Za-z]:)?(?:[/\\]{_SEGMENT})*[/\\]notebooks[/\\](onnxkit-work)")
TEMPORARY = re.compile(rf"(?<![\w.])/tmp/{_SEGMENT}")
# What a committed output may not hold (tests/test_committed_notebooks.py checks it too).
ABSOLUTE = re.compile(r"(?<![\w.:/])/(?:work|home|root|tmp|Users|var)/[^\s'\"<\\]*")
# tqdm's text beside its widget: "calibrating:   0%|          | 0/12 [00:00<?, ?it/s]"
PROGRESS = re.compile(r"\d+%\|.*\| *\d+/\d+ \[")


def is_progress_bar(output: dict) -> bool:
    data = output.get("data", {})
    return "application/vnd.jupyter.widget-view+json" in data and \
        bool(PROGRESS.search("".join(data.get("text/plain", ""))))


def strip(text: str) -> str:
    return TEMPORARY.sub("TMP", WORKSPACE.sub(r"\1", text))


def strip_notebook(path: Path) -> bool:
    notebook = json.loads(path.read_text())
    changed = False
    for cell in notebook["cells"]:
        kept = [output for output in cell.get("outputs", []) if not is_progress_bar(output)]
        if len(kept) != len(cell.get("outputs", [])):
            cell["outputs"], changed = kept, True
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
            print(f"stripped machine paths and progress bars from {name}")
