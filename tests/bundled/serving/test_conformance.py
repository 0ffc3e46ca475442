"""The server against the Open Inference Protocol's own OpenAPI file, fuzzed by schemathesis:
requests valid and invalid by the spec, wrong methods included. No 5xx, only documented status
codes, bodies and content types as the spec says. The spec is vendored unchanged from
kserve/open-inference-protocol (specs/, Apache-2.0 header kept); its paths write parameters
as ``${NAME}``, read here as ``{NAME}``.

Bounded by examples (``derandomize``: the same cases every run), not by time."""

from __future__ import annotations

from pathlib import Path

import pytest

import onnxkit

schemathesis = pytest.importorskip("schemathesis")
yaml = pytest.importorskip("yaml")
from hypothesis import HealthCheck, settings  # noqa: E402  (schemathesis brings hypothesis)
from schemathesis.specs.openapi.checks import positive_data_acceptance  # noqa: E402

SPEC = Path(__file__).parent / "specs" / "open_inference_rest.yaml"
EXAMPLES = 40  # per operation and phase: about 20 s on two busy cores


def _spec() -> dict:
    raw = yaml.safe_load(SPEC.read_text())
    raw["paths"] = {path.replace("${", "{"): item for path, item in raw["paths"].items()}
    return raw


schema = schemathesis.openapi.from_dict(_spec())


@pytest.fixture(scope="module")
def fuzzed_server(digits):
    with onnxkit.serve.start(digits.model, max_body_mb=1) as server:
        yield server


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_the_server_conforms_to_the_protocols_openapi_spec(case, fuzzed_server):
    if case.path_parameters:  # the served model: a made-up name is a 404 the spec omits
        case.path_parameters = {**case.path_parameters, "MODEL_NAME": fuzzed_server.model,
                                "MODEL_VERSION": "1"}
    # The spec cannot know the model's inputs: a request valid by it ({"inputs": []}, a
    # made-up output name) is still one this model must refuse, with the spec's 400.
    excluded = [positive_data_acceptance] if case.path.endswith("/infer") else []
    case.call_and_validate(base_url=fuzzed_server.url, excluded_checks=excluded, timeout=60)
