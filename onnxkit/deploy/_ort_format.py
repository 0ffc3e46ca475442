"""``to_ort_format``: the ORT (flatbuffer) format for mobile and reduced builds, checked."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from onnxkit._version import __version__
from onnxkit.base import clean_ort_message, one_of
from onnxkit.bench import Comparison, compare
from onnxkit.deploy._mobile import MobileReport, check_mobile, quiet_tools
from onnxkit.errors import ConversionError, ParameterError, WorkspaceError
from onnxkit.models import (
    Model,
    ModelLike,
    free_target,
    lineage_file,
    load,
    safe_name,
    workspace,
)
from onnxkit.results import Result, fmt_bytes, html_table
from onnxkit.runtime import random_inputs

Optimization = Literal["fixed", "runtime"]
_STYLES = {"fixed": "Fixed", "runtime": "Runtime"}


@dataclass(frozen=True)
class OrtConversion(Result):
    """Result of :func:`to_ort_format`: truthy when the ``.ort`` file gives the ``.onnx``'s outputs.

    Attributes:
        path: the ``.ort`` file (in the workspace unless ``out=`` was given).
        size_bytes: its size; ``source_bytes`` is the ``.onnx``'s (with external data).
        optimization: ``"fixed"`` or ``"runtime"`` (see :func:`to_ort_format`).
        mobile: the mobile-usability report (:class:`MobileReport`), with the operators a
            reduced-operator build needs.
        verification: the ``.ort`` model's outputs compared with the ``.onnx``'s.
    """

    path: Path
    size_bytes: int
    source: Path
    source_bytes: int
    optimization: str
    mobile: MobileReport
    verification: Comparison
    log: str = ""

    def __bool__(self) -> bool:
        return bool(self.verification)

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "size_bytes": self.size_bytes,
                "source": str(self.source), "source_bytes": self.source_bytes,
                "optimization": self.optimization, "passed": bool(self),
                "mobile": self.mobile.to_dict(), "verification": self.verification.to_dict()}

    def __repr__(self) -> str:
        verdict = "same outputs" if self else "OUTPUTS DIFFER"
        lines = [f"ORT format ({self.optimization}): {self.path.name}, "
                 f"{fmt_bytes(self.size_bytes)} (onnx: "
                 f"{fmt_bytes(self.source_bytes)}); {verdict}", f"  {self.path}"]
        lines += [f"  {line}" for line in self.mobile.lines()]
        ops = sum(len(v) for o in self.mobile.required_operators.values() for v in o.values())
        lines.append(f"  reduced build needs {ops} operator kernel(s) in "
                     f"{', '.join(self.mobile.required_operators) or 'no domain'}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = [("file", self.path), ("size", fmt_bytes(self.size_bytes)),
                ("onnx size", fmt_bytes(self.source_bytes)),
                ("optimization", self.optimization),
                ("outputs", "same as the .onnx" if self else "DIFFER: " + "; ".join(
                    f"{o.name}: {o.reason}" for o in self.verification.failed))]
        rows += [(f"reduced build: {d}", "; ".join(f"opset {k}: {', '.join(v)}"
                                                   for k, v in o.items()))
                 for d, o in self.mobile.required_operators.items()]
        return html_table(("ORT format", self.path.name), rows) + self.mobile._repr_html_()


def to_ort_format(model: ModelLike, *, optimization: Optimization | None = None,
                  out: str | os.PathLike[str] | None = None) -> OrtConversion:
    """Convert to the ORT format with onnxruntime's own converter, and check the result.

    Runs ``onnxruntime.tools.convert_onnx_models_to_ort`` on a private copy of the model in
    the workspace (the user's folder is never written to), loads the ``.ort`` file in an
    ``InferenceSession`` and compares its outputs with the ``.onnx``'s on random inputs, and
    runs onnxruntime's mobile usability checks (:class:`~onnxkit.deploy.MobileReport`).

    Args:
        model: anything model-like.
        optimization: ``"fixed"`` (default): optimizations are applied and baked in, best for
            the CPU EP. ``"runtime"``: basic optimizations only, the others are saved and
            replayed at load time where possible (for NNAPI/CoreML, which take an unknown
            share of the nodes); enable ``session.enable_saved_runtime_optimizations``.
        out: where to write the ``.ort`` file (must not exist). Default: the workspace,
            ``<model>.ort`` or ``<model>.runtime.ort``.

    Raises:
        ParameterError: an unknown ``optimization``.
        ConversionError: onnxruntime could not convert or load the model.
        WorkspaceError: ``out`` exists or its folder does not.

    Examples:
        >>> import onnxkit
        >>> ort_model = onnxkit.deploy.to_ort_format(onnxkit.samples.tiny_model())
        >>> ort_model.path.name, bool(ort_model), ort_model.mobile.unsupported_ops
        ('tiny.ort', True, {})
    """
    style = one_of(optimization if optimization is not None else "fixed", tuple(_STYLES),
                   "to_ort_format", "optimization")
    handle = load(model)
    ws = workspace()
    ws.ensure_root()
    target = _target(handle, style, out)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-ort-", dir=ws.root))
    try:
        source = _private_copy(handle, tmp / "src")
        produced, config, log = _convert(source, tmp / "out", style)
        with quiet_tools():
            mobile = check_mobile(source, tmp, display=handle.path)
        mobile = replace(mobile, required_operators=_read_config(config))
        _place(produced, target, handle, style)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    verification = _verify(handle, target)
    return OrtConversion(target, target.stat().st_size, handle.path, handle.size_bytes, style,
                         mobile, verification, log)


def _target(handle: Model, style: str, out: str | os.PathLike[str] | None) -> Path:
    if out is not None:
        target = free_target(out)
        if target.suffix != ".ort":
            raise ParameterError(f"to_ort_format(out=...) must end with '.ort' (onnxruntime "
                                 f"picks the format from it); got '{target}'.")
        return target
    base = safe_name(handle.name) + ("" if style == "fixed" else ".runtime")
    for n in range(1, 10_000):
        path = workspace().root / (f"{base}.ort" if n == 1 else f"{base}-{n}.ort")
        if not path.exists() or lineage_file(path).exists():
            return path
    raise WorkspaceError(f"No free file name for '{base}.ort' in {workspace().root}: clean it.")


def _private_copy(handle: Model, folder: Path) -> Path:
    """Hard links (or copies) of the model and its data: the converter writes beside them."""
    folder.mkdir()
    files = [(handle.path, folder / "model.onnx")]
    files += [(handle.path.parent / f.location, folder / f.location)
              for f in handle.external_data]
    for src, dst in files:
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, dst)
        except OSError:
            shutil.copyfile(src, dst)
    return folder / "model.onnx"


def _convert(source: Path, out_dir: Path, style: str) -> tuple[Path, Path, str]:
    with quiet_tools() as printed:
        from onnxruntime.tools.convert_onnx_models_to_ort import (
            OptimizationStyle,
            convert_onnx_models_to_ort,
        )

        try:
            convert_onnx_models_to_ort(source, output_dir=out_dir,
                                       optimization_styles=[OptimizationStyle[_STYLES[style]]])
        except Exception as e:  # ORT raises Fail/InvalidGraph/RuntimeError...

            raise ConversionError(
                f"onnxruntime could not convert the model to the ORT format: "
                f"{clean_ort_message(str(e))} Check it with onnxkit.check(model).") from e
    produced = sorted(out_dir.glob("*.ort"))
    configs = sorted(out_dir.glob("*.config"))
    if len(produced) != 1 or len(configs) != 1:
        raise ConversionError(f"onnxruntime's converter wrote {[p.name for p in produced]} and "
                              f"{[c.name for c in configs]}; expected one .ort and one .config. "
                              f"Its output: {printed.getvalue()[-500:]}")
    return produced[0], configs[0], printed.getvalue()


def _read_config(config: Path) -> dict[str, dict[int, list[str]]]:
    """``domain;opset;Op1,Op2`` lines (the reduced-build config) -> ``{domain: {opset: ops}}``."""
    ops: dict[str, dict[int, list[str]]] = {}
    for line in config.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        domain, opset, names = line.split(";", 2)
        ops.setdefault(domain, {})[int(opset)] = names.split(",")
    return ops


def _place(produced: Path, target: Path, handle: Model, style: str) -> None:
    tmp_target = produced.with_name(target.name)
    os.replace(produced, tmp_target)
    try:
        os.replace(tmp_target, target)  # same filesystem for the workspace; else copy below
    except OSError:
        shutil.copyfile(tmp_target, target)
    if target.parent == workspace().root:  # marks the file as onnxkit's: it may be replaced
        lineage_file(target).write_text(json.dumps({"onnxkit": __version__, "lineage": [
            *(s.to_dict() for s in handle.lineage),
            {"op": "to_ort_format", "params": {"optimization": style},
             "source": str(handle.path), "details": {}}]}, indent=1, default=str))


def _verify(handle: Model, ort_path: Path) -> Comparison:
    import onnxruntime as ort

    feeds = random_inputs(handle)
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.add_session_config_entry("session.load_model_format", "ORT")
    try:
        sess = ort.InferenceSession(str(ort_path), so, providers=["CPUExecutionProvider"])
        names = [o.name for o in sess.get_outputs()]
        outputs = dict(zip(names, sess.run(names, feeds)))
    except Exception as e:

        raise ConversionError(f"onnxruntime wrote '{ort_path}' but cannot run it: "
                              f"{clean_ort_message(str(e))}") from e
    return compare(handle, outputs, feeds)
