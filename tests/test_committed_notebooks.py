"""What the course's committed outputs show a reader who opens them unrun (on GitHub, in
nbviewer): no path of the machine that executed them, no progress bar frozen at its start."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# The sanitizer `make notebooks` runs: what it removes is what these tests look for.
_spec = importlib.util.spec_from_file_location("strip", ROOT / ".ci" / "strip_notebook_paths.py")
strip = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(strip)


def _outputs(notebook: Path):
    for i, cell in enumerate(json.loads(notebook.read_text())["cells"]):
        for output in cell.get("outputs", []):
            yield i, output


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.name for n in NOTEBOOKS])
def test_committed_outputs_carry_no_machine_paths(notebook):
    found = [(i, path) for i, output in _outputs(notebook)
             for path in strip.ABSOLUTE.findall(json.dumps(output))]
    assert not found, (f"{notebook.name}: absolute paths in committed outputs (cell, path): "
                       f"{found[:5]}; run python .ci/strip_notebook_paths.py {notebook.name}")


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.name for n in NOTEBOOKS])
def test_nbval_markers_stand_alone(notebook):
    # nbval reads a marker only when the comment is the marker alone: "# NBVAL_SKIP (why)"
    # is not one, and the cell ran in the suite (an emulated root built in a fresh run)
    found = [(i, line.strip()) for i, cell in enumerate(json.loads(notebook.read_text())["cells"])
             for line in "".join(cell["source"]).splitlines()
             if re.match(r"#\s*NBVAL_", line.strip())
             and not re.fullmatch(r"#\s*NBVAL_[A-Z_]+", line.strip())]
    assert not found, f"{notebook.name}: put the marker alone on its line (cell, line): {found}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.name for n in NOTEBOOKS])
def test_committed_outputs_hold_no_progress_bars(notebook):
    found = [i for i, output in _outputs(notebook) if strip.is_progress_bar(output)]
    assert not found, (f"{notebook.name}: progress bars in cells {found}; "
                       f"run python .ci/strip_notebook_paths.py {notebook.name}")


def test_the_sanitizer_drops_a_progress_bar_and_keeps_results():
    bar = {"output_type": "display_data", "data": {
        "application/vnd.jupyter.widget-view+json": {"model_id": "x"},
        "text/plain": ["calibrating:   0%|          | 0/12 [00:00<?, ?it/s]"]}}
    result = {"output_type": "stream", "name": "stdout", "text": ["100%| done 12/12 [\n"]}
    assert strip.is_progress_bar(bar) and not strip.is_progress_bar(result)


def test_paths_inside_escaped_widget_html_are_stripped_and_the_quotes_kept():
    html = ("&quot;/tmp/onnxkit-abc123/model.onnx&quot; and "
            "&quot;/work/main/notebooks/onnxkit-work/digits.int8.onnx&quot;")
    stripped = strip.strip  # the script's function (not str.strip)
    assert stripped(html) == ("&quot;TMP/model.onnx&quot; and "
                              "&quot;onnxkit-work/digits.int8.onnx&quot;")
    assert stripped("/tmp/x y") == "TMP y"
