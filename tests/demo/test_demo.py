"""``onnxkit demo``: the whole path on the digits sample, into one self-contained HTML report.

One quick run, through the CLI, serves every check (the kernel's DemoReport is caught on the
way out); the refusals are checked before any work starts, so they cost nothing.
"""

from __future__ import annotations

import contextlib
import io
import json
import re

import pytest

import onnxkit
from onnxkit import cli
from onnxkit._demo import _render as _demo_render
from onnxkit._demo import _report as _demo
from onnxkit._demo import _run
from onnxkit.errors import WorkspaceError

pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("plotly")

ODD_NAME = "demo <b>&.html"  # user-derived text the page must escape


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """``onnxkit demo --quick`` run once: (exit status, stdout, the DemoReport, folder)."""
    folder = tmp_path_factory.mktemp("demo")
    reports = []
    real = onnxkit.demo

    def spy(*args, **kwargs):
        reports.append(real(*args, **kwargs))
        return reports[-1]

    stdout = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(stdout):
        mp.setattr(onnxkit, "demo", spy)
        status = cli.main(["demo", "--quick", "--out", str(folder / ODD_NAME),
                           "--bundle", str(folder / "bundle")])
    assert reports, f"the demo did not run (exit {status}); see the captured stderr"
    return status, stdout.getvalue(), reports[0], folder


def test_cli_prints_one_line_per_stage_and_the_report_path(ran):
    status, out, report, folder = ran
    assert status == 0
    lines = out.splitlines()
    assert [line.split()[0] for line in lines[:len(_demo.STAGES)]] == list(_demo.STAGES)
    assert re.match(r"quantize +\d+\.\d s  int8-static size 0\.\d\dx acc \d+\.\d%", lines[3])
    assert f"report: {folder / ODD_NAME}" in lines
    assert f"bundle: {folder / 'bundle'}" in lines


def test_report_is_one_self_contained_html_file(ran):
    _, _, report, folder = ran
    page = (folder / ODD_NAME).read_text(encoding="utf-8")
    assert report.path == folder / ODD_NAME
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert page.count("* plotly.js v") == 1  # the library, inline, once
    assert not re.search(r"<script[^>]*\bsrc\s*=", page)  # nothing fetched: works offline
    plots = report.figures()
    assert list(plots) == ["convert", "optimize", "quantize", "compare"]
    assert page.count('class="plotly-graph-div"') == len(plots)
    assert page.count("Plotly.newPlot(") == len(plots)
    for title in _demo_render._TITLES.values():
        assert f"<h2>{title}<" in page
    assert "Environment" in page and "onnxruntime" in page and "The same in Python" in page
    assert ODD_NAME not in page and "demo &lt;b&gt;&amp;.html" in page


def test_bundle_verifies_and_the_pick_meets_the_accuracy_limit(ran):
    _, _, report, folder = ran
    assert report and bool(onnxkit.deploy.verify(folder / "bundle"))
    assert report.bundle_dir == folder / "bundle"
    study = report.study
    best = study[report.best]
    # a variant is picked only when it is faster beyond the spread (a quick run may not tell)
    assert best.verdict == "faster" or report.best == "reference"
    assert study["reference"].score - best.score <= _demo.MAX_ACCURACY_DROP
    assert report.stage("compare").figures["why"]
    assert study.names[:5] == ["reference", "optimized", "fp16", "int8-static", "int8-dynamic"]
    manifest = json.loads((folder / "bundle" / "manifest.json").read_text())
    assert manifest["postprocess"]["labels"] == [str(d) for d in range(10)]
    assert manifest["model"]["file"] == best.model.path.name


def test_demo_report_result_object(ran):
    _, _, report, _ = ran
    assert [s.name for s in report.stages] == list(_demo.STAGES)
    assert all(s.seconds > 0 for s in report.stages)
    assert sum(s.seconds for s in report.stages) <= report.seconds
    assert report.stage("convert").figures["max_abs_err"] < 1e-4
    assert report.stage("quantize").figures["int8-static"]["size_ratio"] < 0.5
    d = json.loads(json.dumps(report.to_dict()))
    assert d["passed"] is True and d["quick"] is True and d["best"] == report.best
    assert set(d["versions"]) >= {"onnxkit", "onnxruntime", "onnx", "torch"}
    text = repr(report)
    assert text.startswith("Demo of the digits CNN") and "report: " in text
    assert "&lt;b&gt;" in report._repr_html_()


def test_refuses_an_existing_report_before_any_work(tmp_path, capsys):
    mine = tmp_path / "report.html"
    mine.write_text("mine")
    with pytest.raises(WorkspaceError, match="already exists"):
        onnxkit.demo(mine, bundle_dir=tmp_path / "b")
    assert cli.main(["demo", "--out", str(mine), "--bundle", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("onnxkit demo: error: demo(out=...)") and err.count("\n") == 1
    assert mine.read_text() == "mine" and not (tmp_path / "b").exists()


def test_refuses_a_foreign_bundle_folder_and_a_missing_report_folder(tmp_path):
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "cat.jpg").write_text("meow")
    with pytest.raises(WorkspaceError, match="not empty"):
        onnxkit.demo(tmp_path / "r.html", bundle_dir=foreign)
    with pytest.raises(WorkspaceError, match="not an onnxkit bundle"):
        onnxkit.demo(tmp_path / "r.html", bundle_dir=foreign, overwrite=True)
    with pytest.raises(WorkspaceError, match="does not exist"):
        onnxkit.demo(tmp_path / "nowhere" / "r.html")
    assert (foreign / "cat.jpg").read_text() == "meow" and not (tmp_path / "r.html").exists()


def test_overwrite_replaces_the_report_atomically(tmp_path):
    target = tmp_path / "report.html"
    target.write_text("old")
    assert _run._report_target(target, overwrite=True) == target
    _run._write_atomically(target, "<html>new</html>")
    assert target.read_text() == "<html>new</html>"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]  # no temp file left


def test_report_and_stages_keep_the_result_contract(ran):
    from result_contract import check_result_contract

    _, _, report, _ = ran
    check_result_contract(report)
    check_result_contract(report.stages[0])
