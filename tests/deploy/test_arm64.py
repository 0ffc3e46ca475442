"""The real thing: bundles run on an emulated linux/arm64 Debian root (qemu-user-static,
debootstrap) and compared with this machine's run, output by output. ``make test-arm64``.

Deselected from the README's suite (tests/deploy/conftest.py): it needs root, binfmt_misc and
qemu-user-static, and on a fresh machine it first builds the root (debootstrap, 6-12 min) and
pip-installs the bundles' pinned requirements inside it (about 5 min under emulation). With
both cached it takes about two minutes on 2 cores. Emulated timings say nothing about speed on
arm64: nothing here asserts or reports one.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from result_contract import check_result_contract

import onnxkit
from onnxkit import deploy
from onnxkit.base import user_cache

pytestmark = pytest.mark.arm64


@pytest.fixture(scope="module")
def root():
    return deploy.platform_root("linux/arm64")  # built once, then from the cache


def _verified(model, folder, feeds, precision):
    bundle = deploy.bundle(model, folder)
    check = deploy.verify(bundle.path, platform="linux/arm64", feeds=feeds)
    there = check.platform
    assert check and there, repr(check)
    assert there.precision == precision
    assert there.there["machine"] == "aarch64" and there.here["machine"] == "x86_64"
    assert there.there["onnxruntime"] == there.here["onnxruntime"]  # the bundle's pins
    assert [o.name for o in there.outputs] == [o["name"] for o in bundle.manifest["outputs"]]
    for o in there.outputs:
        assert o.passed and o.argmax_agreement == 1.0, repr(there)
    rows = next(iter(feeds.values())).shape[0]
    assert all(shape[0] == rows for shape in there.inputs.values())
    check_result_contract(there)
    return there


def test_the_root_is_cached_in_the_user_cache(root):
    assert root.path.parent == user_cache("platforms")
    assert (root.path / "usr/bin/python3").exists()
    assert deploy.platform_root("arm64").path == root.path  # the second call: the cache
    check_result_contract(root)


def test_digits_cnn_fp32_and_int8_on_arm64(root, digits, tmp_path):
    feeds = {"image": digits.inputs["image"]}  # the held-out images
    _verified(digits.model, tmp_path / "fp32", feeds, "fp32")
    int8 = onnxkit.quantize.static(digits.model, {"image": feeds["image"][:128]},
                                   progress=lambda *a: None)
    _verified(int8, tmp_path / "int8", feeds, "int8-static")


def test_text_transformer_fp32_and_int8_on_arm64(root, transformer, tmp_path):
    _verified(transformer.model, tmp_path / "fp32", transformer.inputs, "fp32")
    int8 = onnxkit.quantize.dynamic(transformer.model)
    _verified(int8, tmp_path / "int8", transformer.inputs, "int8-dynamic")


def test_the_cli_verifies_on_arm64(root, tiny, tmp_path):
    folder = deploy.bundle(tiny, tmp_path / "tiny").path
    done = subprocess.run([sys.executable, "-m", "onnxkit", "bundle", "verify", str(folder),
                           "--platform", "linux/arm64", "--json"], capture_output=True,
                          text=True, timeout=1800)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["passed"] and report["platform"]["passed"]
    assert report["platform"]["there"]["machine"] == "aarch64"


def test_a_study_runs_its_variants_on_arm64(root, digits):
    data = digits.inputs["image"][:64]
    study = onnxkit.Study(digits.model, data=data, platforms=["linux/arm64"], rounds=2,
                          max_rounds=2, runs=5, budget_s=5.0)
    study.add("int8", onnxkit.quantize.dynamic(digits.model))
    # both ran there and matched within their precision's tolerance: nothing left out
    assert {r.name: r.platforms for r in study.rows()} == {
        "reference": {"linux/arm64": ""}, "int8": {"linux/arm64": ""}}
    assert "left out" not in study.best(by="size_mb").why
