"""``LanguageModel``: an exported decoder's folder (the ONNX decoder, its tokenizer, its
config and a manifest ``onnxkit-llm.json``), and :func:`load` to open one."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from onnxkit.base import Params, boolean, require
from onnxkit.errors import InvalidModelError, ModelNotFoundError
from onnxkit.llm._engine import Decoder
from onnxkit.llm._generate import Decoding, Generation
from onnxkit.llm._sampling import sampling
from onnxkit.llm._verify import Verification, no_verification
from onnxkit.results import Result, html_table

MANIFEST = "onnxkit-llm.json"
PRECISIONS = ("fp32", "fp16", "int8", "int4")


class LanguageModel(Result):
    """A decoder language model exported to ONNX, with its tokenizer, ready to generate.

    ``path`` is its folder; ``route`` says who wrote the graph (``"builder"``:
    onnxruntime-genai's model builder, ``"onnxkit"``: onnxkit's own export); ``precision``
    is one of ``fp32``, ``fp16``, ``int8``, ``int4``; ``verification`` is the check against
    ``transformers`` made when it was exported. One session serves every call, and calls may
    come from several threads at once (each decodes its own batch).
    """

    def __init__(self, path: str | os.PathLike[str], manifest: dict[str, Any], *,
                 threads: int | None = None, spinning: bool = False) -> None:
        self.path = Path(path)
        self.manifest = manifest
        self.threads, self.spinning = threads, spinning
        self._lock = threading.Lock()

    route = property(lambda self: self.manifest["route"])
    precision = property(lambda self: self.manifest["precision"])
    architecture = property(lambda self: self.manifest.get("architecture", "?"))

    @property
    def name(self) -> str:
        return self.manifest.get("name", self.path.name)

    @property
    def context_length(self) -> int:
        return int(self.manifest["context_length"])

    @cached_property
    def config(self) -> dict[str, Any]:
        """The Hugging Face ``config.json`` of the source model."""
        return json.loads((self.path / "config.json").read_text())

    @cached_property
    def tokenizer(self) -> Any:
        """The model's own fast tokenizer (``transformers``), loaded from the folder."""
        transformers = require("transformers", purpose="A language model's tokenizer")
        return transformers.AutoTokenizer.from_pretrained(self.path)

    @property
    def verification(self) -> Verification:
        found = self.manifest.get("verification")
        return Verification(**found) if found else no_verification(self.precision)

    @property
    def decoder(self) -> Decoder:
        """The decode engine (one ORT session, made on first use)."""
        with self._lock:
            if "_decoder" not in self.__dict__:
                self.__dict__["_decoder"] = Decoder(
                    self.path / self.manifest["model"], kv_heads=self.manifest["kv_heads"],
                    head_size=self.manifest["head_size"], threads=self.threads,
                    spinning=self.spinning)
            return self.__dict__["_decoder"]

    @property
    def eos_token_ids(self) -> list[int]:
        return list(self.manifest.get("eos_token_ids", []))

    @property
    def pad_token_id(self) -> int:
        return int(self.manifest.get("pad_token_id", 0))

    def generate(self, prompt: str | Sequence[str], *, max_new_tokens: int = 64,
                 do_sample: bool = False, temperature: float | None = None,
                 top_k: int | None = None, top_p: float | None = None,
                 repetition_penalty: float | None = None, stop: str | Sequence[str] | None = None,
                 seed: int | None = None, stream: bool = False
                 ) -> Generation | list[Generation] | Iterator[Any]:
        """Continue ``prompt`` (or each of a list of prompts, decoded together as one batch).

        Returns a :class:`Generation` (a list of them for a list of prompts). With
        ``stream=True`` it returns an iterator instead: of text pieces as they are made for one
        prompt, of ``(index, piece)`` pairs for a list; its ``.results`` holds the
        generations once it is exhausted.

        Args:
            max_new_tokens: at most this many new tokens (fewer at the end of the context).
            do_sample: sample (with ``temperature``, ``top_k``, ``top_p``) instead of taking
                the most likely token; ``seed`` makes sampling repeatable.
            repetition_penalty: > 1 makes tokens already in the text less likely.
            stop: a string (or several) that ends the text when it appears; it is not
                included.

        Examples:
            >>> lm = onnxkit.llm.load(folder)  # doctest: +SKIP
            >>> lm.generate("The for statement", max_new_tokens=16).text  # doctest: +SKIP
        """
        started = time.perf_counter()
        single = isinstance(prompt, str)
        prompts = [prompt] if single else list(prompt)
        decoding = self._decoding(prompts, max_new_tokens, stop, started, sampling(
            do_sample=do_sample, temperature=temperature, top_k=top_k, top_p=top_p,
            repetition_penalty=repetition_penalty, seed=seed, where="generate"))
        if stream:
            return _Stream(decoding, single)
        for _ in decoding:
            pass
        return decoding.results[0] if single else decoding.results

    def _decoding(self, prompts: list[str], max_new_tokens: int, stop: Any, started: float,
                  how: Any) -> Decoding:
        arg = Params("generate")
        if not prompts or not all(isinstance(p, str) for p in prompts):
            raise arg.invalid("prompt", "a string or a non-empty list of strings", prompts)
        stops = [stop] if isinstance(stop, str) else arg.names(stop, "stop") if stop else []
        if any(not s for s in stops):
            raise arg.invalid("stop", "non-empty strings", stop)
        wanted = arg.integer(max_new_tokens, "max_new_tokens")
        ids = [self.tokenizer(p)["input_ids"] for p in prompts]
        longest = max(len(i) for i in ids)
        room = self.context_length - longest
        if longest == 0 or room < 1:
            raise arg.invalid("prompt", f"between 1 and {self.context_length - 1} tokens (the "
                              f"context of '{self.name}' is {self.context_length})",
                              f"a prompt of {longest} tokens", "shorten the prompt")
        return Decoding(self.decoder, self.tokenizer, prompts, ids,
                        max_new_tokens=min(wanted, room), how=how, stop=stops,
                        eos_ids=self.eos_token_ids, pad_id=self.pad_token_id, started=started)

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "name": self.name, "route": self.route,
                "precision": self.precision, "architecture": self.architecture,
                "context_length": self.context_length,
                "verification": self.verification.to_dict()}

    def _rows(self) -> list[dict[str, Any]]:
        row = self.to_dict()
        row["verification"] = repr(self.verification)
        return [row]

    def _repr_html_(self) -> str:
        rows = [(k, v) for k, v in self._rows()[0].items()]
        return html_table(("LanguageModel", self.name), rows)

    def __repr__(self) -> str:
        return (f"LanguageModel '{self.name}' ({self.architecture}, {self.precision}, route "
                f"{self.route!r}) at {self.path}\n  {self.verification!r}")


class _Stream:
    """``generate(stream=True)``'s iterator: text pieces (with their prompt's index for a
    batch), then ``results``."""

    def __init__(self, decoding: Decoding, single: bool) -> None:
        self._decoding, self._single = decoding, single

    def __iter__(self) -> Iterator[Any]:
        for index, piece in self._decoding:
            yield piece if self._single else (index, piece)

    @property
    def results(self) -> list[Generation]:
        return self._decoding.results


def is_export(target: object) -> bool:
    """Whether ``target`` is a path to a folder :func:`export` wrote (what :func:`load`
    opens), so a function taking models can tell a language model's folder from a file.

    Examples:
        >>> from onnxkit import llm
        >>> llm.is_export("model.onnx"), llm.is_export(3)
        (False, False)
    """
    return isinstance(target, (str, os.PathLike)) and (Path(target) / MANIFEST).is_file()


def load(folder: str | os.PathLike[str], *, threads: int | None = None,
         spinning: bool = False) -> LanguageModel:
    """Open a folder written by :func:`export`.

    ``threads``: ORT's intra-op threads (default: ORT's choice). ``spinning``: let ORT's idle
    threads spin between steps, as onnxruntime-genai does. Off by default: it decodes faster
    only on cores nothing else wants (measured on two cores: int4 steps 0.49-0.56 ms with it,
    0.70-0.85 ms without on idle cores; 5.5 ms with it, 1.9 ms without beside one busy
    process). Turn it on for a server with cores of its own.

    Raises:
        ModelNotFoundError: no such folder.
        InvalidModelError: the folder has no ``onnxkit-llm.json`` (not written by export).
    """
    path = Path(folder)
    if not path.is_dir():
        raise ModelNotFoundError(f"llm.load(folder=...): no folder '{path}'. Pass the folder "
                                 "that onnxkit.llm.export wrote (its out=, or lm.path).")
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except (OSError, ValueError) as e:
        raise InvalidModelError(
            f"llm.load(folder=...): '{path}' has no readable {MANIFEST} ({e}); it was not "
            "written by onnxkit.llm.export. Export the Hugging Face model with "
            "onnxkit.llm.export(source, precision=...).") from e
    return LanguageModel(path, manifest, threads=threads, spinning=boolean(
        spinning, "llm.load", "spinning"))
