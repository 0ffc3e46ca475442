"""onnxkit.serve.on_ray(LanguageModel): the generate extension from a Ray Serve application on
a local Ray (loopback), streamed through Ray Serve's proxy, behind a token; stopped."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from result_contract import check_result_contract

pytest.importorskip("ray.serve")
pytest.importorskip("torch")
pytest.importorskip("transformers")
sys.path.insert(0, str(Path(__file__).parents[1] / "llm"))
import llm_decoders  # noqa: E402

import onnxkit  # noqa: E402


def test_a_language_model_on_ray_generates_and_streams_behind_a_token(tmp_path):
    import ray

    lm = llm_decoders.exported("gpt2", "fp32", tmp_path)
    token = "ray-llm-token-0123456789"
    expected = lm.generate("The for statement", max_new_tokens=12).text
    with onnxkit.serve.on_ray(lm, token=token) as deployment:
        assert deployment.generate("The for statement", max_tokens=12)["text_output"] == \
            expected
        pieces = list(deployment.generate_stream("The for statement", max_tokens=12))
        assert len(pieces) > 1 and "".join(pieces) == expected
        body = json.dumps({"text_input": "x"}).encode()
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(deployment.generate_url, body))
        assert refused.value.code == 401
        assert urllib.request.urlopen(f"{deployment.url}/v2/health/ready").status == 200
        check_result_contract(deployment)  # a RayGenerateDeployment
        # its bundle, deployed again under the same name (one Ray start for both): the
        # replicas decode with the bundle's own runtime (onnxruntime-genai)
        bundle = onnxkit.deploy.bundle(lm, tmp_path / "bundle")
        again = onnxkit.serve.on_ray(bundle.path, token=token)
        assert (again.url, again.app_name) == (deployment.url, deployment.app_name)
        assert again.generate("The for statement", max_tokens=12)["text_output"] == expected
    assert not ray.is_initialized()  # the Ray started here is shut down with it
