"""onnxkit.deploy's platform check without emulation: the precision read from a graph, the
per-precision comparison, the result, and every refusal (missing capability, bad arguments).

The real arm64 run is tests/deploy/test_arm64.py (``make test-arm64``).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from graphs import make_model
from onnx import TensorProto, helper, numpy_helper
from result_contract import check_result_contract

import onnxkit
from onnxkit import deploy
from onnxkit.deploy import _emulated_root as er
from onnxkit.deploy._platform import TOLERANCES, PlatformCheck, output_diff, precision_of
from onnxkit.errors import ParameterError, PlatformError

F, H, U8 = TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.UINT8
ARM64 = er.TARGETS["linux/arm64"]


def _graph(op: str, *, out_type: int = F, weight_type: int = F) -> onnxkit.Model:
    """One node of ``op`` type (what precision_of reads), shapes irrelevant to it."""
    w = numpy_helper.from_array(np.ones(4, helper.tensor_dtype_to_np_dtype(weight_type)), "w")
    model = make_model([helper.make_node(op, ["x", "w"], ["y"])], [("x", F, [1, 4])],
                       [("y", out_type, [1, 4])], [w])
    return model


@pytest.mark.parametrize(("op", "weight", "expected"), [
    ("Add", F, "fp32"),
    ("Add", H, "fp16"),
    ("QuantizeLinear", F, "int8-static"),
    ("QLinearConv", F, "int8-static"),
    ("DynamicQuantizeLinear", F, "int8-dynamic"),
    ("MatMulInteger", F, "int8-dynamic"),
    ("MatMulNBits", F, "int4"),
    ("Add", TensorProto.INT4, "int4"),
])
def test_precision_is_read_from_the_graph(op, weight, expected):
    assert precision_of(_graph(op, weight_type=weight)) == expected


def test_precision_of_real_quantized_models(digits):
    assert precision_of(digits.model.proto) == "fp32"
    dyn = onnxkit.quantize.dynamic(digits.model)
    assert precision_of(dyn.proto) == "int8-dynamic"


def _pass(name, ref, cand, precision):
    diff, tol = output_diff(name, ref, cand, precision)
    return diff.passed, tol


def test_fp32_tolerance_is_the_last_bits_scaled_to_the_output():
    rng = np.random.default_rng(0)
    ref = rng.normal(0, 10, (8, 10)).astype(np.float32)
    scale = float(np.abs(ref).max())
    ok, (rtol, atol) = _pass("y", ref, ref + np.float32(1e-6 * scale), "fp32")
    assert ok and rtol == TOLERANCES["fp32"][0] and atol == pytest.approx(1e-5 * scale)
    assert not _pass("y", ref, ref + np.float32(1e-3 * scale), "fp32")[0]
    # fp16 and int8 allow what fp32 refuses
    assert _pass("y", ref, ref + np.float32(1e-3 * scale), "fp16")[0]
    assert not _pass("y", ref, ref + np.float32(5e-2 * scale), "fp16")[0]


@pytest.mark.parametrize("precision", ["int8-static", "int8-dynamic", "int4"])
def test_quantized_float_outputs_allow_a_grid_step(precision):
    ref = np.linspace(-4, 4, 40, dtype=np.float32).reshape(4, 10)
    step = 8 / 255  # one step of a 256-level grid over the output's range
    assert _pass("y", ref, ref + np.float32(step / 2), precision)[0]
    assert not _pass("y", ref, ref + np.float32(0.5), precision)[0]  # ~12 steps


def test_quantized_integer_outputs_may_move_two_steps_other_integers_none():
    ref = np.arange(0, 200, 10, dtype=np.uint8)
    assert _pass("q", ref, ref + 2, "int8-static")[0]
    assert not _pass("q", ref, ref + 3, "int8-static")[0]
    assert not _pass("q", ref, ref + 1, "fp32")[0]  # not a quantized model: exact
    labels = np.array([1, 2, 3], np.int64)
    assert _pass("label", labels, labels.copy(), "int8-dynamic")[0]
    assert not _pass("label", labels, np.array([1, 2, 4]), "int8-dynamic")[0]


def test_a_missing_or_reshaped_output_fails():
    ref = np.ones((2, 3), np.float32)
    diff, _ = output_diff("y", ref, None, "fp32")
    assert not diff.passed and diff.reason
    assert not output_diff("y", ref, np.ones((3, 2), np.float32), "fp32")[0].passed


def test_argmax_agreement_is_reported():
    ref = np.eye(4, dtype=np.float32)
    cand = ref.copy()
    cand[3] = [0, 0, 1, 0.99]  # the last row's top class flips (far outside the fp32 tolerance)
    diff, _ = output_diff("logits", ref, cand, "fp32")
    assert diff.argmax_agreement == pytest.approx(0.75) and not diff.passed


def _check(**over):
    diff, tol = output_diff("logits", np.eye(3, dtype=np.float32),
                            np.eye(3, dtype=np.float32) + np.float32(1e-7), "fp32")
    fields = dict(platform="linux/arm64", reference="linux/x86_64", ran="predict.py",
                  where="root", precision="fp32", there={"machine": "aarch64"},
                  here={"machine": "x86_64"}, inputs={"image": [3, 1, 8, 8]},
                  outputs=(diff,), tolerances={"logits": tol},
                  setup_s={"root build": 0.0, "environment": 0.0, "total": 9.0})
    return PlatformCheck(**(fields | over))


def test_the_result_says_what_ran_where_and_how_far_apart():
    check = _check()
    assert check and check.max_abs["logits"] == pytest.approx(1e-7, rel=0.2)
    text = repr(check)
    assert "linux/arm64 vs linux/x86_64 (fp32): same outputs within tolerance" in text
    assert "ok   logits: max abs diff" in text and "not the device's speed" in text
    data = json.loads(json.dumps(check.to_dict()))
    assert data["passed"] and data["outputs"][0]["name"] == "logits"
    assert "FAIL" not in check._repr_html_()
    failed = _check(error="predict.py was killed by signal 11: ...", outputs=())
    assert not failed and "FAILED" in repr(failed) and "signal 11" in repr(failed)
    check_result_contract(check)
    check_result_contract(failed)


def test_the_emulated_root_result(tmp_path):
    root = er.PlatformRoot("linux/arm64", tmp_path, "Debian bookworm arm64, minbase", 412.0,
                           "2026-12-04T18:28:00+00:00", False, "/usr/libexec/qemu-aarch64")
    assert "from the cache" in repr(root) and "412 s" in repr(root)
    check_result_contract(root)


# --- what the machine lacks: each a sentence naming the package or step -----------------------

def test_every_missing_capability_is_named(tmp_path):
    found = er.problems(ARM64, building=True, euid=1000, binfmt=tmp_path,
                        machine=("Darwin", "arm64"), which=lambda _: None)
    text = " ".join(found)
    assert len(found) == 4
    assert "this host is Darwin arm64" in text
    assert "needs root" in text and "uid 1000" in text
    assert f"mount binfmt_misc -t binfmt_misc {tmp_path}" in text
    assert "apt-get install debootstrap" in text


def test_binfmt_mounted_but_no_emulator_or_not_enabled(tmp_path):
    (tmp_path / "register").touch()
    bare = er.problems(ARM64, euid=0, binfmt=tmp_path, machine=("Linux", "x86_64"),
                       which=lambda _: None)
    assert len(bare) == 1 and "apt-get install qemu-user-static binfmt-support" in bare[0]
    (tmp_path / "qemu-aarch64").write_text("disabled\ninterpreter /usr/libexec/qemu-aarch64\n")
    off = er.problems(ARM64, euid=0, binfmt=tmp_path, machine=("Linux", "x86_64"),
                      which=lambda name: f"/usr/bin/{name}")
    assert off == ["qemu-aarch64 is not enabled in binfmt_misc: step 'update-binfmts --enable "
                   "qemu-aarch64' (package binfmt-support)"]
    (tmp_path / "qemu-aarch64").write_text("enabled\ninterpreter /usr/libexec/qemu-aarch64\n")
    assert er.problems(ARM64, building=True, euid=0, binfmt=tmp_path,
                       machine=("Linux", "x86_64"), which=lambda name: f"/usr/bin/{name}") == []


def test_a_missing_capability_is_a_platform_error_never_a_skip():
    with pytest.raises(PlatformError, match=r"verify\(platform='linux/arm64'\) cannot emulate "
                                            r"linux/arm64 here: .*needs root.*arm64-root\.sh"):
        er.refuse(ARM64, "verify", ["building and entering the root needs root"])
    er.refuse(ARM64, "verify", [])  # nothing missing: no error


@pytest.mark.parametrize("name", ["linux/arm64", "arm64", "AArch64", " linux/aarch64 "])
def test_platform_names(name):
    assert er.resolve_platform(name, "verify") is ARM64


def test_bad_arguments_are_refused_before_anything_runs(digits_bundle, tiny):
    with pytest.raises(ParameterError, match=r"^verify\(platform=\.\.\.\) must be one of "
                                             r"\['linux/arm64'\].*'windows/x86'"):
        deploy.verify(digits_bundle.path, platform="windows/x86")
    with pytest.raises(ParameterError, match=r"^platform_root\(platform=\.\.\.\)"):
        deploy.platform_root("riscv64")
    with pytest.raises(ParameterError, match=r"^verify\(bundle=\.\.\.\)"):
        deploy.verify(tiny)  # a model needs platform=...
    with pytest.raises(ParameterError, match=r"^verify\(precision=\.\.\.\)"):
        deploy.verify(digits_bundle.path, platform="linux/arm64", precision="int9")


def test_a_damaged_bundle_is_refused_before_any_platform_run(digits_bundle, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(digits_bundle.path, copy)
    (copy / "predict.py").write_text("print('not the bundle's')\n")
    check = deploy.verify(copy, platform="linux/arm64")
    assert not check and check.platform is None and "predict.py" in check.failed_files


@pytest.fixture(scope="module")
def digits_bundle(digits, tmp_path_factory):
    return deploy.bundle(digits.model, tmp_path_factory.mktemp("platform") / "digits")


def test_the_emulated_root_lives_in_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("ONNXKIT_CACHE_DIR", str(tmp_path))
    folder = er.root_folder(ARM64)
    assert folder.parent == tmp_path / "platforms"
    assert folder.name.startswith("debian-bookworm-arm64-")
