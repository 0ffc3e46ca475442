"""providers() and provider-name resolution against the installed ONNX Runtime build."""

from __future__ import annotations

import onnxruntime as ort
import pytest

import onnxkit
from onnxkit.errors import ProviderError
from onnxkit.runtime import (
    OptionSpec,
    _provider_options,
    canonical_name,
    io_device,
    provider_options,
    resolve,
    validate_options,
)


def test_table_lists_this_build_and_the_machine():
    table = onnxkit.providers()
    assert set(table.available) == set(ort.get_available_providers())
    assert {p.name for p in table.providers} == set(ort.get_all_providers())
    assert table.machine["logical cores"] >= 1 and table.machine["cpu"]
    assert "instruction sets" in table.machine
    assert "<table" in table._repr_html_() and "CPUExecutionProvider" in repr(table)
    assert table.to_dict()["onnxruntime"] == ort.__version__


@pytest.mark.parametrize("spelling", ["cpu", "CPU", "CPUExecutionProvider",
                                      " cpuexecutionprovider "])
def test_forgiving_names(spelling):
    assert canonical_name(spelling, ort.get_all_providers()) == "CPUExecutionProvider"
    assert resolve(spelling)[0] == (("CPUExecutionProvider", {}),)


def test_aliases_and_options():
    known = ort.get_all_providers()
    assert canonical_name("trt", known) == "TensorrtExecutionProvider"
    assert canonical_name("CUDA", known) == "CUDAExecutionProvider"
    resolved, _ = resolve([("cpu", {"use_arena": False})])
    assert resolved == (("CPUExecutionProvider", {"use_arena": "False"}),)


def test_unknown_name_lists_what_exists():
    with pytest.raises(ProviderError, match="unknown .* 'gpu'.*CPUExecutionProvider"):
        resolve("gpu")
    with pytest.raises(ProviderError, match="name or a \\(name, options dict\\)"):
        resolve([("cpu", "not a dict")])


@pytest.mark.skipif("CUDAExecutionProvider" in ort.get_available_providers(),
                    reason="CUDA is available in this build")
def test_known_but_missing_provider_falls_back_with_a_warning():
    with pytest.warns(onnxkit.ProviderFallbackWarning, match="CUDAExecutionProvider is not in"):
        resolved, skipped = resolve(["cuda", "cpu"])
    assert resolved == (("CPUExecutionProvider", {}),) and skipped == ("CUDAExecutionProvider",)


SCHEMA_KEYS = {
    "CPUExecutionProvider": {"use_arena"},
    "CUDAExecutionProvider": {"device_id", "gpu_mem_limit", "arena_extend_strategy",
                              "cudnn_conv_algo_search", "do_copy_in_default_stream",
                              "enable_cuda_graph"},
    "TensorrtExecutionProvider": {"device_id", "trt_fp16_enable", "trt_int8_enable",
                                  "trt_engine_cache_enable", "trt_engine_cache_path",
                                  "trt_max_workspace_size", "trt_timing_cache_enable"},
    "OpenVINOExecutionProvider": {"device_type", "precision", "num_of_threads", "num_streams",
                                  "cache_dir", "enable_qdq_optimizer"},
}


@pytest.mark.parametrize("provider", list(SCHEMA_KEYS))
def test_option_schemas(provider):
    specs = provider_options(provider)
    assert {o.name for o in specs} == SCHEMA_KEYS[provider]
    for o in specs:
        assert isinstance(o, OptionSpec) and o.kind in (int, float, bool, str) and o.help
        assert o.default is None or isinstance(o.default, o.kind)
        assert o.choices is None or o.default is None or o.default in o.choices


@pytest.mark.parametrize(("spelling", "provider"), [
    ("cuda", "CUDAExecutionProvider"), ("CUDA", "CUDAExecutionProvider"),
    ("trt", "TensorrtExecutionProvider"), ("tensorrt", "TensorrtExecutionProvider"),
    ("ov", "OpenVINOExecutionProvider"), ("openvino", "OpenVINOExecutionProvider"),
    ("CPU", "CPUExecutionProvider"),
])
def test_option_schemas_by_any_spelling(spelling, provider):
    assert provider_options(spelling) == provider_options(provider)


def test_option_schema_of_an_unknown_or_unchecked_provider():
    assert provider_options("dnnl") == ()  # known to ORT, no schema: options pass through
    with pytest.raises(ProviderError, match="unknown execution provider 'gpu'"):
        provider_options("gpu")


def test_values_come_back_in_the_form_ort_reads():
    checked = validate_options("CUDAExecutionProvider", {
        "device_id": "0", "gpu_mem_limit": 2 * 2**30, "arena_extend_strategy": "ksameasrequested",
        "cudnn_conv_algo_search": "heuristic", "do_copy_in_default_stream": 1,
        "enable_cuda_graph": True, "use_tf32": "0"}, available=False)
    assert checked == {"device_id": 0, "gpu_mem_limit": 2 * 2**30,
                       "arena_extend_strategy": "kSameAsRequested",
                       "cudnn_conv_algo_search": "HEURISTIC",
                       "do_copy_in_default_stream": "True", "enable_cuda_graph": "True",
                       "use_tf32": "0"}  # a key ORT reads that onnxkit passes on unchecked
    assert validate_options("DnnlExecutionProvider", {"anything": object}) == {
        "anything": object}


@pytest.mark.parametrize(("provider", "options", "match"), [
    ("cuda", {"device": 0}, "CUDAExecutionProvider has no option 'device'. Did you mean "
                            r"'device_id'\?.*Its options: device_id, gpu_mem_limit"),
    ("cuda", {"gpu_mem_limit": "2GB"}, "'gpu_mem_limit' must be a non-negative integer; got "
                                       "'2GB'"),
    ("cuda", {"device_id": 1.5}, "'device_id' must be a non-negative integer; got 1.5"),
    ("cuda", {"cudnn_conv_algo_search": "fast"}, "CUDAExecutionProvider option "
     "'cudnn_conv_algo_search' must be one of EXHAUSTIVE, HEURISTIC, DEFAULT; got 'fast'"),
    ("trt", {"trt_fp16_enable": "yes"}, "TensorrtExecutionProvider option 'trt_fp16_enable' "
                                        "must be True or False; got 'yes'"),
    ("trt", {"trt_engine_cache_path": 3}, "'trt_engine_cache_path' must be a string; got 3"),
    ("trt", {"fp16": True}, "Did you mean 'trt_fp16_enable'"),
    ("cpu", {"arena_extend_strategy": "kSameAsRequested"},
     "CPUExecutionProvider has no option 'arena_extend_strategy'. Its options: use_arena."),
    ("ov", {"precision": "int8"}, "OpenVINOExecutionProvider option 'precision' must be one of "
                                  "FP32, FP16, ACCURACY; got 'int8'"),
    ("ov", {"device_type": "FAST:CPU"}, "'device_type' must be a device, AUTO, or"),
])
def test_bad_options_say_what_is_allowed(provider, options, match):
    # Checked even where this build lacks the provider: a typo is a typo everywhere.
    with pytest.raises(ProviderError, match=match):
        resolve((provider, options))


def test_cuda_device_ids_are_checked(monkeypatch):
    # No GPU here: pretend nvidia-smi saw one, to check the message (real GPUs: test below).
    monkeypatch.setattr(_provider_options, "_cuda_device_ids", lambda: (0,))
    validate_options("CUDAExecutionProvider", {"device_id": 0})
    with pytest.raises(ProviderError, match="device_id=3 is not a GPU of this machine. "
                                            "Available device ids: 0"):
        validate_options("TensorrtExecutionProvider", {"device_id": 3})
    validate_options("CUDAExecutionProvider", {"device_id": 3}, available=False)


@pytest.mark.skipif("CUDAExecutionProvider" not in ort.get_available_providers(),
                    reason="this build has no CUDA")
def test_a_missing_gpu_is_refused_before_ort_sees_it(tiny):
    with pytest.raises(ProviderError, match="device_id=99 is not a GPU.*Available device ids"):
        onnxkit.session(tiny, providers=("cuda", {"device_id": 99}))


@pytest.mark.skipif("AzureExecutionProvider" not in ort.get_available_providers(),
                    reason="this build has no provider without a schema to pass options to")
def test_options_of_providers_without_a_schema_pass_through():
    resolved, _ = resolve([("azure", {"whatever": "1"}), "cpu"])
    assert resolved[0] == ("AzureExecutionProvider", {"whatever": "1"})


def test_io_device():
    assert io_device("CUDAExecutionProvider", {"device_id": 2}) == ("cuda", 2)
    assert io_device("TensorrtExecutionProvider", {}) == ("cuda", 0)
    assert io_device("OpenVINOExecutionProvider", {"device_type": "GPU"}) == ("cpu", 0)
