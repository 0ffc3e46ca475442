"""load() and Model: every model-like input, and every kind of bad file."""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
from graphs import external_model, relu_model, save

import onnxkit
from onnxkit.errors import ExternalDataError, InvalidModelError, ModelNotFoundError, ParameterError


def test_load_path_str_pathlike_and_model(tiny):
    for like in (tiny.path, str(tiny.path), tiny):
        m = onnxkit.load(like)
        assert m.path == tiny.path and m.name == "tiny"
        assert [n.op_type for n in m.proto.graph.node] == ["Gemm", "Relu", "Gemm"]
    assert os.fspath(tiny) == str(tiny.path)


def test_load_bytes_and_proto_write_into_the_workspace(tmp_path):
    proto = relu_model()
    before = proto.SerializeToString()
    from_proto = onnxkit.load(proto, name="relu")
    from_bytes = onnxkit.load(before, name="relu_bytes")
    assert proto.SerializeToString() == before  # the caller's proto is untouched
    for m in (from_proto, from_bytes):
        assert m.path.is_relative_to(onnxkit.workspace().root)
        assert m.proto.graph.node[0].op_type == "Relu"
        assert m.lineage[-1].op == "import"


def test_size_includes_external_data(tmp_path):
    m = onnxkit.load(external_model(tmp_path))
    data = tmp_path / "weights.bin"
    assert m.size_bytes == m.path.stat().st_size + data.stat().st_size
    assert [f.location for f in m.external_data] == ["weights.bin"]
    # The proto is read without weights; to_proto() loads them on request.
    assert m.proto.graph.initializer[0].data_location == onnx.TensorProto.EXTERNAL
    full = m.to_proto()
    assert onnx.numpy_helper.to_array(full.graph.initializer[0]).sum() == 28
    assert m.proto.graph.initializer[0].data_location == onnx.TensorProto.EXTERNAL


def test_a_handle_refuses_once_its_file_is_replaced(tmp_path):
    path = save(relu_model(), tmp_path / "m.onnx")
    m = onnxkit.load(path)
    assert m.proto.graph.node[0].op_type == "Relu"
    changed = relu_model()
    changed.graph.node[0].op_type = "Sigmoid"
    save(changed, path)
    os.utime(path, ns=(1, 1))  # make sure the stamp differs even on coarse clocks
    with pytest.raises(onnxkit.errors.ModelChangedError, match="onnxkit.load"):
        m.proto  # noqa: B018 - the old handle would now mean another model
    with pytest.raises(onnxkit.errors.ModelChangedError):
        onnxkit.run(m, {"x": np.ones((1, 3), np.float32)})
    assert onnxkit.load(path).proto.graph.node[0].op_type == "Sigmoid"  # a new handle: fine


@pytest.mark.parametrize(("content", "match"), [
    (b"", "empty"),
    (b"hello, I am a text file\nnot a model\n", "text file"),
    (b"\x08\x07\x12\x04abc", "no IR version or no graph|not a readable"),
])
def test_bad_files_raise_invalid_model(tmp_path, content, match):
    path = tmp_path / "bad.onnx"
    path.write_bytes(content)
    with pytest.raises(InvalidModelError, match=match):
        onnxkit.load(path)


def test_random_bytes_and_truncated_files(tmp_path, digits):
    import numpy as np

    data = digits.model.path.read_bytes()
    rng = np.random.default_rng(0)
    cases = {"random": rng.bytes(5000)}
    cases.update({f"cut{n}": data[:n] for n in (10, 100, len(data) // 2, len(data) - 3)})
    for name, content in cases.items():
        path = tmp_path / f"{name}.onnx"
        path.write_bytes(content)
        with pytest.raises(InvalidModelError):
            onnxkit.load(path)


def test_missing_path_and_directory(tmp_path):
    with pytest.raises(ModelNotFoundError, match="No model file"):
        onnxkit.load(tmp_path / "missing.onnx")
    save(relu_model(), tmp_path / "inside.onnx")
    with pytest.raises(InvalidModelError, match="folder.*inside.onnx"):
        onnxkit.load(tmp_path)


def test_wrong_type_is_a_parameter_error():
    with pytest.raises(ParameterError, match="got list"):
        onnxkit.load([1, 2])


def test_missing_external_data(tmp_path):
    path = external_model(tmp_path)
    (tmp_path / "weights.bin").unlink()
    with pytest.raises(ExternalDataError, match="weights.bin.*missing"):
        onnxkit.load(path)


def test_truncated_external_data(tmp_path):
    path = external_model(tmp_path)
    (tmp_path / "weights.bin").write_bytes(b"\0" * 8)
    with pytest.raises(ExternalDataError, match="truncated"):
        onnxkit.load(path)


@pytest.mark.parametrize("location", ["../outside.bin", "/etc/passwd", "sub/../../outside.bin"])
def test_external_data_outside_the_folder_is_refused(tmp_path, location):
    inner = tmp_path / "inner"
    inner.mkdir()
    (tmp_path / "outside.bin").write_bytes(b"\0" * 64)
    path = external_model(inner)
    proto = onnx.load_model(str(path), load_external_data=False)
    for entry in proto.graph.initializer[0].external_data:
        if entry.key == "location":
            entry.value = location
    save(proto, path)
    with pytest.raises(ExternalDataError, match="outside"):
        onnxkit.load(path)


def test_external_data_through_a_symlink_out_is_refused(tmp_path):
    inner = tmp_path / "inner"
    inner.mkdir()
    path = external_model(inner)
    (tmp_path / "real.bin").write_bytes((inner / "weights.bin").read_bytes())
    (inner / "weights.bin").unlink()
    (inner / "weights.bin").symlink_to(tmp_path / "real.bin")
    with pytest.raises(ExternalDataError, match="outside"):
        onnxkit.load(path)


def test_in_memory_proto_with_external_references_is_refused(tmp_path):
    proto = onnx.load_model(str(external_model(tmp_path)), load_external_data=False)
    with pytest.raises(ExternalDataError, match="external data"):
        onnxkit.load(proto)


def test_html_and_repr(tiny):
    assert "tiny" in repr(tiny)
    assert "<table" in tiny._repr_html_()


def _edit_external_entry(path, key, value):
    proto = onnx.load_model(str(path), load_external_data=False)
    entries = proto.graph.initializer[0].external_data
    for e in list(entries):
        if e.key == key:
            entries.remove(e)
    if value is not None:
        entries.add(key=key, value=value)
    save(proto, path)


@pytest.mark.parametrize(("key", "value", "match"), [
    ("length", "12", "says 12 bytes"),
    ("offset", "abc", "non-numeric"),
])
def test_inconsistent_external_entries(tmp_path, key, value, match):
    path = external_model(tmp_path)
    _edit_external_entry(path, key, value)
    with pytest.raises(ExternalDataError, match=match):
        onnxkit.load(path)


def test_truncated_external_data_without_a_length_entry(tmp_path):
    path = external_model(tmp_path)
    _edit_external_entry(path, "length", None)
    (tmp_path / "weights.bin").write_bytes(b"\0" * 16)  # 4x2 float32 needs 32 bytes
    with pytest.raises(ExternalDataError, match="truncated"):
        onnxkit.load(path)
