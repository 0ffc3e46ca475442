"""The edge report every bundle carries (size, session peak memory with and without the CPU
arena, the ORT-format model and its reduced-build config) and the budgets bundle() enforces."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest

from onnxkit import deploy
from onnxkit.deploy._edge import over_budget
from onnxkit.errors import BudgetError, ParameterError


@pytest.fixture(scope="module")
def digits_bundle(digits, tmp_path_factory):
    return deploy.bundle(digits.model, tmp_path_factory.mktemp("edge") / "digits")


def test_every_bundle_carries_its_edge_report(digits, digits_bundle):
    b = digits_bundle
    edge = b.manifest["edge"]
    assert edge["model_bytes"] == digits.model.size_bytes
    assert {"edge/digits_cnn.ort", "edge/digits_cnn.required_operators.config"} <= set(b.files)
    assert edge["ort_format"] == "edge/digits_cnn.ort"
    assert edge["ort_format_bytes"] == (b.path / edge["ort_format"]).stat().st_size
    # the reduced build's config names the kernels the CNN needs (its convolutions are fused)
    ops = {op for opsets in edge["required_operators"].values()
           for names in opsets.values() for op in names}
    assert {"Gemm", "MaxPool"} <= ops and ops & {"Conv", "FusedConv"}
    config = (b.path / edge["reduced_build_config"]).read_text()
    assert "Gemm" in config
    # the .ort model runs and gives the ONNX model's outputs
    image = digits.inputs["image"][:4]
    def run(path):
        return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
            None, {"image": image})[0]

    np.testing.assert_allclose(run(b.path / edge["ort_format"]), run(digits.model.path),
                               rtol=1e-4, atol=1e-5)
    peak = edge["peak_memory"]
    # measured (Linux): a session of a 150 kB CNN costs more than nothing and far under 1 GB
    assert 0 < peak["arena_bytes"] < 1e9 and 0 < peak["no_arena_bytes"] < 1e9
    assert peak["inputs"] == {"image": [1, 1, 8, 8]}
    assert "enable_cpu_mem_arena=True" in peak["arena"]
    assert "edge: model" in repr(b) and "reduced build:" in repr(b)
    readme = (b.path / "README.md").read_text()
    assert "## On an edge device" in readme and "--include_ops_by_config" in readme
    # the manifest hashes the edge files like every other: verify catches a changed .ort
    assert deploy.verify(b.path)
    assert json.loads((b.path / "manifest.json").read_text())["edge"] == edge


def test_budgets_refuse_naming_the_excess_and_write_nothing(digits, tmp_path):
    out, mb = tmp_path / "digits", digits.model.size_bytes / 1e6
    budget = round(mb / 2, 3)
    with pytest.raises(BudgetError, match=rf"^bundle: the model is {mb:.3g} MB, "
                                          rf"{mb - budget:.3g} MB over max_size_mb={budget:g}\. "
                                          r"Nothing was written"):
        deploy.bundle(digits.model, out, max_size_mb=budget)
    with pytest.raises(BudgetError, match=r"its session peaks at .* MB over "
                                          r"max_memory_mb=0\.001 \(with "
                                          r"enable_cpu_mem_arena=False: .* MB\)"):
        deploy.bundle(digits.model, out, max_memory_mb=0.001)
    assert list(tmp_path.iterdir()) == []  # no bundle, no temporary folder left
    within = deploy.bundle(digits.model, out, max_size_mb=1, max_memory_mb=1000)
    assert within.manifest["edge"]["model_bytes"] < 1e6


@pytest.mark.parametrize("bad", [0, -1, "10", True, float("nan")])
def test_budget_arguments(tiny, tmp_path, bad):
    with pytest.raises(ParameterError, match=r"^bundle\(max_size_mb=\.\.\.\) must be a positive"):
        deploy.bundle(tiny, tmp_path / "b", max_size_mb=bad)
    with pytest.raises(ParameterError, match=r"^bundle\(max_memory_mb=\.\.\.\)"):
        deploy.bundle(tiny, tmp_path / "b", max_memory_mb=bad)
    assert not (tmp_path / "b").exists()


def _edge(size, arena, bare):
    return {"model_bytes": size, "peak_memory": {"arena_bytes": arena, "no_arena_bytes": bare}}


def test_over_budget_rule_with_injected_figures():
    assert over_budget(_edge(2_000_000, 30e6, 20e6), 2.0, 30.0) == ""  # at the limit: fits
    both = over_budget(_edge(2_500_000, 45e6, 20e6), 2.0, 30.0)
    assert both == ("the model is 2.5 MB, 0.5 MB over max_size_mb=2; its session peaks at "
                    "45 MB, 15 MB over max_memory_mb=30 (with enable_cpu_mem_arena=False: "
                    "20 MB)")
    assert over_budget(_edge(2_500_000, 45e6, 20e6), None, None) == ""
    # a memory budget this system cannot measure is refused, never waved through
    assert "cannot be checked" in over_budget(_edge(1, None, None), None, 30.0)
    assert over_budget(_edge(1, None, None), 1.0, None) == ""
