"""A bundle on another platform: its own ``predict.py`` run in an emulated root and here, on the
same inputs, compared output by output with the tolerance the model's precision warrants.

The two runs use the same code (the bundle's predict.py) and the same pinned versions; what
differs is the CPU, so what differs in the outputs is the kernels' arithmetic (vector widths,
fused multiply-adds, summation order, the int8 GEMMs), bounded per precision below.
Timings under emulation say nothing about speed on the device: none are reported as such.
"""

from __future__ import annotations

import os
import platform as _host
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnx

from onnxkit.base import one_of
from onnxkit.bench import OutputDiff, compare
from onnxkit.deploy._emulated_root import (
    PlatformRoot,
    Target,
    python_env,
    root_for,
    run_inside,
    work_folder,
)
from onnxkit.errors import SessionError
from onnxkit.results import Result, html_table

Precision = Literal["fp32", "fp16", "int8-static", "int8-dynamic", "int4"]
# (rtol, atol as a share of the output's largest |value| here), per precision. Same model,
# same versions, another CPU: fp32 differs in the last bits (FMA, summation order); fp16 by
# its own epsilon (arm64 has native fp16 kernels); int8 by a rounding flip here and there, one
# step of a 256-level grid (~0.4% of the range) that a few layers may add up; weight-only int4
# (MatMulNBits) by the kernels each CPU picks: x86 may quantize activations to int8 per block
# (accuracy_level 4) where arm64 does not, an int8-activation error measured at 1.95% of the
# largest logit on the text transformer, so 5% leaves a margin of 2.5x.
TOLERANCES: dict[str, tuple[float, float]] = {
    "fp32": (1e-4, 1e-5), "fp16": (1e-2, 5e-3), "int8-dynamic": (1e-2, 1e-2),
    "int8-static": (1e-2, 2e-2), "int4": (2e-2, 5e-2)}
QUANT_STEPS = 2  # an int8/uint8 output of a quantized model: grid steps it may differ by
_INT4 = {"MatMulNBits", "GatherBlockQuantized"}
_DYNAMIC = {"DynamicQuantizeLinear", "MatMulInteger", "ConvInteger", "DynamicQuantizeMatMul",
            "DynamicQuantizeLSTM", "MatMulIntegerToFloat"}
_STATIC = {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "QLinearAdd",
           "QLinearMul", "QGemm", "QLinearSigmoid", "QLinearConcat", "QLinearAveragePool"}
_LOW_FLOAT = {onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16}
_INT4_TYPES = {onnx.TensorProto.INT4, onnx.TensorProto.UINT4}
_RUN_TIMEOUT_S = 1800


@dataclass(frozen=True)
class PlatformCheck(Result):
    """A bundle run on another platform vs here: truthy when every output is within tolerance.

    Attributes:
        platform: where it ran (``"linux/arm64"``); ``reference``: here (``"linux/x86_64"``).
        ran: what ran, on both sides (the bundle's predict.py, with the same inputs).
        where: the emulated root and its emulator; ``there``/``here``: machine, Python,
            onnxruntime and numpy of each side.
        precision: the model's, which sets the tolerances (``tolerances``: output ->
            ``(rtol, atol)``, atol already scaled to the output).
        inputs: input -> shape of the inputs both sides ran.
        outputs: one :class:`~onnxkit.bench.OutputDiff` per output (max abs/rel difference,
            argmax agreement, elements out of tolerance), there vs here.
        setup_s: seconds this call spent building the root and its Python environment (0 when
            cached), and in all (``total``): the check's cost, never a speed.
        error: why the run there failed ("" when both ran).
    """

    platform: str
    reference: str
    ran: str
    where: str
    precision: str
    there: dict[str, str]
    here: dict[str, str]
    inputs: dict[str, list[int]]
    outputs: tuple[OutputDiff, ...] = ()
    tolerances: dict[str, tuple[float, float]] = field(default_factory=dict)
    setup_s: dict[str, float] = field(default_factory=dict)
    error: str = ""

    def __bool__(self) -> bool:
        return not self.error and bool(self.outputs) and all(o.passed for o in self.outputs)

    @property
    def max_abs(self) -> dict[str, float | None]:
        """Output -> the largest absolute difference there vs here."""
        return {o.name: o.max_abs for o in self.outputs}

    def to_dict(self) -> dict[str, Any]:
        return {"platform": self.platform, "reference": self.reference, "passed": bool(self),
                "ran": self.ran, "where": self.where, "precision": self.precision,
                "there": dict(self.there), "here": dict(self.here), "inputs": dict(self.inputs),
                "outputs": [o.to_dict() for o in self.outputs],
                "tolerances": {k: list(v) for k, v in self.tolerances.items()},
                "setup_s": dict(self.setup_s), "error": self.error}

    def _rows(self) -> list[dict[str, Any]]:
        """One row per output; a run that failed there: one row saying why."""
        if not self.outputs:
            return [{"name": None, "passed": False, "reason": self.error}]
        return [{**o.to_dict(), "rtol": self.tolerances.get(o.name, (None, None))[0],
                 "atol": self.tolerances.get(o.name, (None, None))[1]} for o in self.outputs]

    def lines(self) -> list[str]:
        verdict = "same outputs within tolerance" if self else "FAILED"
        shapes = ", ".join(f"{k}{v}" for k, v in self.inputs.items())
        lines = [f"{self.platform} vs {self.reference} ({self.precision}): {verdict}",
                 f"  ran: {self.ran} on {shapes}", f"  where: {self.where}",
                 f"  there: {_versions(self.there)}; here: {_versions(self.here)}"]
        for o in self.outputs:
            rtol, atol = self.tolerances.get(o.name, (0.0, 0.0))
            agree = ("" if o.argmax_agreement is None
                     else f", argmax agreement {o.argmax_agreement:.1%}")
            lines.append(f"  {'ok  ' if o.passed else 'FAIL'} {o.name}: max abs diff "
                         f"{_g(o.max_abs)}{agree} (tolerance rtol {rtol:g}, atol {atol:.3g})"
                         + (f"; {o.reason}" if o.reason else ""))
        if self.error:
            lines.append(f"  {self.error}")
        setup = ", ".join(f"{k} {v:.0f} s" for k, v in self.setup_s.items())
        lines.append(f"  cost of the check: {setup} (emulated: not the device's speed)")
        return lines

    def __repr__(self) -> str:
        return "Platform check " + "\n".join(self.lines())

    def _repr_html_(self) -> str:
        rows: list[tuple[Any, ...]] = [("ran", self.ran), ("where", self.where),
                                       ("there", _versions(self.there)),
                                       ("here", _versions(self.here))]
        rows += [(o.name, ("ok" if o.passed else "FAIL") + f": max abs diff {_g(o.max_abs)}")
                 for o in self.outputs]
        if self.error:
            rows.append(("error", self.error))
        return html_table((f"{self.platform} vs {self.reference}", self.precision), rows,
                          bad=[r[1].startswith("FAIL") or r[0] == "error" for r in rows])


def _g(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _versions(side: Mapping[str, str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in side.items())


def precision_of(proto: onnx.ModelProto) -> Precision:
    """The model's precision, read from its graph: weight-only int4 (MatMulNBits or 4-bit
    tensors), dynamic int8 (DynamicQuantizeLinear, MatMulInteger...), static int8 (QDQ or
    QLinear* nodes), fp16 (float16/bfloat16 weights or IO), else fp32."""
    graph = proto.graph
    ops = {n.op_type for n in graph.node} | {n.op_type for f in proto.functions for n in f.node}
    types = {t.data_type for t in graph.initializer}
    types |= {v.type.tensor_type.elem_type for v in [*graph.input, *graph.output]}
    if ops & _INT4 or types & _INT4_TYPES:
        return "int4"
    if ops & _DYNAMIC:
        return "int8-dynamic"
    if ops & _STATIC:
        return "int8-static"
    return "fp16" if types & _LOW_FLOAT else "fp32"


def output_diff(name: str, reference: np.ndarray, candidate: np.ndarray | None,
                precision: str) -> tuple[OutputDiff, tuple[float, float]]:
    """One output there vs here, with the tolerance ``precision`` warrants, scaled to the
    output: ``|there - here| <= atol + rtol * |here|``, ``atol`` a share of ``max|here|``.
    Integer outputs must be equal, except the int8/uint8 output of a quantized model (within
    ``QUANT_STEPS`` steps of its grid); bools and strings always."""
    ref = np.asarray(reference)
    rtol, share = TOLERANCES[precision]
    if ref.dtype in (np.int8, np.uint8) and precision.startswith(("int8", "int4")):
        rtol, atol = 0.0, float(QUANT_STEPS)
        ref = ref.astype(np.float64)
        candidate = None if candidate is None else np.asarray(candidate).astype(np.float64)
    elif np.issubdtype(ref.dtype, np.floating):
        finite = np.abs(ref[np.isfinite(ref)])
        scale = float(finite.max()) if finite.size else 0.0
        atol = share * max(scale, float(np.finfo(np.float32).tiny))
    else:
        rtol, atol = 0.0, 0.0
    result = compare({name: ref}, {} if candidate is None else {name: candidate},
                     rtol=rtol, atol=atol)
    return result.outputs[0], (rtol, atol)


def check_on(target: Target, folder: Path, manifest: Mapping[str, Any],
             inputs: Mapping[str, np.ndarray], precision: str | None) -> PlatformCheck:
    """Run the bundle in ``folder`` here and in ``target``'s emulated root on ``inputs``."""
    start = time.monotonic()
    proto = onnx.load(str(folder / manifest["model"]["file"]), load_external_data=False)
    level = one_of(precision, tuple(TOLERANCES), "verify", "precision") if precision \
        else precision_of(proto)
    root = root_for(target, "verify")
    python, there, env_s = python_env(root, (folder / "requirements.txt").read_text())
    where = f"{root.distribution} at {root.path}, run by {root.emulator} (chroot, no mounts)"
    with tempfile.TemporaryDirectory(prefix="onnxkit-x86-") as tmp:
        feeds = Path(tmp) / "inputs.npz"
        # text as fixed-width unicode: predict.py reads an .npz without pickle
        np.savez(feeds, **{k: v.astype(str) if v.dtype == object else v  # type: ignore[arg-type]
                           for k, v in inputs.items()})
        here, error = _run_here(folder, feeds, Path(tmp) / "outputs.npz")
        if error:  # the bundle does not run here either: not a platform difference
            raise SessionError(f"verify(platform=...): the bundle's predict.py fails on this "
                               f"machine too, so there is nothing to compare: {error}")
        outputs, error = _run_there(root, python, folder, feeds)
    names = [o["name"] for o in manifest["outputs"]]
    diffs = [output_diff(n, here[n], outputs.get(n), level) for n in names] if not error else []
    setup = {"root build": root.build_s if root.built_now else 0.0, "environment": env_s,
             "total": time.monotonic() - start}
    ran = (f"the bundle's predict.py (onnxruntime {there.get('onnxruntime')}) on both sides, "
           f"--input inputs.npz --output outputs.npz")
    return PlatformCheck(target.name, f"linux/{_host.machine()}", ran, where, level, there,
                         _here_versions(), {k: list(v.shape) for k, v in inputs.items()},
                         tuple(d for d, _ in diffs), {n: t for n, (_, t) in zip(names, diffs)},
                         {k: round(v, 1) for k, v in setup.items()}, error)


def _run_here(folder: Path, feeds: Path, out: Path) -> tuple[dict[str, np.ndarray], str]:
    done = subprocess.run([sys.executable, "-I", str(folder / "predict.py"), "--input",
                           str(feeds), "--output", str(out)], capture_output=True, text=True,
                          timeout=_RUN_TIMEOUT_S, check=False)
    return _read(out, done)


def _run_there(root: PlatformRoot, python: str, folder: Path, feeds: Path
               ) -> tuple[dict[str, np.ndarray], str]:
    with work_folder(root) as (host, inside):
        _link_tree(folder, host / "bundle")
        shutil.copyfile(feeds, host / "inputs.npz")
        try:
            done = run_inside(root, [python, "-I", f"{inside}/bundle/predict.py", "--input",
                                     f"{inside}/inputs.npz", "--output",
                                     f"{inside}/outputs.npz"], _RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return {}, f"predict.py did not finish in {_RUN_TIMEOUT_S} s under emulation"
        return _read(host / "outputs.npz", done)


def _read(out: Path, done: subprocess.CompletedProcess[str]) -> tuple[dict[str, np.ndarray], str]:
    if done.returncode != 0:
        how = (f"was killed by signal {-done.returncode}" if done.returncode < 0
               else f"exited {done.returncode}")
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        return {}, f"predict.py {how}: {tail}"
    with np.load(out, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}, ""


def _link_tree(src: Path, dst: Path) -> None:
    """The bundle's files into the root: hard links where the file system allows (a large
    model costs nothing), else copies."""
    for path in sorted(src.rglob("*")):
        target = dst / path.relative_to(src)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, target)
        except OSError:
            shutil.copyfile(path, target)


def _here_versions() -> dict[str, str]:
    import onnxruntime as ort

    return {"machine": _host.machine(), "python": _host.python_version(),
            "onnxruntime": ort.__version__, "numpy": np.__version__}
