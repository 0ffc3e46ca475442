"""A served language model against the generate extension's own OpenAPI file
(``specs/generate_rest.yaml``, vendored unchanged, see specs/NOTICE.md), fuzzed by schemathesis:
requests valid and invalid by the spec, wrong methods included. No 5xx, only documented status
codes, bodies and content types as the spec says. Bounded by examples (``derandomize``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import onnxkit

schemathesis = pytest.importorskip("schemathesis")
yaml = pytest.importorskip("yaml")
pytest.importorskip("torch")
pytest.importorskip("transformers")
from hypothesis import HealthCheck, settings  # noqa: E402  (schemathesis brings hypothesis)
from schemathesis.specs.openapi.checks import (  # noqa: E402
    positive_data_acceptance,
    response_schema_conformance,
)

jsonschema_rs = pytest.importorskip("jsonschema_rs")  # schemathesis brings it

sys.path.insert(0, str(Path(__file__).parents[2] / "llm"))
import llm_decoders  # noqa: E402

SPEC = Path(__file__).parent / "specs" / "generate_rest.yaml"
EXAMPLES = 25  # per operation and phase: about 10 s on two busy cores


def _spec() -> dict:
    raw = yaml.safe_load(SPEC.read_text())
    raw["paths"] = {path.replace("${", "{"): item for path, item in raw["paths"].items()}
    return raw


schema = schemathesis.openapi.from_dict(_spec())


@pytest.fixture(scope="module")
def text_server(tmp_path_factory):
    lm = llm_decoders.exported("gpt2", "fp32", tmp_path_factory.mktemp("llm"))
    with onnxkit.serve.start(lm, max_body_mb=1) as server:
        yield server


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_the_generate_routes_conform_to_the_extensions_openapi_spec(case, text_server):
    if case.path_parameters:  # the served model: a made-up name is a 404 the spec omits
        case.path_parameters = {**case.path_parameters, "MODEL_NAME": text_server.model,
                                "MODEL_VERSION": "1"}
    # Valid by the spec yet refused with its 422: no body at all (the spec leaves requestBody
    # optional though GenerateRequest requires text_input), and prompts the spec cannot know
    # this model refuses (empty, or longer than its context).
    text = case.body.get("text_input") if isinstance(case.body, dict) else None
    refused = not isinstance(case.body, dict) or \
        (isinstance(text, str) and (not text.strip() or len(text) > 200))
    excluded = [positive_data_acceptance] if refused else []
    if not case.path.endswith("/generate_stream"):
        case.call_and_validate(base_url=text_server.url, excluded_checks=excluded, timeout=60)
        return
    # schemathesis reads an event-stream schema as the schema of each event's fields (data,
    # event, id: OpenAPI 3.2's reading); this 3.1 spec gives the JSON each event's data holds,
    # as every generate server sends it: that is checked here, the rest by schemathesis.
    response = case.call(base_url=text_server.url, timeout=60)
    case.validate_response(response, excluded_checks=[*excluded, response_schema_conformance])
    _check_events(response)


def _check_events(response) -> None:
    if not response.headers.get("content-type", [""])[0].startswith("text/event-stream"):
        assert response.status_code == 405, response.content  # a wrong method, as for infer
        return
    spec = _spec()
    name = "GenerateStreamResponse" if response.status_code == 200 else "GenerateErrorResponse"
    event_schema = {**spec["components"]["schemas"][name], "components": spec["components"]}
    events = [block for block in response.content.split(b"\n\n") if block.strip()]
    if response.status_code != 200:
        assert len(events) == 1, response.content
    for block in events:
        assert block.startswith(b"data: "), block
        jsonschema_rs.validate(event_schema, json.loads(block[6:]))
