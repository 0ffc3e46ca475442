"""Derived models: atomic writes, telling names, never a user's file overwritten."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from graphs import relu_model, save

import onnxkit
from onnxkit import Step, Workspace
from onnxkit.errors import WorkspaceError


def test_save_names_the_step_and_records_lineage(tmp_path, tiny):
    ws = Workspace(tmp_path / "ws")
    derived = ws.save(tiny.to_proto(), stem=tiny.name, parent=tiny, tag="fp16",
                      step=Step("to_fp16", {"keep_io_types": True}, source=str(tiny.path)))
    assert derived.path == tmp_path / "ws" / "tiny.fp16.onnx"
    assert [s.op for s in derived.lineage] == [*(s.op for s in tiny.lineage), "to_fp16"]
    # The lineage survives a fresh handle on the file.
    again = onnxkit.load(derived.path)
    assert again.lineage == derived.lineage
    sidecar = json.loads((tmp_path / "ws" / "tiny.fp16.onnx.onnxkit.json").read_text())
    assert sidecar["lineage"][-1]["params"] == {"keep_io_types": True}


def test_never_overwrites_a_file_onnxkit_did_not_write(tmp_path):
    ws = Workspace(tmp_path)
    user_file = save(relu_model(), tmp_path / "relu.step.onnx")
    original = user_file.read_bytes()
    out = ws.save(relu_model(), stem="relu", tag="step", step=Step("step"))
    assert out.path.name == "relu.step-2.onnx"
    assert user_file.read_bytes() == original


def test_replaces_its_own_output_and_leaves_no_temp_files(tmp_path):
    ws = Workspace(tmp_path)
    first = ws.save(relu_model(), stem="relu", tag="step", step=Step("step"))
    second = ws.save(relu_model(), stem="relu", tag="step", step=Step("step"))
    assert first.path == second.path
    assert sorted(p.name for p in tmp_path.iterdir()) == ["relu.step.onnx",
                                                           "relu.step.onnx.onnxkit.json"]


def test_never_writes_over_the_parent(tmp_path):
    ws = Workspace(tmp_path)
    parent = ws.save(relu_model(), stem="relu", tag="x", step=Step("x"))
    changed = relu_model()
    changed.graph.node[0].op_type = "Sigmoid"
    child = ws.save(changed, stem="relu", tag="x", step=Step("x"), parent=parent)
    assert child.path.name == "relu.x-2.onnx" and parent.proto.graph.node[0].op_type == "Relu"


def test_distinct_content_gets_a_distinct_name_and_reruns_reuse(tmp_path):
    """Two different models of one name never share a file: the first handle keeps meaning
    its own model; saving identical bytes again reuses the file (handles stay valid)."""
    ws = Workspace(tmp_path)
    first = ws.save(relu_model(), stem="net", step=Step("convert"))
    other = relu_model()
    other.graph.node[0].op_type = "Sigmoid"
    second = ws.save(other, stem="net", step=Step("convert"))
    assert (first.path.name, second.path.name) == ("net.onnx", "net-2.onnx")
    assert first.proto.graph.node[0].op_type == "Relu"
    again = ws.save(relu_model(), stem="net", step=Step("convert"))
    assert again.path == first.path and first.proto.graph.node[0].op_type == "Relu"
    assert sorted(p.name for p in tmp_path.glob("*.onnx")) == ["net-2.onnx", "net.onnx"]


def test_replace_is_for_caches_and_stale_handles_refuse(tmp_path):
    ws = Workspace(tmp_path)
    old = ws.save(relu_model(), stem="sample", step=Step("sample"))
    other = relu_model()
    other.graph.node[0].op_type = "Sigmoid"
    new = ws.save(other, stem="sample", step=Step("sample"), replace=True)
    assert new.path == old.path and new.proto.graph.node[0].op_type == "Sigmoid"
    with pytest.raises(onnxkit.errors.ModelChangedError):
        old.proto  # noqa: B018


def test_discard_removes_only_what_onnxkit_wrote(tmp_path):
    ws = Workspace(tmp_path)
    model = ws.save(relu_model(), stem="failed", step=Step("convert"))
    users = save(relu_model(), tmp_path / "mine.onnx")
    ws.discard(model)
    ws.discard(onnxkit.load(users))
    assert [p.name for p in tmp_path.iterdir()] == ["mine.onnx"]


def test_external_data_kept_beside(tmp_path):
    ws = Workspace(tmp_path)
    proto = relu_model()
    proto.graph.initializer.append(onnx.numpy_helper.from_array(np.ones((64, 64), np.float32), "w"))
    m = ws.save(proto, stem="big", step=Step("x"), external=True, owned=False)
    assert proto.graph.initializer[0].HasField("raw_data")  # caller's proto not emptied
    assert [f.location for f in m.external_data] == ["big.onnx.data"]
    assert (tmp_path / "big.onnx.data").stat().st_size >= 64 * 64 * 4
    # A derived model of an external-data parent keeps its weights external too.
    child = ws.save(m.to_proto(), stem="big", tag="copy", step=Step("copy"), parent=m)
    assert [f.location for f in child.external_data] == ["big.copy.onnx.data"]


def test_set_workspace(tmp_path):
    before = onnxkit.workspace()
    try:
        ws = onnxkit.set_workspace(tmp_path / "elsewhere")
        assert onnxkit.workspace() is ws
        m = onnxkit.load(relu_model(), name="relu")
        assert m.path.parent == tmp_path / "elsewhere"
        (tmp_path / "file").write_text("x")
        with pytest.raises(WorkspaceError, match="is a file"):
            onnxkit.set_workspace(tmp_path / "file")
    finally:
        onnxkit.set_workspace(before.root)


def test_unwritable_root_is_a_workspace_error(tmp_path):
    (tmp_path / "blocker").write_text("x")
    ws = Workspace(tmp_path / "blocker" / "sub")
    with pytest.raises(WorkspaceError, match="Cannot create"):
        ws.save(relu_model(), stem="relu", step=Step("x"))
