"""providers() and provider-name resolution against the installed ONNX Runtime build."""

from __future__ import annotations

import onnxruntime as ort
import pytest

import onnxkit
from onnxkit._providers import canonical_name, resolve
from onnxkit.errors import ProviderError


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
    resolved, _ = resolve([("cpu", {"arena_extend_strategy": "kSameAsRequested"})])
    assert resolved == (("CPUExecutionProvider", {"arena_extend_strategy": "kSameAsRequested"}),)


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
