"""Every public result class keeps one contract (to_dict, repr, HTML, table, plot)."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from result_contract import check_result_contract

import onnxkit
import onnxkit.bench
import onnxkit.cluster
import onnxkit.runtime
import onnxkit.study
from onnxkit.results import Result

# Results whose contract is checked where they are made at no extra cost: the demo's test.
# (RayDeployment: tests/serve/test_ray.py; Cluster, Node, NodeTable: tests/cluster; the
# decoder sample and onnxkit.llm's results: tests/llm/test_llm_results.py; the detector sample
# and onnxkit.compose's: tests/compose/test_compose_results.py; deploy's platform check and
# emulated root: tests/deploy/test_platform.py, and for real in tests/deploy/test_arm64.py;
# the LLM study's: tests/llm/test_llm_study.py; the generate servers: tests/serve/test_generate.py
# and test_ray_generate.py)
ELSEWHERE = {"DemoReport", "Stage", "RayDeployment", "Cluster", "Node", "NodeTable",
             "DecoderSample", "DetectionSample", "PlatformCheck", "PlatformRoot",
             "LLMStudy", "LLMVariant", "LLMChoice", "GenerateServer", "RayGenerateDeployment"}
# Results reached only through a public one (a summary's initializers, a provider table's rows).
NESTED = {"InitializerInfo", "ProviderInfo"}


def calibration_rows(model):
    return onnxkit.random_inputs(model, batch=32)


def _public_result_classes() -> set[str]:
    names = set()
    for package in (onnxkit, onnxkit.convert, onnxkit.quantize, onnxkit.deploy, onnxkit.samples,
                    onnxkit.runtime, onnxkit.bench, onnxkit.study, onnxkit.serve,
                    onnxkit.cluster):
        for name in package.__all__:
            obj = getattr(package, name)
            if inspect.isclass(obj) and issubclass(obj, Result) and obj is not Result:
                names.add(obj.__name__)
    return names


@pytest.fixture(scope="module")
def results(tiny, pipeline, tmp_path_factory) -> dict[str, object]:
    """One real object of each result class, made from the tiny sample where possible."""
    made: dict[str, object] = {}
    summary = onnxkit.summarize(tiny)
    made |= {"ModelSummary": summary, "InitializerInfo": summary.largest_initializers[0],
             "TensorInfo": summary.inputs[0], "CheckReport": onnxkit.check(tiny),
             "Problem": onnxkit.Problem("structure", "an example", "what to do")}
    table = onnxkit.providers()
    made |= {"ProviderTable": table, "ProviderInfo": table.providers[0],
             "OptionSpec": onnxkit.provider_options("cpu")[0]}
    comparison = onnxkit.compare(tiny, tiny)
    made |= {"Comparison": comparison, "OutputDiff": comparison.outputs[0],
             "BenchResult": onnxkit.benchmark(tiny, runs=5)}
    profile = onnxkit.profile(tiny, runs=2)
    made |= {"OpProfile": profile, "NodeTime": profile.nodes[0],
             "NodePlacement": onnxkit.placement(tiny),
             "SweepResult": onnxkit.sweep(tiny, runs=4, rounds=1)}
    study = onnxkit.Study(tiny, rounds=1, max_rounds=1, runs=3)
    study.add("fp16", onnxkit.to_fp16(tiny))
    made |= {"Study": study, "Variant": study["fp16"], "Choice": study.best(by="size_mb")}
    measurement, _ = onnxkit.bench.measure_models({"a": tiny, "b": tiny}, min_rounds=2,
                                                    max_rounds=2, runs=3)
    made |= {"Measurement": measurement, "Speedup": measurement.speedup("b"),
             "Evaluation": onnxkit.evaluate(tiny, calibration_rows(tiny), batch=8)}
    calibration = onnxkit.random_inputs(tiny, batch=32)
    int8 = onnxkit.quantize.static(tiny, calibration, progress=lambda done, total: None)
    errors = onnxkit.quantize.debug(tiny, int8, calibration)
    assessment = onnxkit.quantize.assess(tiny, [int8], calibration, rounds=2, max_rounds=2, runs=5)
    tuning = onnxkit.quantize.tune(tiny, calibration, max_error=1.0, budget_s=300)
    made |= {"TuningResult": tuning, "Candidate": tuning.candidates[0],
             "Preflight": tuning.preflight}
    made |= {"LayerErrors": errors, "LayerError": errors.layers[0],
             "QuantAssessment": assessment, "AssessedModel": assessment.rows[0]}
    ort_model = onnxkit.deploy.to_ort_format(tiny)
    folder = tmp_path_factory.mktemp("contract") / "bundle"
    made |= {"OrtConversion": ort_model, "MobileReport": ort_model.mobile,
             "EpReport": ort_model.mobile.eps[0],
             "Bundle": onnxkit.deploy.bundle(tiny, folder),
             "BundleCheck": onnxkit.deploy.verify(folder),
             "TritonExport": onnxkit.deploy.to_triton(tiny, folder.parent / "triton")}
    data = pipeline.inputs["features"][:8]
    from sklearn.linear_model import LogisticRegression

    classifier = LogisticRegression(max_iter=200).fit(data, np.arange(8) % 2)
    made |= {"Conversion": onnxkit.convert.from_sklearn(classifier, data),
             "GraphView": onnxkit.graph_view(tiny), "Sample": pipeline,
             "TorchSample": onnxkit.samples.digits_torch()}
    with onnxkit.view(tiny) as netron, onnxkit.serve.start(tiny) as server:
        load = server.load_test(clients=[1, 2], requests=10)
        made |= {"NetronView": netron, "Server": server, "LoadTest": load,
                 "LoadLevel": load.levels[0]}
        yield made


def test_every_public_result_class_is_covered(results):
    assert (_public_result_classes() - ELSEWHERE) | NESTED == set(results)


@pytest.mark.parametrize("name", sorted((_public_result_classes() - ELSEWHERE) | NESTED))
def test_result_keeps_the_contract(results, name):
    check_result_contract(results[name])
