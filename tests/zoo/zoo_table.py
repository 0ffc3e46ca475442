"""The zoo's table: each model's outcome at each stage, written to test-artifacts/zoo.md."""

from __future__ import annotations

from pathlib import Path

STAGES = ["convert", "dynamo", "torchscript", "check", "optimize", "fp16", "int8", "bundle",
          "predict.py", "nms"]
ARTIFACT = Path(__file__).resolve().parents[2] / "test-artifacts" / "zoo.md"
_outcomes: dict[str, dict[str, str]] = {}


def record(model: str, stage: str, outcome: str) -> None:
    _outcomes.setdefault(model, {})[stage] = outcome


def markdown() -> str:
    if not _outcomes:
        return ""
    header = "| model | " + " | ".join(STAGES) + " |"
    rule = "|---" * (len(STAGES) + 1) + "|"
    rows = [f"| {model} | " + " | ".join(stages.get(s, "-").replace("|", "/") for s in STAGES)
            + " |" for model, stages in _outcomes.items()]
    note = ("`dynamo`/`torchscript`: the exporter that `convert` (auto) did not use, run too. "
            "Measured on the case's feeds, against the float model (predict.py: the bundled "
            "model run in-process): `err` max abs error / the output's range, `cosine` of the "
            "outputs; bounds in test_zoo.TOLERANCES. `expected:` beyond the bound, for the "
            "reason given. `nms`: the detector's boxes through compose.with_postprocessing("
            "nms=...), checked against numpy's NMS (test_zoo_detection).")
    return "\n".join(["# Model zoo: each model through every stage", "", note, "", header,
                      rule, *rows, ""])


def write() -> Path | None:
    text = markdown()
    if not text:
        return None
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    ARTIFACT.write_text(text)
    return ARTIFACT
