"""``check``: is this model valid, and can ONNX Runtime load it? Crash-proof for the caller."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from onnxkit.base import clean_ort_message, number, ort_hint
from onnxkit.errors import InvalidModelError
from onnxkit.inspect._structure import Problem, structural_problems
from onnxkit.models import ModelLike, load
from onnxkit.results import Result, html_table

STAGES = ("load", "structure", "checker", "shapes", "runtime")
_WORKER = Path(__file__).with_name("_check_worker.py")


@dataclass(frozen=True)
class CheckReport(Result):
    """Outcome of :func:`check`: truthy when there is no error (warnings are allowed)."""

    model: str
    problems: tuple[Problem, ...]
    stages: dict[str, str] = field(default_factory=dict)  # stage -> "ok" / "failed" / why skipped
    details: dict[str, str] = field(default_factory=dict)

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "warning")

    def __bool__(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {"passed": bool(self), **super().to_dict()}

    def _rows(self) -> list[dict[str, Any]]:
        return [{"stage": s, "result": r, "detail": self.details.get(s, "")}
                for s, r in self.stages.items()]

    def __repr__(self) -> str:
        verdict = "passed" if self else f"FAILED with {len(self.errors)} error(s)"
        lines = [f"CheckReport '{self.model}': {verdict}"]
        lines += [f"  {s:<9} {state}" for s, state in self.stages.items()]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        verdict = "passed" if self else "failed"
        stages = html_table(
            ("stage", "result", "detail"),
            ((s, r, self.details.get(s, "")) for s, r in self.stages.items()),
            caption=f"check of {self.model}: {verdict}",
            bad=(r == "failed" for r in self.stages.values()))
        if not self.problems:
            return stages
        problems = html_table(
            ("stage", "severity", "problem", "what to do"),
            ((p.stage, p.severity, p.message, p.hint) for p in self.problems),
            caption="problems", bad=(p.severity == "error" for p in self.problems))
        return stages + problems


def check(model: ModelLike, *, timeout: float = 300.0) -> CheckReport:
    """Validate a model: structure, the onnx checker, shape inference and an ORT session.

    The checks that run native code happen in a child process, so a model that crashes
    onnx or onnxruntime produces a failing report instead of killing the Jupyter kernel.

    Args:
        model: anything :func:`onnxkit.load` accepts. A file that is not a readable model
            yields a failing report; a path that does not exist raises ``ModelNotFoundError``.
        timeout: seconds the child process may take.

    Examples:
        >>> import onnxkit
        >>> bool(onnxkit.check(onnxkit.samples.tiny_model()))
        True
    """
    timeout = number(timeout, "check", "timeout", low=0, low_open=True)
    try:
        handle = load(model)
    except InvalidModelError as e:  # ModelNotFoundError is not one: nothing to report on
        name = str(model) if isinstance(model, (str, Path)) else type(model).__name__
        return CheckReport(name, (Problem("load", str(e)),),
                           {s: "failed" if s == "load" else "skipped" for s in STAGES})
    stages = {"load": "ok"}
    problems = structural_problems(handle.proto)
    if any(p.severity == "error" for p in problems):
        stages["structure"] = "failed"
        stages.update({s: "skipped (fix the structure first)" for s in STAGES[2:]})
        return CheckReport(handle.name, tuple(problems), stages)
    stages["structure"] = "ok"
    child_problems, child_stages, details = _run_worker(str(handle.path), timeout)
    stages.update(child_stages)
    return CheckReport(handle.name, tuple(problems + child_problems), stages, details)


def _run_worker(path: str, timeout: float) -> tuple[list[Problem], dict[str, str], dict[str, str]]:
    cmd = [sys.executable, str(_WORKER), path]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
        stdout, returncode = proc.stdout, proc.returncode
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        stdout, returncode = out, None
    problems, stages, details = [], {}, {}
    for line in stdout.splitlines():
        try:
            r = json.loads(line)
        except ValueError:
            continue
        stages[r["stage"]] = "ok" if r["ok"] else "failed"
        if r["detail"]:
            details[r["stage"]] = r["detail"]
        if not r["ok"]:
            problems.append(_explain(r["stage"], r["message"]))
    unfinished = [s for s in STAGES[2:] if s not in stages]
    if unfinished:
        crashed = unfinished[0]
        why = (f"did not finish within {timeout:g} s" if returncode is None
               else f"crashed the process ({_describe_exit(returncode)})")
        problems.append(Problem(crashed, f"the {crashed} stage {why}.",
                                "Your session is safe: this ran in a child process. The model "
                                "triggers a bug or an extreme case in the native code."))
        stages[crashed] = "failed"
        stages.update({s: "skipped (the previous stage crashed)" for s in unfinished[1:]})
    return problems, {s: stages[s] for s in STAGES[2:]}, details


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def _explain(stage: str, raw: str) -> Problem:
    message = clean_ort_message(raw.split(": ", 1)[-1])  # without the exception class name
    return Problem(stage, message, ort_hint(message))
