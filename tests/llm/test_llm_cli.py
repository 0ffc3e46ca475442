"""The ``onnxkit llm`` commands: export, generate (streamed to the terminal), bench."""

from __future__ import annotations

import json

import llm_decoders

from onnxkit.cli import main
from onnxkit.cli._llm import PRECISIONS as CLI_PRECISIONS
from onnxkit.cli._llm import ROUTES as CLI_ROUTES
from onnxkit.llm import PRECISIONS, ROUTES


def test_generate_streams_the_prompt_and_its_continuation(gpt2, capsys):
    assert main(["llm", "generate", str(gpt2.path), "The for statement",
                 "--max-new-tokens", "8"]) == 0
    out, err = capsys.readouterr()
    expected = gpt2.generate("The for statement", max_new_tokens=8).text
    assert out.startswith("The for statement" + expected) and "tokens/s" in err


def test_generate_json_and_sampling_options(gpt2, capsys):
    assert main(["llm", "generate", str(gpt2.path), "while", "--max-new-tokens", "4",
                 "--sample", "--seed", "1", "--top-k", "5", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["tokens"]) == 4 and result["finish_reason"] == "length"


def test_bench_prints_each_setting(gpt2, capsys):
    assert main(["llm", "bench", str(gpt2.path), "--prompt-tokens", "8", "--new-tokens", "3",
                 "--batch", "1,2", "--rounds", "1", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["settings"]) == 2
    assert main(["llm", "bench", str(gpt2.path), "--batch", "one"]) == 2
    assert "--batch takes comma-separated integers" in capsys.readouterr().err


def test_bundle_create_takes_the_folder_llm_export_wrote(gpt2, tmp_path, capsys):
    assert main(["bundle", "create", str(gpt2.path), str(tmp_path / "bundle"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["manifest"]["kind"] == "language-model"
    assert main(["bundle", "verify", str(tmp_path / "bundle")]) == 0


def test_export_writes_a_verified_folder(llm_root, tmp_path, capsys):
    folder = llm_decoders.hf_folder("llama", llm_root / "hf")
    assert main(["llm", "export", str(folder), "--out", str(tmp_path / "lm"), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["verification"]["greedy_equal"] == 64 and shown["route"] == "builder"
    assert main(["llm", "export", str(folder), "--out", str(tmp_path / "lm")]) == 2
    assert "does not overwrite" in capsys.readouterr().err


def test_the_cli_spells_the_kernels_choices():
    assert (CLI_PRECISIONS, CLI_ROUTES) == (PRECISIONS, ROUTES)
