"""to_triton: a model repository whose config.pbtxt Triton's own schema parses, matching the
model; provider settings mapped where Triton has them. (No Triton server runs here.)"""

from __future__ import annotations

import pytest

import onnxkit
from onnxkit import deploy
from onnxkit.errors import ParameterError, WorkspaceError

model_config_pb2 = pytest.importorskip("tritonclient.grpc.model_config_pb2")
text_format = pytest.importorskip("google.protobuf.text_format")


def _parsed(export):
    text = (export.repository / export.name / "config.pbtxt").read_text()
    return text_format.Parse(text, model_config_pb2.ModelConfig())


def test_a_batching_cpu_repository_for_the_digits_cnn(digits, tmp_path):
    export = deploy.to_triton(digits.model, tmp_path, labels=[str(d) for d in range(10)],
                              threads=2)
    assert export.validated and export.max_batch_size == 32
    assert set(export.files) == {"digits_cnn/config.pbtxt", "digits_cnn/1/model.onnx",
                                 "digits_cnn/labels.txt", "digits_cnn/inferenceservice.yaml"}
    config = _parsed(export)
    assert config.name == "digits_cnn" and config.backend == "onnxruntime"
    (image,), (logits,) = config.input, config.output
    assert (image.name, model_config_pb2.DataType.Name(image.data_type), list(image.dims)) == \
        ("image", "TYPE_FP32", [1, 8, 8])  # the batch axis is Triton's
    assert list(logits.dims) == [10] and logits.label_filename == "labels.txt"
    assert config.dynamic_batching.max_queue_delay_microseconds == 2000
    assert model_config_pb2.ModelInstanceGroup.Kind.Name(config.instance_group[0].kind) == \
        "KIND_CPU"
    assert config.parameters["intra_op_thread_count"].string_value == "2"
    copied = (tmp_path / "digits_cnn" / "1" / "model.onnx").read_bytes()
    assert copied == digits.model.path.read_bytes()
    yaml = (tmp_path / "digits_cnn" / "inferenceservice.yaml").read_text()
    assert "kind: InferenceService" in yaml and "name: digits-cnn" in yaml
    assert "protocolVersion: v2" in yaml


def test_int64_inputs_and_dynamic_sequence_dims(transformer, tmp_path):
    config = _parsed(deploy.to_triton(transformer.model, tmp_path))
    assert [(i.name, model_config_pb2.DataType.Name(i.data_type), list(i.dims))
            for i in config.input] == [("input_ids", "TYPE_INT64", [-1]),
                                       ("attention_mask", "TYPE_INT64", [-1])]


def test_tensorrt_and_cuda_settings_map_to_tritons(digits, tmp_path):
    export = deploy.to_triton(digits.model, tmp_path, providers=[
        ("tensorrt", {"trt_fp16_enable": True, "trt_max_workspace_size": 1 << 30,
                      "trt_engine_cache_enable": True}), ("cuda", {"device_id": 0})],
        instances=2)
    config = _parsed(export)
    group = config.instance_group[0]
    assert model_config_pb2.ModelInstanceGroup.Kind.Name(group.kind) == "KIND_GPU"
    assert group.count == 2
    (trt,) = config.optimization.execution_accelerators.gpu_execution_accelerator
    assert trt.name == "tensorrt" and trt.parameters["precision_mode"] == "FP16"
    assert trt.parameters["max_workspace_size_bytes"] == str(1 << 30)
    assert any("trt_engine_cache_enable" in n for n in export.notes)  # said, not dropped


def test_openvino_is_a_cpu_accelerator(digits, tmp_path):
    config = _parsed(deploy.to_triton(digits.model, tmp_path, providers=["openvino"]))
    (ov,) = config.optimization.execution_accelerators.cpu_execution_accelerator
    assert ov.name == "openvino"


def test_a_fixed_batch_model_gets_max_batch_size_zero(digits, tmp_path):
    fixed = onnxkit.fix_dims(digits.model, {"image": (1, 1, 8, 8)})
    export = deploy.to_triton(fixed, tmp_path)
    config = _parsed(export)
    assert config.max_batch_size == 0 and list(config.input[0].dims) == [1, 1, 8, 8]
    assert not config.HasField("dynamic_batching")
    assert any("cannot batch" in n for n in export.notes)


def test_existing_folders_are_kept_unless_asked(digits, tmp_path):
    deploy.to_triton(digits.model, tmp_path)
    with pytest.raises(WorkspaceError, match="exists"):
        deploy.to_triton(digits.model, tmp_path)
    assert deploy.to_triton(digits.model, tmp_path, overwrite=True).validated
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(WorkspaceError, match="left alone"):
        deploy.to_triton(digits.model, tmp_path, name="mine", overwrite=True)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    with pytest.raises(ParameterError, match="unknown provider"):
        deploy.to_triton(digits.model, tmp_path / "x", providers=["warp"])


def _identity(path, input_name, output_name):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", [input_name], [output_name])], "odd_names",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["batch", 3])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_tensor_names_are_escaped_in_the_config(tmp_path):
    odd_in, odd_out = 'image "raw" \\ path\n', "scores ünï {}"
    model = _identity(tmp_path / "odd.onnx", odd_in, odd_out)
    config = _parsed(deploy.to_triton(model, tmp_path / "repo", labels=["a", "b", "c"]))
    assert [i.name for i in config.input] == [odd_in]
    assert [(o.name, o.label_filename) for o in config.output] == [(odd_out, "labels.txt")]


def test_without_tritonclient_the_same_config_is_written(digits, tmp_path):
    """Where tritonclient is missing (a fresh process that cannot import it), the config is
    printed without Triton's schema: it parses to the very message the schema printed."""
    import subprocess
    import sys

    kwargs = dict(providers=[("tensorrt", {"trt_fp16_enable": True}), "cuda"], threads=2,
                  labels=[str(i) for i in range(10)])
    export = deploy.to_triton(digits.model, tmp_path / "with", **kwargs)
    code = ("import sys; sys.modules['tritonclient'] = None; from onnxkit import deploy; "
            f"e = deploy.to_triton({str(digits.model.path)!r}, {str(tmp_path / 'without')!r}, "
            f"name={export.name!r}, **{kwargs!r}); print(e.validated)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False"]
    without = (tmp_path / "without" / export.name / "config.pbtxt").read_text()
    assert text_format.Parse(without, model_config_pb2.ModelConfig()) == _parsed(export)
    assert without == (tmp_path / "with" / export.name / "config.pbtxt").read_text()
