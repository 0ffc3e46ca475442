"""OpenVINO, a real provider beyond the CPU: selection, options, placement, speed, agreement.

Runs where onnxruntime-openvino is installed (`make test-providers` builds that environment).
Real sessions only: ONNX Runtime 1.24's OpenVINO provider reports no options back
(`get_provider_options()` is empty for it), so the tests look at what the options do.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

import onnxkit
from onnxkit.errors import ProviderError
from onnxkit.runtime import create_session, provider_options, resolve

OV = "OpenVINOExecutionProvider"
pytestmark = pytest.mark.skipif(
    OV not in ort.get_available_providers(),
    reason="this onnxruntime build has no OpenVINO (pip install onnxruntime-openvino, or "
           "`make test-providers`)")


@pytest.mark.parametrize("spelling", ["openvino", "OpenVINO", "ov", "OV", OV])
def test_selected_by_any_spelling(tiny, spelling):
    assert resolve(spelling)[0] == ((OV, {}),)
    assert onnxkit.session(tiny, providers=[spelling, "cpu"]).get_providers()[0] == OV


def test_device_choices_are_this_machines_devices():
    devices = ort.capi._pybind_state.get_available_openvino_device_ids()
    spec = {o.name: o for o in provider_options("ov")}["device_type"]
    assert "CPU" in devices and set(devices) <= set(spec.choices)
    assert {"AUTO", f"HETERO:{','.join(devices)}", f"MULTI:{','.join(devices)}"} <= set(
        spec.choices)


def test_options_are_normalized_and_reach_openvino(tiny, tmp_path):
    cache = tmp_path / "ov-cache"
    options = {"device_type": "cpu", "precision": "fp32", "num_of_threads": 1, "num_streams": "1",
               "cache_dir": str(cache), "enable_qdq_optimizer": False}
    resolved, _ = resolve(("ov", options))
    assert resolved == ((OV, {"device_type": "CPU", "precision": "FP32", "num_of_threads": 1,
                              "num_streams": 1, "cache_dir": str(cache),
                              "enable_qdq_optimizer": "False"}),)
    sess = onnxkit.session(tiny, providers=("ov", options))
    assert sess.get_providers()[0] == OV
    assert list(cache.glob("*.blob"))  # OpenVINO compiled the model into the cache we named
    x = np.ones((2, 4), np.float32)
    assert np.allclose(onnxkit.run(tiny, x, providers=("ov", options))["y"],
                       onnxkit.run(tiny, x)["y"], atol=1e-5)


@pytest.mark.parametrize("device", ["AUTO", "HETERO:CPU", "MULTI:CPU", "AUTO:CPU"])
def test_composite_devices(tiny, device):
    assert onnxkit.session(tiny, providers=("ov", {"device_type": device})).get_providers()[0] \
        == OV


@pytest.mark.parametrize(("options", "match"), [
    ({"num_threads": 2}, "OpenVINOExecutionProvider has no option 'num_threads'. Did you mean "
                         "'num_of_threads'\\?.*Its options: device_type, precision"),
    ({"precision": "int8"}, "'precision' must be one of FP32, FP16, ACCURACY; got 'int8'"),
    ({"device_type": "CPU", "precision": "FP16"}, "precision='FP16' is not supported on CPU; "
                                                  "CPU supports FP32, ACCURACY"),
    ({"device_type": "GPU"}, "device_type='GPU' names GPU, which OpenVINO does not find here. "
                             "Devices: CPU"),
    ({"device_type": "HETERO:NPU,CPU"}, "names NPU"),
    ({"device_type": "FAST:CPU"}, "AUTO:/HETERO:/MULTI: followed by devices \\(here: CPU"),
    ({"num_streams": "many"}, "'num_streams' must be a non-negative integer; got 'many'"),
    ({"enable_qdq_optimizer": "yes"}, "must be True or False; got 'yes'"),
])
def test_bad_options_name_the_provider_and_what_is_allowed(tiny, options, match):
    with pytest.raises(ProviderError, match=match):
        onnxkit.session(tiny, providers=("ov", options))


def test_a_provider_that_fails_to_start_is_an_error_not_a_silent_cpu_run(tiny):
    # OpenVINO refuses "1" for a boolean, and ORT then quietly runs on the CPU alone: the
    # reason onnxkit sends "True"/"False", and checks what the session really got.
    with pytest.raises(ProviderError, match="OpenVINOExecutionProvider could not start.*fell "
                                            "back to CPUExecutionProvider"):
        create_session(onnxkit.load(tiny), ((OV, {"enable_qdq_optimizer": "1"}),))


def test_placement_is_one_fused_openvino_subgraph(digits, transformer):
    # OpenVINO compiles every supported region into one node; ORT's profiler reports that
    # node, not the ops inside it. These models are supported whole.
    for sample in (digits, transformer):
        placed = onnxkit.placement(sample.model, providers="ov")
        assert placed.counts == {OV: 1} and placed.fallbacks == ()
        (name, op, provider), = placed.nodes
        assert op.startswith("OpenVINO-EP-subgraph") and provider == OV
        assert placed.graph_node_count > 1


def test_profile_on_openvino(transformer):
    p = onnxkit.profile(transformer.model, transformer.inputs, providers="ov", runs=2, warmup=1)
    assert list(p.by_provider) == [OV] and p.total_ms > 0


def test_benchmark_openvino_against_cpu(digits):
    feeds = {"image": digits.inputs["image"][:16]}
    results = {p: onnxkit.benchmark(digits.model, feeds, providers=p, runs=20, warmup=2)
               for p in ("cpu", "ov")}
    assert results["ov"].providers[0] == OV
    assert results["cpu"].providers == ("CPUExecutionProvider",)
    for r in results.values():
        assert 0 < r.p50_ms < 1000 and r.runs == 20 and r.batch_size == 16
    bound = onnxkit.benchmark(digits.model, feeds, providers="ov", runs=10, io_binding=True)
    assert bound.io_binding and bound.device == "cpu" and bound.providers[0] == OV


@pytest.mark.parametrize("sample", ["tiny", "digits", "transformer"])
def test_openvino_agrees_with_the_cpu(sample, request):
    # Max abs errors seen: tiny 0, digits logits ~1e-5, transformer logits ~4e-6.
    fixture = request.getfixturevalue(sample)
    model = fixture if isinstance(fixture, onnxkit.Model) else fixture.model
    feeds = (onnxkit.random_inputs(model, batch=8) if isinstance(fixture, onnxkit.Model)
             else fixture.inputs)
    reference = onnxkit.run(model, feeds, providers="cpu")
    result = onnxkit.compare(reference, model, feeds, providers="ov", rtol=1e-3, atol=1e-4)
    assert result, repr(result)
    assert all(o.argmax_agreement in (None, 1.0) for o in result.outputs)
