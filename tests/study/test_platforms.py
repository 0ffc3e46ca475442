"""``platforms=`` in Study and quantize.tune: a variant whose outputs diverge on another
platform is marked and never picked. The rule is tested with injected verdicts (what the
emulated run would say), not with the emulator: tests/deploy/test_arm64.py runs that."""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pytest

import onnxkit
from onnxkit import quantize
from onnxkit.bench import Speedup
from onnxkit.errors import ParameterError
from onnxkit.study import _platforms, _tune

FAST = {"rounds": 2, "max_rounds": 2, "runs": 5, "budget_s": 5.0}
APART = "'y' max abs diff 0.31 > tolerance (atol 0.0021, int8-dynamic)"


def _inject(monkeypatch, diverging: set[str]):
    """Every platform run says: the same outputs, except for models whose last step (or,
    for the reference, no step) is in ``diverging``."""
    ran = []

    def verdicts(model, platforms, data):
        ran.append((model.name, platforms, {k: v.shape[0] for k, v in data.items()}))
        step = model.lineage[-1].op
        return {p: (APART if step in diverging else "") for p in platforms}

    monkeypatch.setattr(_platforms, "prepare", lambda platforms: None)
    monkeypatch.setattr(_platforms, "verdicts", verdicts)
    return ran


@pytest.fixture
def tiny_data(tiny):
    return {"x": np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32)}


def _speeds(study, **speedups):
    """The study with these (median, low, high) speedups, confirmed head to head."""
    timed = copy.copy(study)
    timed._variants = {n: replace(v, speedup=Speedup(*speedups.get(n, (1.0, 0.9, 1.1)),
                                                     0.95, 8))
                       for n, v in study._variants.items()}
    timed._confirmed = {n: Speedup(*f, 0.95, 8) for n, f in speedups.items()}
    return timed


def test_a_diverging_variant_is_marked_and_never_best(tiny, tiny_data, monkeypatch):
    ran = _inject(monkeypatch, diverging={"quantize.dynamic"})
    study = onnxkit.Study(tiny, data=tiny_data, platforms=["linux/arm64"], **FAST)
    study.add_all({"int8": quantize.dynamic(tiny), "fp16": onnxkit.to_fp16(tiny)})
    # each model ran there once, on the evaluation data's rows
    assert sorted(name for name, _, _ in ran) == sorted(r.model.name for r in study.rows())
    assert {p for _, p, _ in ran} == {("linux/arm64",)}
    assert study["int8"].diverges == ["linux/arm64"] and study["fp16"].diverges == []
    assert study["int8"].platforms == {"linux/arm64": APART}
    assert f"diverges on linux/arm64: {APART}" in study["int8"].note
    assert "diverges on linux/arm64" in repr(study)
    assert study.settings["platforms"] == ["linux/arm64"]
    # the fastest by far, yet left out; the next one is picked
    timed = _speeds(study, int8=(3.0, 2.8, 3.2), fp16=(1.5, 1.4, 1.6))
    choice = timed.best()
    assert choice.name == "fp16"
    assert "left out: 'int8' (diverges on linux/arm64)" in choice.why
    by_size = timed.best(by="size_mb")
    assert by_size.name == "fp16" and "left out: 'int8'" in by_size.why
    # only the diverging one is fast: keep the reference, and say why
    only = _speeds(study, int8=(3.0, 2.8, 3.2))
    assert only.best().keeps_reference and "left out: 'int8'" in only.best().why


def test_when_every_variant_diverges_the_reference_is_kept(tiny_study):
    apart = copy.copy(tiny_study)
    apart._variants = {n: replace(v, platforms={"linux/arm64": APART} if n != "reference"
                                  else {"linux/arm64": ""})
                       for n, v in tiny_study._variants.items()}
    choice = apart.best(by="size_mb")
    assert choice.keeps_reference
    assert "every variant's outputs diverge on another platform" in choice.why
    assert "'fp16' on linux/arm64" in choice.why


@pytest.fixture(scope="module")
def tiny_study(tiny):
    study = onnxkit.Study(tiny, **FAST)
    study.add("fp16", onnxkit.to_fp16(tiny))
    return study


@pytest.mark.parametrize("bad", ["windows/x86", ["linux/arm64", 3], 7])
def test_platforms_argument(tiny, bad):
    with pytest.raises(ParameterError, match=r"^Study\(platforms=\.\.\.\) must be a list of "
                                             r"platforms from \['linux/arm64'\]"):
        onnxkit.Study(tiny, platforms=bad, **FAST)
    assert _platforms.platforms_arg("linux/arm64", "Study") == ("linux/arm64",)
    assert _platforms.platforms_arg(None, "Study") == ()


def test_tune_never_answers_a_candidate_that_diverges(tiny, tiny_data, monkeypatch):
    clock = [0.0]

    def head_to_head(reference, candidate, feeds, budget_s):
        op = candidate.lineage[-1].op if candidate.lineage else ""
        fast = {"quantize.dynamic": (2.0, 1.9, 2.1), "to_fp16": (1.5, 1.4, 1.6)}.get(
            op, (1.0, 0.9, 1.1))
        return 1.0, Speedup(*fast, 0.95, 8)

    monkeypatch.setattr(_tune, "head_to_head", head_to_head)
    monkeypatch.setattr(_tune, "_now", lambda: clock[0])
    monkeypatch.setattr(_platforms, "prepare", lambda platforms: None)
    checked = []

    def verdicts(model, platforms, data):
        checked.append(model.lineage[-1].op)
        return {p: APART if model.lineage[-1].op == "quantize.dynamic" else "" for p in platforms}

    monkeypatch.setattr(_tune, "platform_verdicts", verdicts)
    result = quantize.tune(tiny, tiny_data, max_error=10.0, budget_s=10_000.0,
                           platforms=["linux/arm64"])
    dyn = next(c for c in result.candidates if c.recipe == "dynamic")
    assert dyn.meets and dyn.diverges == ["linux/arm64"]
    assert result.winner is not None and result.winner.recipe == "fp16"
    assert "left out: 'dynamic' (diverges on linux/arm64)" in result.why
    assert "diverges on linux/arm64" in repr(result)
    assert APART in result.table().set_index("recipe").loc["dynamic", "note"]
    # only candidates within the budget are worth a platform run
    assert len(checked) == sum(c.meets for c in result.candidates) > 0
    assert all(c.platforms == {} for c in result.candidates if not c.meets)
    with pytest.raises(ParameterError, match=r"^quantize\.tune\(platforms=\.\.\.\)"):
        quantize.tune(tiny, tiny_data, max_error=10.0, platforms=["mips"])


def test_describe_a_platform_check():
    from onnxkit.deploy._platform import PlatformCheck, output_diff

    here = np.eye(3, dtype=np.float32)
    diff, tol = output_diff("y", here, here + np.float32(0.5), "int8-dynamic")
    check = PlatformCheck("linux/arm64", "linux/x86_64", "predict.py", "root", "int8-dynamic",
                          {}, {}, {"x": [3, 3]}, (diff,), {"y": tol})
    assert _platforms.describe(check) == ("'y' max abs diff 0.5 > tolerance (atol 0.01, "
                                          "int8-dynamic)")
    assert _platforms.describe(replace(check, outputs=(), error="predict.py exited 1: boom")) \
        == "predict.py exited 1: boom"
    assert _platforms.note({"linux/arm64": ""}) == ""
