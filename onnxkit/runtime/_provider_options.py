"""Provider options: a typed schema per execution provider, and checking options against it.

ORT reads provider options as strings and reports a bad key or value late (at session
creation) or not at all: a provider that fails to start is dropped and the session silently
runs on the CPU. Checking here gives an exact error first.
"""

from __future__ import annotations

import difflib
import functools
import numbers
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from onnxkit.errors import ProviderError
from onnxkit.results import Result
from onnxkit.runtime._provider_names import canonical_name, unknown_provider


@dataclass(frozen=True)
class OptionSpec(Result):
    """One provider option, keyed as ONNX Runtime's provider options name it.

    ``default`` is ORT's own default (``None`` where ORT or the device decides); ``choices``
    lists the allowed values when they form a closed set.
    """

    name: str
    kind: type  # int, float, bool or str
    default: Any
    choices: tuple[Any, ...] | None
    help: str


_CUDA = "CUDAExecutionProvider"
_TRT = "TensorrtExecutionProvider"
_OV = "OpenVINOExecutionProvider"
_GPU_ID = OptionSpec("device_id", int, 0, None, "which GPU, as CUDA numbers them (0: the first)")
# The options a user tunes, typed and documented (keys checked against ORT's own parsers).
_SCHEMAS: dict[str, tuple[OptionSpec, ...]] = {
    "CPUExecutionProvider": (
        OptionSpec("use_arena", bool, True, None, "pool CPU memory in an arena (faster; "
                   "holds on to memory)"),),
    _CUDA: (
        _GPU_ID,
        OptionSpec("gpu_mem_limit", int, None, None, "size limit of the GPU memory arena, in "
                   "bytes (default: no limit)"),
        OptionSpec("arena_extend_strategy", str, "kNextPowerOfTwo",
                   ("kNextPowerOfTwo", "kSameAsRequested"), "how the memory arena grows"),
        OptionSpec("cudnn_conv_algo_search", str, "EXHAUSTIVE",
                   ("EXHAUSTIVE", "HEURISTIC", "DEFAULT"), "how cuDNN picks convolution "
                   "kernels: EXHAUSTIVE times them all on the first run"),
        OptionSpec("do_copy_in_default_stream", bool, True, None, "copy on the compute stream "
                   "(False overlaps copies but can race)"),
        OptionSpec("enable_cuda_graph", bool, False, None, "replay runs as a CUDA graph (fixed "
                   "shapes; inputs bound with IOBinding)")),
    _TRT: (
        _GPU_ID,
        OptionSpec("trt_fp16_enable", bool, False, None, "let TensorRT run layers in float16"),
        OptionSpec("trt_int8_enable", bool, False, None, "let TensorRT run layers in int8 "
                   "(needs a calibration table or a QDQ model)"),
        OptionSpec("trt_engine_cache_enable", bool, False, None, "save built engines and reuse "
                   "them (minutes saved per session)"),
        OptionSpec("trt_engine_cache_path", str, None, None, "folder of the engine cache"),
        OptionSpec("trt_max_workspace_size", int, None, None, "GPU memory TensorRT may use to "
                   "build engines, in bytes (default: TensorRT decides)"),
        OptionSpec("trt_timing_cache_enable", bool, False, None, "reuse kernel timings across "
                   "engine builds")),
    _OV: (
        OptionSpec("device_type", str, None, None, "OpenVINO device: CPU, GPU, GPU.1, NPU, "
                   "AUTO, or AUTO:/HETERO:/MULTI: with devices in priority order"),
        OptionSpec("precision", str, None, ("FP32", "FP16", "ACCURACY"), "inference precision "
                   "(default: FP32 on CPU, FP16 on GPU and NPU)"),
        OptionSpec("num_of_threads", int, None, None, "CPU inference threads (default: "
                   "OpenVINO decides)"),
        OptionSpec("num_streams", int, 1, None, "parallel inference streams (throughput mode)"),
        OptionSpec("cache_dir", str, None, None, "folder where compiled models are cached"),
        OptionSpec("enable_qdq_optimizer", bool, False, None, "optimize QDQ (quantized) models "
                   "for the NPU")),
}
# Further keys ORT accepts, passed on unchecked: rarely tuned, or raw pointers and paths.
_UNCHECKED = {
    _CUDA: ("has_user_compute_stream", "user_compute_stream", "gpu_external_alloc",
            "gpu_external_free", "gpu_external_empty_cache", "cudnn_conv_use_max_workspace",
            "cudnn_conv1d_pad_to_nc1d", "tunable_op_enable", "tunable_op_tuning_enable",
            "tunable_op_max_tuning_duration_ms", "enable_skip_layer_norm_strict_mode",
            "prefer_nhwc", "use_ep_level_unified_stream", "use_tf32", "sdpa_kernel",
            "fuse_conv_bias"),
    _TRT: ("has_user_compute_stream", "user_compute_stream", "trt_max_partition_iterations",
           "trt_min_subgraph_size", "trt_bf16_enable", "trt_int8_calibration_table_name",
           "trt_int8_use_native_calibration_table", "trt_dla_enable", "trt_dla_core",
           "trt_dump_subgraphs", "trt_engine_cache_prefix", "trt_engine_decryption_enable",
           "trt_engine_decryption_lib_path", "trt_force_sequential_engine_build",
           "trt_context_memory_sharing_enable", "trt_layer_norm_fp32_fallback",
           "trt_timing_cache_path", "trt_force_timing_cache", "trt_detailed_build_log",
           "trt_build_heuristics_enable", "trt_sparsity_enable", "trt_builder_optimization_level",
           "trt_auxiliary_streams", "trt_tactic_sources", "trt_extra_plugin_lib_paths",
           "trt_profile_min_shapes", "trt_profile_max_shapes", "trt_profile_opt_shapes",
           "trt_cuda_graph_enable", "trt_dump_ep_context_model", "trt_ep_context_file_path",
           "trt_ep_context_embed_mode", "trt_weight_stripped_engine_enable",
           "trt_onnx_model_folder_path", "trt_engine_hw_compatible", "trt_op_types_to_exclude",
           "trt_preview_features", "trt_load_user_initializer"),
    _OV: ("device_id", "device_luid", "load_config", "context", "model_priority",
          "enable_opencl_throttling", "disable_dynamic_shapes", "reshape_input", "layout",
          "enable_causallm"),
}
_OV_MODES = ("AUTO", "HETERO", "MULTI")
_OV_PRECISIONS = {"CPU": ("FP32", "ACCURACY"), "GPU": ("FP16", "FP32", "ACCURACY"),
                  "NPU": ("FP16", "ACCURACY")}
_TRUE, _FALSE = ("true", "1"), ("false", "0")


def provider_options(provider: str) -> tuple[OptionSpec, ...]:
    """The options onnxkit checks for ``provider``, with ORT's defaults; ``()`` for the others.

    ``provider`` is spelled as for :func:`~onnxkit.session`: ``"cuda"``, ``"CUDA"``,
    ``"trt"``, ``"ov"``, full names. OpenVINO's ``device_type`` choices are the devices this
    machine has (with AUTO and the AUTO:/HETERO:/MULTI: forms), when OpenVINO is installed.

    Examples:
        >>> from onnxkit import provider_options
        >>> [(o.name, o.kind.__name__, o.default) for o in provider_options("cpu")]
        [('use_arena', 'bool', True)]
        >>> {o.name: o.choices for o in provider_options("CUDA")}["cudnn_conv_algo_search"]
        ('EXHAUSTIVE', 'HEURISTIC', 'DEFAULT')
    """
    import onnxruntime as ort


    known = ort.get_all_providers()
    name = canonical_name(provider, known)
    if name is None:
        raise ProviderError(unknown_provider(provider, known, ort.get_available_providers()))
    specs = _SCHEMAS.get(name, ())
    devices = _ov_devices() if name == _OV else ()
    if devices:
        forms = ("AUTO", *(f"{mode}:{','.join(devices)}" for mode in _OV_MODES))
        specs = tuple(replace(s, choices=(*devices, *forms)) if s.name == "device_type" else s
                      for s in specs)
    return specs


def validate_options(provider: str, options: Mapping[str, Any], *, available: bool = True
                     ) -> dict[str, Any]:
    """``options`` checked against ``provider``'s schema, values in the form ORT reads.

    Booleans become ``"True"``/``"False"``: the one spelling every provider's parser accepts
    (OpenVINO refuses ``"1"``, TensorRT's Python binding refuses ``"1"``). Choices match
    case-insensitively. Devices are checked only when ``available`` (the provider is in this
    build). Providers without a schema get their options back unchanged.

    Examples:
        >>> from onnxkit.runtime import validate_options
        >>> validate_options("CUDAExecutionProvider", {"cudnn_conv_algo_search": "heuristic",
        ...                  "enable_cuda_graph": True}, available=False)
        {'cudnn_conv_algo_search': 'HEURISTIC', 'enable_cuda_graph': 'True'}
    """
    if provider not in _SCHEMAS:
        return dict(options)
    specs = {s.name: s for s in provider_options(provider)}
    checked: dict[str, Any] = {}
    for key, value in options.items():
        if key in specs:
            checked[key] = _coerce(provider, specs[key], value)
        elif key in _UNCHECKED.get(provider, ()):
            checked[key] = value
        else:
            raise ProviderError(_unknown_option(provider, key, list(specs)))
    if available:
        _check_devices(provider, checked)
    return checked


def _unknown_option(provider: str, key: str, typed: list[str]) -> str:
    unchecked = _UNCHECKED.get(provider, ())
    keys = [*typed, *unchecked]  # a near spelling, else a key containing what was typed
    close = difflib.get_close_matches(key, keys, n=1, cutoff=0.6) or [
        k for k in keys if key.lower() in k][:1]
    hint = f" Did you mean '{close[0]}'?" if close else ""
    more = f"; also read by ONNX Runtime: {', '.join(unchecked)}" if unchecked else ""
    return (f"providers=...: {provider} has no option '{key}'.{hint} Its options: "
            f"{', '.join(typed)}{more}.")


def _coerce(provider: str, spec: OptionSpec, value: Any) -> Any:
    where = f"providers=...: {provider} option '{spec.name}'"
    if spec.kind is bool:
        text = str(value).strip().lower() if isinstance(value, (bool, int, str)) else ""
        if text in _TRUE or text in _FALSE:
            return "True" if text in _TRUE else "False"
        raise ProviderError(f"{where} must be True or False; got {value!r}.")
    if spec.kind in (int, float):
        return _number(where, spec.kind, value)
    if not isinstance(value, str):
        raise ProviderError(f"{where} must be a string; got {value!r}.")
    if provider == _OV and spec.name == "device_type":
        return _ov_device_type(where, value, spec.choices)
    if spec.choices is None:
        return value
    match = next((c for c in spec.choices if c.lower() == value.strip().lower()), None)
    if match is None:
        raise ProviderError(f"{where} must be one of {', '.join(spec.choices)}; got {value!r}.")
    return match


def _number(where: str, kind: type, value: Any) -> int | float:
    try:  # "4" is fine too: ORT's own examples pass strings
        number = kind(value.strip()) if isinstance(value, str) else value
    except ValueError:
        number = None
    ok = isinstance(number, numbers.Real) and not isinstance(number, bool) and (
        kind is float or float(number).is_integer())
    if not ok or number < 0:
        what = "a non-negative integer" if kind is int else "a non-negative number"
        raise ProviderError(f"{where} must be {what}; got {value!r}.")
    return kind(number)


def _ov_device_type(where: str, value: str, choices: tuple[Any, ...] | None) -> str:
    """Spaces removed, upper case; ``AUTO``, ``CPU``, ``GPU.1``, ``HETERO:GPU,CPU``..."""
    text = value.replace(" ", "").upper()
    mode, _, listed = text.rpartition(":")
    if (mode and mode not in _OV_MODES) or (mode and not listed) or not text:
        shown = f" (here: {', '.join(choices)})" if choices else ""
        raise ProviderError(f"{where} must be a device, AUTO, or AUTO:/HETERO:/MULTI: followed "
                            f"by devices{shown}; got {value!r}.")
    return text


def _ov_named_devices(device_type: str) -> list[str]:
    """The devices a device_type names: ``HETERO:GPU.0,CPU`` -> GPU.0, CPU; suffixes dropped."""
    listed = device_type.rpartition(":")[2]
    return [d.split("_")[0] for d in listed.split(",") if d and d != "AUTO"]


def _check_devices(provider: str, checked: dict[str, Any]) -> None:
    where = f"providers=...: {provider}"
    if provider in (_CUDA, _TRT) and "device_id" in checked:
        ids = _cuda_device_ids()
        if ids is not None and checked["device_id"] not in ids:
            raise ProviderError(
                f"{where} device_id={checked['device_id']} is not a GPU of this machine. "
                f"Available device ids: {', '.join(map(str, ids)) or 'none'} (nvidia-smi, "
                "narrowed by CUDA_VISIBLE_DEVICES).")
    device = checked.get("device_type")
    if provider != _OV or device is None:
        return
    devices = _ov_devices()
    # "GPU" also names the first of GPU.0, GPU.1... as OpenVINO does.
    missing = [d for d in _ov_named_devices(device)
               if devices and d not in devices and not any(x.startswith(d + ".") for x in devices)]
    if missing:
        raise ProviderError(
            f"{where} device_type={device!r} names {', '.join(missing)}, which OpenVINO does "
            f"not find here. Devices: {', '.join(devices)}; or AUTO, or AUTO:/HETERO:/MULTI: "
            "followed by some of them.")
    allowed = _OV_PRECISIONS.get(device.split("_")[0].split(".")[0])
    if "precision" in checked and allowed and checked["precision"] not in allowed:
        raise ProviderError(
            f"{where} precision={checked['precision']!r} is not supported on {device}; "
            f"{device} supports {', '.join(allowed)}. Leave precision unset for its default.")


@functools.lru_cache(maxsize=1)
def _ov_devices() -> tuple[str, ...]:
    """OpenVINO's devices here (``("CPU", "GPU.0")``); ``()`` without OpenVINO in this build."""
    try:
        from onnxruntime.capi import _pybind_state

        return tuple(_pybind_state.get_available_openvino_device_ids())
    except (ImportError, AttributeError, RuntimeError):
        return ()


@functools.lru_cache(maxsize=1)
def _cuda_device_ids() -> tuple[int, ...] | None:
    """The ids CUDA gives this process's GPUs; ``None`` when that cannot be known."""
    if not shutil.which("nvidia-smi"):
        return None
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    count = sum(1 for line in out.stdout.splitlines() if line.strip())
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:  # CUDA renumbers the visible GPUs from 0
        count = min(count, len([v for v in visible.split(",") if v.strip()]))
    return tuple(range(count))


def io_device(provider: str, options: Mapping[str, Any]) -> tuple[str, int]:
    """Where ``provider`` keeps tensors, as ``OrtValue`` names devices.

    Examples:
        >>> from onnxkit.runtime import io_device
        >>> io_device("TensorrtExecutionProvider", {"device_id": 1})
        ('cuda', 1)
    """
    if provider in (_CUDA, _TRT):
        return "cuda", int(options.get("device_id", 0))
    return "cpu", 0
