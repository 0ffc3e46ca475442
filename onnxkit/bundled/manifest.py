"""A bundle's ``manifest.json``: file hashes, IO signature, versions, postprocessing; and the
checks of ``bundle()``'s options that decide what goes in it."""

from __future__ import annotations

import datetime
import json
import math
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from onnxkit._version import __version__
from onnxkit.base import TensorInfo, graph_inputs, graph_outputs
from onnxkit.bundled.predict import file_problems, sha256_of
from onnxkit.errors import InvalidModelError, ParameterError, ProviderError, WorkspaceError
from onnxkit.models import Model
from onnxkit.runtime import canonical_name, split_spec

FORMAT = "onnxkit-bundle"
FORMAT_VERSION = 1
SMOKE_INPUTS = "smoke_inputs.npz"  # the smoke test's inputs, when the caller gave them
MANIFEST = "manifest.json"
Labels = Sequence[str] | Mapping[int, str]


def file_entries(folder: Path, names: Sequence[str]) -> dict[str, dict[str, Any]]:
    return {n: {"sha256": sha256_of(folder / n), "size": (folder / n).stat().st_size}
            for n in names}


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The folder's manifest if it is an onnxkit bundle's, else None."""
    try:
        data = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT else None


def check_files(folder: Path, manifest: Mapping[str, Any]) -> dict[str, str]:
    """``{file: what is wrong}`` for each listed file that is missing or altered."""
    return file_problems(folder, dict(manifest))


def provider_names(providers: Any) -> tuple[list[str], list[dict[str, Any]]]:
    """Forgiving names (``"cuda"``) -> ORT's, without requiring them in this build."""
    import onnxruntime as ort


    if providers is None:
        return ["CPUExecutionProvider"], [{}]
    items = [providers] if isinstance(providers, (str, tuple)) else list(providers)
    known = ort.get_all_providers()
    names, options = [], []
    for item in items:
        name, opts = split_spec(item)
        canonical = canonical_name(name, known)
        if canonical is None:
            raise ProviderError(f"bundle(providers=...): unknown execution provider '{name}'. "
                                f"ONNX Runtime knows: {', '.join(known)}.")
        if canonical not in names:
            names.append(canonical)
            options.append(opts)
    return names, options


def postprocess_spec(model: Model, labels: Labels | None, threshold: float | None,
                     output: str | None) -> dict[str, Any] | None:
    """What predict.py does after the model: argmax -> label, or a binary threshold."""
    if labels is None and threshold is None:
        if output is not None:
            raise ParameterError("bundle(output=...) names the output that labels= or "
                                 "threshold= apply to; pass one of them too.")
        return None
    outputs = graph_outputs(model.proto.graph)
    target = _pick_output(outputs, output, threshold)
    names = label_list(labels) if labels is not None else None
    if threshold is not None:
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) \
                or not math.isfinite(threshold):
            raise ParameterError(f"bundle(threshold=...) must be a finite number (a score "
                                 f"cut-off); got {threshold!r}.")
        if names is not None and len(names) != 2:
            raise ParameterError(f"bundle(labels=...) with threshold= needs exactly 2 labels "
                                 f"(below, at or above the threshold); got {len(names)}.")
    check_classes(target.name, target.shape, names, threshold)
    return {"output": target.name, "labels": names,
            "threshold": None if threshold is None else float(threshold)}


def check_classes(output: str, shape: Sequence[Any] | None, labels: list[str] | None,
                  threshold: float | None) -> None:
    """Labels must match the class dim, and a threshold needs one score (or two classes)."""
    last = shape[-1] if shape else None
    if not isinstance(last, int):
        return  # symbolic or unknown: checked again on the smoke test's output
    if threshold is not None and last not in (1, 2) and len(shape or ()) > 1:
        raise ParameterError(f"bundle(threshold=...) is for binary outputs, but output "
                             f"'{output}' has {last} classes (shape {list(shape or ())}). Use "
                             f"labels= for multi-class outputs.")
    if threshold is None and labels is not None and len(labels) != last:
        raise ParameterError(f"bundle(labels=...) has {len(labels)} labels but output "
                             f"'{output}' has {last} classes (shape {list(shape or ())}). "
                             f"Give one label per class.")


def _pick_output(outputs: tuple[TensorInfo, ...], name: str | None,
                 threshold: float | None) -> TensorInfo:
    """The named output; by default the first, unless that one already holds class indices
    (a classifier's ``label``, as skl2onnx writes it): then the first float scores output
    (``probabilities``), whose argmax is the same class."""
    if name is None:
        first = outputs[0]
        if threshold is None and first.dtype.startswith("int") and len(first.shape or ()) <= 1:
            scores = [o for o in outputs if o.dtype.startswith("float")
                      and len(o.shape or ()) == 2]
            if scores:
                return scores[0]
            raise ParameterError(
                f"bundle(labels=...): the first output '{first.name}' holds class indices, "
                "not one score per class, and the model has no [batch, classes] float output "
                "to take the argmax of. Name the scores output with output=..., or convert "
                "the classifier with its probabilities (skl2onnx: options={'zipmap': False}).")
        return first
    for info in outputs:
        if info.name == name:
            return info
    raise ParameterError(f"bundle(output=...) names '{name}', which the model does not have. "
                         f"Outputs: {[o.name for o in outputs]}.")


def label_list(labels: Labels) -> list[str]:
    if isinstance(labels, Mapping):
        keys = sorted(labels)
        if keys != list(range(len(keys))) or not all(isinstance(k, int) for k in keys):
            raise ParameterError(f"bundle(labels=...) as a dict must map every class index "
                                 f"0..n-1 to a name; got keys {keys[:12]}.")
        values = [labels[k] for k in keys]
    elif isinstance(labels, (str, bytes)) or not isinstance(labels, Sequence):
        raise ParameterError(f"bundle(labels=...) must be a list of class names or a dict "
                             f"{{index: name}}; got {type(labels).__name__}.")
    else:
        values = list(labels)
    if len(values) < 2:
        raise ParameterError(f"bundle(labels=...) needs at least 2 class names; got {values}.")
    return [str(v) for v in values]


def build(model: Model, source: Model, files: dict[str, dict[str, Any]], *,
          providers: tuple[list[str], list[dict[str, Any]]], postprocess: dict[str, Any] | None,
          smoke: dict[str, Any]) -> dict[str, Any]:
    import numpy as np
    import onnxruntime as ort

    proto = model.proto
    if not proto.graph.output:
        raise InvalidModelError(f"'{model.path}' has no graph outputs: nothing to bundle.")
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "model": {"file": model.path.name, "name": source.name,
                  "external_data": [f.location for f in model.external_data],
                  "ir_version": proto.ir_version,
                  "opset_imports": {o.domain or "ai.onnx": o.version for o in proto.opset_import},
                  "producer": f"{proto.producer_name} {proto.producer_version}".strip()},
        "inputs": mark_images([i.to_dict() for i in graph_inputs(proto.graph)], source),
        "outputs": [o.to_dict() for o in graph_outputs(proto.graph)],
        "providers": providers[0], "provider_options": providers[1],
        "postprocess": postprocess,
        "tested_with": {"onnxruntime": ort.__version__, "numpy": np.__version__,
                        "python": platform.python_version(), "platform": platform.platform()},
        "smoke_test": smoke,
        "created": {"by": f"onnxkit {__version__}",
                    "at": datetime.datetime.now(datetime.timezone.utc).isoformat(
                        timespec="seconds"),
                    "source": str(source.path),
                    "lineage": [s.to_dict() for s in source.lineage]},
        "files": files,
    }


def mark_images(inputs: list[dict[str, Any]], source: Model) -> list[dict[str, Any]]:
    """Each raw-image input gets ``"image": {"layout", "channels"}``, so predict.py and the
    server decode JPEG/PNG bytes into it: a ``uint8`` input of the layout that
    ``compose.with_preprocessing(image=ImagePrep(...))`` recorded in the model's lineage
    (the graph alone cannot tell NHWC from NCHW)."""
    layouts = {s.params["image"].get("layout", "hwc") for s in source.lineage
               if s.op == "with_preprocessing" and isinstance(s.params.get("image"), dict)}
    for spec in inputs:
        shape = spec.get("shape") or []
        for layout in sorted(layouts):
            axis = IMAGE_CHANNEL_AXIS[layout]
            if spec["dtype"] == "uint8" and len(shape) == len(layout) and \
                    shape[axis] in (1, 3, 4):
                spec["image"] = {"layout": layout, "channels": shape[axis]}
                break
    return inputs


IMAGE_CHANNEL_AXIS = {"hwc": 2, "nhwc": 3, "nchw": 1}
# serve.py's needs and its fast paths: protocol.py uses orjson when present and uvicorn picks
# uvloop and httptools when installed; unlisted, a bundle's server falls back to the stdlib
# json codec, asyncio's loop and h11 (the same replies, slower), unlike `onnxkit serve` here.
_SERVING = (("starlette", ">=0.40", ""), ("uvicorn", ">=0.30", ""), ("orjson", ">=3.9", ""),
            ("httptools", ">=0.6", ""), ("uvloop", ">=0.19", "; sys_platform != 'win32'"))


# A language model's bundle decodes with onnxruntime-genai and tokenizes with tokenizers.
_TEXT = (("onnxruntime-genai", ">=0.18", ""), ("tokenizers", ">=0.20", ""))


def requirements(manifest: Mapping[str, Any] | None = None) -> str:
    """Pinned requirements: the onnxruntime distribution installed here and numpy (all that
    predict.py needs), then serve.py's (pinned when installed here); for ``manifest``'s
    language model onnxruntime-genai and tokenizers; for another model Pillow when an input
    takes images and onnxruntime-extensions when the graph uses its operators."""
    from importlib import metadata

    import numpy as np
    import onnxruntime as ort

    dists = metadata.packages_distributions().get("onnxruntime") or ["onnxruntime"]
    lines = [f"{sorted(dists)[0]}=={ort.__version__}", f"numpy=={np.__version__}"]
    wanted = list(_SERVING)
    if manifest is not None and manifest.get("kind") == "language-model":
        wanted += _TEXT  # its decoder and tokenizer
    elif manifest is not None:
        if any("image" in spec for spec in manifest["inputs"]):
            wanted.append(("pillow", ">=10", ""))
        if "ai.onnx.contrib" in manifest["model"].get("opset_imports", {}):
            wanted.append(("onnxruntime-extensions", ">=0.13", ""))
    for name, floor, marker in wanted:
        try:
            lines.append(f"{name}=={metadata.version(name)}{marker}")
        except metadata.PackageNotFoundError:
            lines.append(f"{name}{floor}{marker}")
    return "\n".join(lines) + "\n"


def check_target(target: Path, overwrite: bool) -> None:
    """Refuse a bundle folder that is a file, or holds anything but an earlier bundle (which
    ``overwrite`` may replace): onnxkit never deletes a folder it did not create."""
    if target.exists() and not target.is_dir():
        raise WorkspaceError(f"bundle(out_dir=...): '{target}' is a file; give a folder path "
                             "(it is created).")
    if not target.is_dir() or not any(target.iterdir()):
        return
    if not overwrite:
        raise WorkspaceError(f"bundle(out_dir=...): '{target}' exists and is not empty. Choose "
                             "a new folder, or pass overwrite=True to replace a previous bundle "
                             "there.")
    if read_manifest(target) is None:
        raise WorkspaceError(f"bundle(out_dir=..., overwrite=True): '{target}' is not an onnxkit "
                             "bundle (it has no onnxkit manifest.json), so it is left alone: "
                             "onnxkit never deletes a folder it did not create. Choose a new or "
                             "empty folder.")
