"""check(): plain-word problems, and crashes contained in a child process."""

from __future__ import annotations

import textwrap

import pytest
from graphs import make_model, relu_model, save
from onnx import TensorProto, helper

import onnxkit
from onnxkit.errors import ModelNotFoundError
from onnxkit.inspect import STAGES, _check

F = TensorProto.FLOAT


def test_real_models_pass(digits, transformer, pipeline):
    for sample in (digits, transformer, pipeline):
        report = onnxkit.check(sample.model)
        assert report, repr(report)
        assert report.stages == dict.fromkeys(STAGES, "ok")
        assert "CPU session" in report.details["runtime"]


def _problems(model, tmp_path):
    report = onnxkit.check(save(model, tmp_path / "m.onnx"))
    assert not report
    return report, " ".join(p.message for p in report.problems)


def test_cycle(tmp_path):
    model = make_model([helper.make_node("Add", ["x", "b"], ["a"], name="first"),
                        helper.make_node("Relu", ["a"], ["b"], name="second")],
                       [("x", F, [1])], [("a", F, [1])])
    report, text = _problems(model, tmp_path)
    assert "cycle" in text and "first" in text and "second" in text
    assert report.stages["runtime"].startswith("skipped")


def test_duplicate_outputs(tmp_path):
    model = make_model([helper.make_node("Relu", ["x"], ["y"], name="a"),
                        helper.make_node("Neg", ["x"], ["y"], name="b")],
                       [("x", F, [1])], [("y", F, [1])])
    _, text = _problems(model, tmp_path)
    assert "'y' is produced twice" in text and "node a" in text and "node b" in text


def test_undefined_value(tmp_path):
    model = make_model([helper.make_node("Add", ["x", "ghost"], ["y"], name="add")],
                       [("x", F, [1])], [("y", F, [1])])
    _, text = _problems(model, tmp_path)
    assert "reads 'ghost'" in text


def test_unknown_domain_without_import(tmp_path):
    model = make_model([helper.make_node("Foo", ["x"], ["y"], domain="com.acme")],
                       [("x", F, [1])], [("y", F, [1])])
    _, text = _problems(model, tmp_path)
    assert "'com.acme'" in text and "no opset import" in text


def test_custom_domain_fails_at_runtime_with_a_hint(tmp_path):
    model = make_model([helper.make_node("Foo", ["x"], ["y"], domain="com.acme")],
                       [("x", F, [1])], [("y", F, [1])], domains=["com.acme"])
    report = onnxkit.check(save(model, tmp_path / "m.onnx"))
    assert not report
    assert any(p.severity == "warning" and "custom op domain" in p.message for p in report.problems)
    runtime = [p for p in report.errors if p.stage == "runtime"]
    assert runtime and "custom-op library" in runtime[0].hint


def test_future_opset(tmp_path):
    _, text = _problems(make_model([helper.make_node("Relu", ["x"], ["y"])],
                                   [("x", F, [1])], [("y", F, [1])], opset=99), tmp_path)
    assert "opset 99" in text


def test_shape_contradiction_is_found_by_inference(tmp_path):
    model = make_model([helper.make_node("MatMul", ["x", "w"], ["y"])],
                       [("x", F, [2, 3]), ("w", F, [4, 5])], [("y", F, [2, 5])])
    report = onnxkit.check(save(model, tmp_path / "m.onnx"))
    assert not report and report.stages["shapes"] == "failed"


def test_unsorted_graph_is_a_warning_only(tmp_path):
    model = make_model([helper.make_node("Neg", ["a"], ["y"]),
                        helper.make_node("Relu", ["x"], ["a"])],
                       [("x", F, [1])], [("y", F, [1])])
    report = onnxkit.check(save(model, tmp_path / "m.onnx"))
    assert [p.severity for p in report.problems if p.stage == "structure"] == ["warning"]
    assert report.stages["runtime"] == "ok"


def test_unreadable_file_is_a_failing_report(tmp_path):
    (tmp_path / "junk.onnx").write_bytes(b"\x00\xff" * 100)
    report = onnxkit.check(tmp_path / "junk.onnx")
    assert not report and report.stages["load"] == "failed"
    assert "<table" in report._repr_html_()
    with pytest.raises(ModelNotFoundError):
        onnxkit.check(tmp_path / "missing.onnx")


def test_a_crash_in_the_child_is_reported_not_fatal(tmp_path, monkeypatch):
    # A worker that dies like a native crash would, after its first stage.
    worker = tmp_path / "crashing_worker.py"
    worker.write_text(textwrap.dedent("""
        import json, os, signal
        print(json.dumps({"stage": "checker", "ok": True, "message": "", "detail": ""}), flush=True)
        os.kill(os.getpid(), signal.SIGSEGV)
    """))
    monkeypatch.setattr(_check, "_WORKER", worker)
    report = onnxkit.check(save(relu_model(), tmp_path / "m.onnx"))
    assert not report
    assert report.stages["checker"] == "ok" and report.stages["shapes"] == "failed"
    assert "SIGSEGV" in report.errors[0].message
    assert report.stages["runtime"].startswith("skipped")


def test_timeout_is_reported(tmp_path, monkeypatch):
    worker = tmp_path / "slow_worker.py"
    worker.write_text("import time; time.sleep(30)")
    monkeypatch.setattr(_check, "_WORKER", worker)
    report = onnxkit.check(save(relu_model(), tmp_path / "m.onnx"), timeout=0.5)
    assert "did not finish within 0.5 s" in report.errors[0].message
