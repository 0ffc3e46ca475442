"""Tokenizers built offline for the compose tests: WordPiece (BERT) and byte-level BPE
(GPT-2) trained with ``tokenizers`` on text that ships with Python, then loaded by
``transformers`` as its own tokenizer classes; and the texts they are checked on."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import pytest

STDLIB = Path(sysconfig.get_paths()["stdlib"])
# Hard cases on top of Python's own sources: unicode, empty, blank, over-long, odd spacing.
EDGE_CASES = ["", " ", "Ünïcödé wörds: café, naïve, Ångström", "日本語のテキストと中文",
              "emoji 😀🚀 ok", "tabs\tand\nnew lines", "word " * 400, "x" * 300,
              "  leading and trailing  ",
              "MiXeD CaSe AND PUNCTUATION!!! ...", "<|endoftext|> special", "a-b_c"]


def _lines(limit: int) -> list[str]:
    lines: list[str] = []
    for path in sorted((STDLIB / "email").glob("*.py")) + sorted((STDLIB / "json").glob("*.py")):
        lines += [line.strip() for line in path.read_text(encoding="utf-8").splitlines()
                  if line.strip()]
    return lines[:limit]


@pytest.fixture(scope="session")
def texts() -> list[str]:
    """1,000 lines of Python's own sources and the edge cases."""
    return _lines(1000 - len(EDGE_CASES)) + EDGE_CASES


@pytest.fixture(scope="session")
def wordpiece(tmp_path_factory):
    tokenizers = pytest.importorskip("tokenizers")
    transformers = pytest.importorskip("transformers")
    folder = tmp_path_factory.mktemp("wordpiece")
    trainer = tokenizers.BertWordPieceTokenizer(lowercase=True)
    trainer.train_from_iterator(_lines(4000), vocab_size=500, min_frequency=2,
                                limit_alphabet=200)
    trainer.save_model(str(folder))
    return transformers.BertTokenizer(vocab=str(folder / "vocab.txt"), model_max_length=64)


@pytest.fixture(scope="session")
def bpe(tmp_path_factory):
    tokenizers = pytest.importorskip("tokenizers")
    transformers = pytest.importorskip("transformers")
    folder = tmp_path_factory.mktemp("bpe")
    trainer = tokenizers.ByteLevelBPETokenizer()
    trainer.train_from_iterator(_lines(4000), vocab_size=500, min_frequency=2,
                                special_tokens=["<|endoftext|>"])
    trainer.save_model(str(folder))
    return transformers.GPT2Tokenizer(vocab=str(folder / "vocab.json"),
                                      merges=str(folder / "merges.txt"), model_max_length=64)
