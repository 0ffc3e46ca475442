"""``to_triton``: a Triton Inference Server model repository for the onnxruntime backend, and
a KServe ``InferenceService`` that serves it.

The ``config.pbtxt`` is one ``ModelConfig`` built from the model's signature (a dict in the
message's field names): with tritonclient installed it becomes Triton's own protobuf message and
is printed by protobuf's ``text_format``; without, the same dict is printed as text format here,
its strings escaped by protobuf's own ``CEscape``. Provider
settings map to what Triton's onnxruntime backend understands: CUDA and TensorRT put the
instances on GPUs (TensorRT as a GPU execution accelerator, with its precision and workspace),
OpenVINO is a CPU execution accelerator, threads become backend parameters. What does not map
is listed in ``notes``.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onnxkit.base import Params, graph_inputs, graph_outputs, integer
from onnxkit.bundled.manifest import Labels, label_list
from onnxkit.errors import ParameterError, UnsupportedModelError, WorkspaceError
from onnxkit.models import ModelLike, load
from onnxkit.results import Result, html_table
from onnxkit.runtime import ProviderSpec, canonical_name, split_spec, validate_options

# numpy dtype name -> Triton's DataType enum name (model_config.proto)
TRITON_TYPES = {"bool": "TYPE_BOOL", "uint8": "TYPE_UINT8", "uint16": "TYPE_UINT16",
                "uint32": "TYPE_UINT32", "uint64": "TYPE_UINT64", "int8": "TYPE_INT8",
                "int16": "TYPE_INT16", "int32": "TYPE_INT32", "int64": "TYPE_INT64",
                "float16": "TYPE_FP16", "float32": "TYPE_FP32", "float64": "TYPE_FP64",
                "bfloat16": "TYPE_BF16", "string": "TYPE_STRING"}
# TensorRT provider option -> (Triton accelerator parameter, how its value maps)
_TRT_OPTIONS: dict[str, tuple[str, Any]] = {
    "trt_fp16_enable": ("precision_mode", lambda v: "FP16" if v == "True" else "FP32"),
    "trt_int8_enable": ("precision_mode", lambda v: "INT8" if v == "True" else None),
    "trt_max_workspace_size": ("max_workspace_size_bytes", str)}


@dataclass(frozen=True)
class TritonExport(Result):
    """Result of :func:`to_triton`: the repository, the model's folder and what was written."""

    repository: Path
    name: str
    config: str  # config.pbtxt's text
    files: tuple[str, ...]  # relative to the repository
    validated: bool  # parsed with Triton's ModelConfig schema
    max_batch_size: int
    notes: tuple[str, ...]  # settings that did not map, and other caveats

    def to_dict(self) -> dict[str, Any]:
        return {"repository": str(self.repository), "name": self.name, "files": list(self.files),
                "validated": self.validated, "max_batch_size": self.max_batch_size,
                "notes": list(self.notes), "config": self.config}

    def __repr__(self) -> str:
        checked = "parsed with Triton's schema" if self.validated else "NOT validated"
        lines = [f"TritonExport '{self.name}' in {self.repository} (config.pbtxt {checked}, "
                 f"max_batch_size {self.max_batch_size})"]
        lines += [f"  {f}" for f in self.files]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = [("file", f) for f in self.files] + [("note", n) for n in self.notes]
        return html_table(("", ""), [("validated", str(self.validated)), *rows],
                          caption=f"Triton model repository '{self.name}'") + \
            f"<pre>{self.config}</pre>"


def to_triton(model: ModelLike, repo_dir: str | os.PathLike[str], *, name: str | None = None,
              max_batch: int = 32, dynamic_batching: bool = True, max_delay_ms: float = 2.0,
              instances: int = 1, providers: ProviderSpec | list[ProviderSpec] | None = None,
              threads: int | None = None, labels: Labels | None = None,
              storage_uri: str | None = None, overwrite: bool = False) -> TritonExport:
    """Write ``repo_dir/<name>/config.pbtxt`` and ``repo_dir/<name>/1/model.onnx`` for Triton's
    onnxruntime backend, plus ``repo_dir/<name>/inferenceservice.yaml`` for KServe.

    Args:
        name: the model's name in Triton (default: the model's, made safe).
        max_batch: Triton's ``max_batch_size`` (dims then leave the batch axis out). A model
            without a dynamic first axis on every input and output gets 0 (no batching).
        dynamic_batching, max_delay_ms: Triton's dynamic batcher and its queue delay.
        instances: model instances per device (``instance_group.count``).
        providers: the target server's providers in priority order, with options (e.g.
            ``[("tensorrt", {"trt_fp16_enable": True}), "cuda"]``); default: CPU.
        labels: class names for the first output (``labels.txt``, Triton's classification).
        storage_uri: where the repository will live for KServe (default: a placeholder).
        overwrite: replace ``repo_dir/<name>`` if it holds an earlier export.

    Nothing here runs Triton (no server binary is installed); ``validated`` says whether the
    config was built with Triton's schema (tritonclient installed).
    """
    handle = load(model)
    if handle.external_data:
        raise UnsupportedModelError("to_triton copies one .onnx file; this model has external "
                                    "data. Save it as one file (under 2 GB) first.")
    arg = Params("to_triton")
    arg.integer(max_batch, "max_batch", low=0, high=1 << 20)
    arg.integer(instances, "instances", high=1024)
    arg.number(max_delay_ms, "max_delay_ms", low=0)
    model_name = _safe_name(name or handle.name)
    inputs, outputs = graph_inputs(handle.proto.graph), graph_outputs(handle.proto.graph)
    batch = max_batch if max_batch and _batchable([*inputs, *outputs]) else 0
    notes = [] if batch or not max_batch else [
        "max_batch_size 0: not every input and output has a dynamic first axis, so Triton "
        "cannot batch requests for this model"]
    accel, kind, params = _providers(providers, threads, notes)
    names = label_list(labels) if labels is not None else None
    config, validated = config_text(_config(model_name, inputs, outputs, batch,
                                            dynamic_batching and batch > 0, max_delay_ms,
                                            instances, kind, accel, params, bool(names)))
    if not validated:
        notes.append("config.pbtxt was written without Triton's schema (pip install "
                     "tritonclient[grpc] to build it with Triton's own ModelConfig)")
    target = _prepare(Path(repo_dir), model_name, overwrite)
    (target / "1").mkdir(parents=True)
    shutil.copyfile(handle.path, target / "1" / "model.onnx")
    (target / "config.pbtxt").write_text(config)
    files = [f"{model_name}/config.pbtxt", f"{model_name}/1/model.onnx"]
    if names:
        (target / "labels.txt").write_text("\n".join(names) + "\n")
        files.append(f"{model_name}/labels.txt")
    (target / "inferenceservice.yaml").write_text(kserve_yaml(model_name, storage_uri, kind))
    files.append(f"{model_name}/inferenceservice.yaml")
    return TritonExport(Path(repo_dir).absolute(), model_name, config, tuple(files), validated,
                        batch, tuple(notes))


def _safe_name(name: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name).strip("._") or "model"
    return safe


def _batchable(tensors: list[Any]) -> bool:
    return all(t.shape and not isinstance(t.shape[0], int) for t in tensors)


def _prepare(repo: Path, name: str, overwrite: bool) -> Path:
    target = repo / name
    if target.exists():
        if not overwrite:
            raise WorkspaceError(f"to_triton: '{target}' exists. Pass overwrite=True to replace "
                                 "an earlier export, or another repo_dir/name.")
        if not (target / "config.pbtxt").is_file():
            raise WorkspaceError(f"to_triton(overwrite=True): '{target}' is not a Triton model "
                                 "folder (no config.pbtxt), so it is left alone.")
        shutil.rmtree(target)
    target.mkdir(parents=True)
    return target


def _providers(providers: Any, threads: int | None, notes: list[str]
               ) -> tuple[dict[str, list[dict[str, Any]]], str, dict[str, str]]:
    """Triton's execution accelerators, instance kind and backend parameters."""
    import onnxruntime as ort

    specs = [providers] if isinstance(providers, (str, tuple)) else list(providers or ["cpu"])
    accel: dict[str, list[dict[str, Any]]] = {"gpu": [], "cpu": []}
    kind, params = "KIND_CPU", {}
    for spec in specs:
        raw, options = split_spec(spec)
        provider = canonical_name(raw, ort.get_all_providers())
        if provider is None:
            raise ParameterError(f"to_triton(providers=...): unknown provider {raw!r}.")
        options = validate_options(provider, options, available=False)
        if provider == "TensorrtExecutionProvider":
            kind = "KIND_GPU"
            accel["gpu"].append(_tensorrt(options, notes))
        elif provider == "CUDAExecutionProvider":
            kind = "KIND_GPU"
            notes += [f"CUDA option {k}={v} has no Triton setting; not carried"
                      for k, v in options.items() if k != "device_id"]
        elif provider == "OpenVINOExecutionProvider":
            accel["cpu"].append({"name": "openvino"})
            notes += [f"OpenVINO option {k} is not carried" for k in options]
        elif provider != "CPUExecutionProvider":
            notes.append(f"{provider} has no Triton onnxruntime-backend setting; left out")
    if threads:
        params["intra_op_thread_count"] = str(integer(threads, "to_triton", "threads"))
    return accel, kind, params


def _tensorrt(options: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    params = {}
    for key, value in options.items():
        if key in _TRT_OPTIONS:
            param, convert = _TRT_OPTIONS[key]
            mapped = convert(value)
            if mapped is not None:
                params[param] = mapped
        elif key != "device_id":
            notes.append(f"TensorRT option {key}={value} has no Triton setting; not carried")
    return {"name": "tensorrt", "parameters": params}


def _config(name: str, inputs: Any, outputs: Any, batch: int, dynamic: bool, delay_ms: float,
            instances: int, kind: str, accel: dict[str, list[dict[str, Any]]],
            params: dict[str, str], labels: bool) -> dict[str, Any]:
    """The ``ModelConfig`` as a dict of its field names (what ``json_format.ParseDict`` reads),
    in field-number order: protobuf's ``text_format`` prints that order, so the text is the
    same with or without Triton's schema."""
    config: dict[str, Any] = {
        "name": name, "max_batch_size": batch, "input": [_tensor(t, batch) for t in inputs],
        "output": [_tensor(t, batch, labels and i == 0) for i, t in enumerate(outputs)],
        "instance_group": [{"count": instances, "kind": kind}]}
    if dynamic:
        config["dynamic_batching"] = {"max_queue_delay_microseconds": int(delay_ms * 1000)}
    chosen = {f"{where}_execution_accelerator": accel[where] for where in ("gpu", "cpu")
              if accel[where]}
    if chosen:
        config["optimization"] = {"execution_accelerators": chosen}
    if params:
        config["parameters"] = {key: {"string_value": value} for key, value in params.items()}
    return {**config, "backend": "onnxruntime"}


def _tensor(info: Any, batch: int, labels: bool = False) -> dict[str, Any]:
    dtype = TRITON_TYPES.get(info.dtype)
    if dtype is None:
        raise UnsupportedModelError(f"to_triton: tensor '{info.name}' has dtype {info.dtype}, "
                                    "which Triton cannot carry.")
    shape = list(info.shape or ["?"])[1 if batch else 0:]
    tensor = {"name": info.name, "data_type": dtype,
              "dims": [d if isinstance(d, int) else -1 for d in shape]}
    return {**tensor, "label_filename": "labels.txt"} if labels else tensor


def config_text(config: dict[str, Any]) -> tuple[str, bool]:
    """``config.pbtxt``'s text, and whether Triton's schema (tritonclient) built it."""
    try:
        from google.protobuf import json_format, text_format
        from tritonclient.grpc import model_config_pb2
    except ImportError:
        return _text_format(config), False
    message = json_format.ParseDict(config, model_config_pb2.ModelConfig())
    return text_format.MessageToString(message), True


_ENUMS = {"data_type", "kind"}  # printed bare: their values are enum names
_MAPS = {"parameters"}  # map<string, ...> fields: one {key, value} entry each


def _text_format(message: dict[str, Any], indent: str = "") -> str:
    """Protobuf text format of a message given as a dict (no schema at hand)."""
    from google.protobuf.text_encoding import CEscape

    lines = []
    for field, value in message.items():
        if field in _MAPS:
            value = [{"key": k, "value": v} for k, v in value.items()]
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict):
                lines.append(f"{indent}{field} {{\n{_text_format(item, indent + '  ')}{indent}}}")
            elif isinstance(item, bool):
                lines.append(f"{indent}{field}: {str(item).lower()}")
            elif isinstance(item, str) and field not in _ENUMS:
                lines.append(f'{indent}{field}: "{CEscape(item, as_utf8=True)}"')
            else:
                lines.append(f"{indent}{field}: {item}")
    return "".join(line + "\n" for line in lines)


def kserve_yaml(name: str, storage_uri: str | None, kind: str) -> str:
    """A KServe ``InferenceService`` running Triton on this repository (v2 protocol)."""
    service = re.sub(r"[^a-z0-9-]", "-", name.lower()).strip("-")[:63] or "model"
    uri = storage_uri or "s3://YOUR-BUCKET/PATH/TO/THIS/REPOSITORY"
    gpu = '\n        limits:\n          nvidia.com/gpu: "1"' if kind == "KIND_GPU" else ""
    return f"""# KServe InferenceService: Triton serving this model repository over the Open
# Inference Protocol. Upload the repository folder to storageUri first.
# Triton checks no bearer token itself: authenticate in front of it (KServe's ingress, e.g. an
# Istio RequestAuthentication + AuthorizationPolicy requiring 'Authorization: Bearer ...').
# onnxkit's own server (a bundle's serve.py) checks the ONNXKIT_SERVE_TOKEN variable instead.
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: {service}
spec:
  predictor:
    model:
      modelFormat:
        name: triton
      protocolVersion: v2
      storageUri: {uri}
      args:
        - --strict-model-config=false
      resources:
        requests:
          cpu: "1"
          memory: 1Gi{gpu}
"""
