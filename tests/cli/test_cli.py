"""The onnxkit command, run as a user would: a real process."""

from __future__ import annotations

import json
import subprocess
import sys

from graphs import relu_model, save


def _onnxkit(*args):
    return subprocess.run([sys.executable, "-m", "onnxkit", *map(str, args)],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)


def test_info_text_and_json(transformer):
    out = _onnxkit("info", transformer.model.path)
    assert out.returncode == 0 and "input_ids: int64[batch, sequence]" in out.stdout
    data = json.loads(_onnxkit("info", transformer.model.path, "--json").stdout)
    assert data["outputs"][0]["shape"] == ["batch", 2]


def test_check_exit_codes(tiny, tmp_path):
    assert _onnxkit("check", tiny.path).returncode == 0
    bad = tmp_path / "bad.onnx"
    bad.write_text("not a model")
    out = _onnxkit("check", bad, "--json")
    assert out.returncode == 1 and json.loads(out.stdout)["passed"] is False


def test_errors_are_one_line_and_exit_2(tmp_path):
    out = _onnxkit("info", tmp_path / "missing.onnx")
    assert out.returncode == 2
    assert out.stderr.startswith("onnxkit info: error: No model file")
    assert "Traceback" not in out.stderr


def test_run_bench_and_compare(digits, tmp_path):
    import numpy as np

    inputs = tmp_path / "in.npz"
    np.savez(inputs, image=digits.inputs["image"][:3])
    out = tmp_path / "out.npz"
    result = _onnxkit("run", digits.model.path, "--inputs", inputs, "--out", out)
    assert result.returncode == 0 and "logits: float32[3, 10]" in result.stdout
    assert np.load(out)["logits"].shape == (3, 10)
    again = _onnxkit("run", digits.model.path, "--out", out)
    assert again.returncode == 2 and "does not overwrite" in again.stderr
    bench = json.loads(_onnxkit("bench", digits.model.path, "--runs", "5", "--json").stdout)
    assert bench["providers"] == ["CPUExecutionProvider"] and bench["p50_ms"] > 0
    same = _onnxkit("compare", digits.model.path, digits.model.path)
    assert same.returncode == 0 and "passed" in same.stdout


def test_unknown_provider_on_the_command_line(tiny):
    out = _onnxkit("bench", tiny.path, "--providers", "warp-drive")
    assert out.returncode == 2 and "unknown execution provider 'warp-drive'" in out.stderr


def test_optimize_chain(transformer):
    before = transformer.model.path.read_bytes()
    out = _onnxkit("optimize", transformer.model.path, "--level", "basic", "--fp16",
                   "--fix-dim", "batch=1", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert [s["op"] for s in data["lineage"]][-3:] == ["fix_dims", "optimize", "to_fp16"]
    assert data["path"].endswith("text_transformer.fixed-batch1.opt-basic.fp16.onnx")
    assert transformer.model.path.read_bytes() == before
    bad = _onnxkit("optimize", transformer.model.path, "--fix-dim", "batch")
    assert bad.returncode == 2 and "NAME=VALUE" in bad.stderr


def test_quantize_modes(digits, transformer, tmp_path):
    import numpy as np

    calib = tmp_path / "calib.npz"
    np.savez(calib, image=digits.inputs["image"][:32])
    out = _onnxkit("quantize", digits.model.path, "--mode", "static", "--calibration", calib,
                   "--method", "entropy")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("digits_cnn.uint8-static-qdq-entropy.onnx")
    assert _onnxkit("quantize", transformer.model.path, "--mode", "int4").returncode == 0
    missing = _onnxkit("quantize", digits.model.path, "--mode", "static")
    assert missing.returncode == 2 and "--calibration" in missing.stderr
    relu = save(relu_model(), tmp_path / "relu.onnx")
    no_matmul = _onnxkit("quantize", relu, "--mode", "int4")
    assert no_matmul.returncode == 2 and "MatMul/Gemm" in no_matmul.stderr


def test_convert_a_scripted_module(tmp_path):
    script = tmp_path / "net.py"
    script.write_text("import torch\n\n"
                      "def build():\n"
                      "    torch.manual_seed(0)\n"
                      "    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU())\n")
    target = tmp_path / "net.onnx"
    out = _onnxkit("convert", "torch", f"{script}:build", "--input-shape", "2,4",
                   "--dynamic-batch", "--out", target, "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["passed"] is True and data["model"] == str(target)
    missing = _onnxkit("convert", "torch", f"{script}:nope", "--input-shape", "2,4")
    assert missing.returncode == 2 and "defines no 'nope'" in missing.stderr


def test_bundle_create_and_verify(digits, tmp_path):
    folder = tmp_path / "digits-bundle"
    out = _onnxkit("bundle", "create", digits.model.path, folder, "--labels",
                   ",".join("0123456789"), "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["manifest"]["postprocess"]["labels"][9] == "9"
    good = _onnxkit("bundle", "verify", folder)
    assert good.returncode == 0 and "passed" in good.stdout and "logits[1, 10]" in good.stdout
    again = _onnxkit("bundle", "create", digits.model.path, folder)
    assert again.returncode == 2 and "overwrite" in again.stderr
    (folder / "predict.py").write_text("print('hijacked')\n")
    bad = _onnxkit("bundle", "verify", folder, "--json")
    assert bad.returncode == 1
    assert list(json.loads(bad.stdout)["failed_files"]) == ["predict.py"]
    text = _onnxkit("bundle", "verify", folder)
    assert text.returncode == 1 and "predict.py: altered" in text.stdout
    missing = _onnxkit("bundle", "verify", tmp_path / "nowhere")
    assert missing.returncode == 2 and "is not a folder" in missing.stderr
    # --platform: an unknown one is refused before anything runs (the real arm64 run:
    # tests/deploy/test_arm64.py, make test-arm64)
    elsewhere = _onnxkit("bundle", "verify", folder, "--platform", "sparc")
    assert elsewhere.returncode == 2
    assert "verify(platform=...) must be one of ['linux/arm64']" in elsewhere.stderr
