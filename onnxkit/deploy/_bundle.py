"""``bundle``: a folder that runs the model anywhere with numpy + onnxruntime, and proves it."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from onnxkit import llm
from onnxkit.bundled import RUNTIME_FILES, write_runtime
from onnxkit.bundled import manifest as _manifest
from onnxkit.bundled.manifest import MANIFEST, SMOKE_INPUTS, Labels, check_target
from onnxkit.deploy._container import CONTAINER_FILES, write_dockerfile
from onnxkit.deploy._edge import check_budget, edge_lines, edge_report, refuse_over_budget
from onnxkit.deploy._lm_bundle import lines as lm_lines
from onnxkit.deploy._lm_bundle import refuse_tensor_options, write_language_model
from onnxkit.deploy._readme import readme
from onnxkit.errors import ParameterError, WorkspaceError
from onnxkit.llm import LanguageModel
from onnxkit.models import Model, ModelLike, load
from onnxkit.results import Result, fmt_bytes, html_table
from onnxkit.runtime import Feeds, ProviderSpec, create_session, prepare_feeds, resolve, run_session

_SUPPORT_FILES = ("requirements.txt", "README.md", *RUNTIME_FILES, *CONTAINER_FILES)


@dataclass(frozen=True)
class Bundle(Result):
    """Result of :func:`bundle`: the folder, its files and its manifest.

    Attributes:
        path: the bundle folder.
        model_file: the model's file name inside it.
        files: ``{name: size in bytes}`` of every file the manifest lists.
        manifest: the parsed ``manifest.json``.
    """

    path: Path
    model_file: str
    files: dict[str, int]
    manifest: dict[str, Any] = field(repr=False)

    @property
    def command(self) -> str:
        """How to run it: ``python <path>/predict.py --input ...`` (a language model's:
        ``python <path>/predict.py "prompt" --max-tokens 20``)."""
        if "llm" in self.manifest:
            return f"python {self.path / 'predict.py'} \"Once upon a time\" --max-tokens 20"
        example = "x.npy" if len(self.manifest["inputs"]) == 1 else "inputs.npz"
        return f"python {self.path / 'predict.py'} --input {example}"

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "model_file": self.model_file, "files": dict(self.files),
                "command": self.command, "manifest": self.manifest}

    def __repr__(self) -> str:
        m = self.manifest
        head = [f"Bundle '{self.path.name}': {self.model_file} ({len(self.files)} files, "
                f"{fmt_bytes(sum(self.files.values()))})", f"  {self.path}"]
        if "llm" in m:
            return "\n".join([*head, *lm_lines(m), f"  run: {self.command}"])
        io = ", ".join(f"{i['name']}: {i['dtype']}{i['shape']}" for i in m["inputs"])
        smoke = ", ".join(f"{k}{v['shape']}" for k, v in m["smoke_test"]["outputs"].items())
        tested = m["tested_with"]
        lines = [*head, f"  inputs: {io}", f"  smoke test passed: {smoke}",
                 f"  tested with onnxruntime {tested['onnxruntime']}, numpy {tested['numpy']}; "
                 f"providers {', '.join(m['providers'])}"]
        if m["postprocess"]:
            post = m["postprocess"]
            what = (f"threshold {post['threshold']}" if post["threshold"] is not None
                    else f"{len(post['labels'])} labels")
            lines.append(f"  postprocess: {what} on '{post['output']}'")
        if "edge" in m:
            lines += [f"  {line}" for line in edge_lines(m["edge"])]
        lines.append(f"  run: {self.command}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = [("folder", self.path), ("run", self.command)]
        rows += [(name, fmt_bytes(size)) for name, size in self.files.items()]
        return html_table(("bundle", self.path.name), rows)


def bundle(model: ModelLike | LanguageModel, out_dir: str | os.PathLike[str], *,
           providers: ProviderSpec | Sequence[ProviderSpec] | None = None,
           labels: Labels | None = None, threshold: float | None = None,
           output: str | None = None, feeds: Feeds | None = None,
           overwrite: bool = False, max_size_mb: float | None = None,
           max_memory_mb: float | None = None) -> Bundle:
    """Write a self-contained, verifiable folder that runs ``model`` with numpy + onnxruntime.

    The folder holds the model (and its external data), ``manifest.json`` (SHA-256 and size of
    every file, IO signature, opsets, the versions it was tested with, providers,
    postprocessing, creation info), ``predict.py`` (a standalone CLI that checks the hashes and
    the inputs before running), ``requirements.txt`` (pinned) and a ``README.md``. The bundled
    model is run once on random inputs before the folder is put in place, atomically.

    A :class:`~onnxkit.llm.LanguageModel` (or the folder ``llm.export`` wrote) gets a bundle
    that generates: its decoder, its tokenizer and onnxruntime-genai's ``genai_config.json``;
    ``predict.py "prompt" --max-tokens N`` streams the text (greedy by default,
    ``predict.generate`` from Python), ``serve.py`` answers the Open Inference Protocol's
    generate extension; the runtime is onnxruntime-genai and ``tokenizers`` (pinned), no
    onnxkit. Its greedy tokens on a smoke prompt must equal ``lm.generate``'s before the
    folder is put in place. Only ``out_dir``, ``overwrite`` and ``max_size_mb`` apply to it.

    What an edge device needs is in the bundle too (the manifest's ``edge`` section): the
    model's size, its session's peak memory with the CPU arena predict.py uses and with
    ``enable_cpu_mem_arena=False`` (measured in fresh processes on the smoke inputs), and in
    ``edge/`` the ORT-format model with onnxruntime's reduced-operator configuration for a
    minimal build.

    Args:
        model: anything model-like.
        out_dir: the folder to create. It must not exist or be empty, unless ``overwrite``.
        providers: execution providers predict.py prefers, in order (``"cuda"``,
            ``"CPUExecutionProvider"``...; default CPU). They need not exist on this machine.
        labels: class names (a list, or ``{index: name}``), one per class of the output:
            predict.py then prints ``labels[argmax]``. With ``threshold``: two names.
        threshold: a binary cut-off: predict.py prints ``score >= threshold`` (as 0/1 or the
            labels) for a one-score output, or the second column of a two-class output.
        output: the output ``labels``/``threshold`` apply to (default: the first).
        feeds: the inputs of the smoke test (default: random ones; give real ones to a model
            whose inputs have a domain, such as the categories a one-hot encoder knows). They
            are kept in the bundle (``smoke_inputs.npz``) for :func:`verify`.
        overwrite: replace ``out_dir`` if it holds a previous bundle (one with an onnxkit
            ``manifest.json``); any other folder is never deleted.
        max_size_mb, max_memory_mb: edge budgets in MB (10**6 bytes): the model's size
            (with its external data) and its session's peak memory with the CPU arena.

    Raises:
        WorkspaceError: ``out_dir`` is a file, or a non-empty folder that may not be replaced.
        ParameterError: labels/threshold/output do not fit the model.
        BudgetError: the model exceeds ``max_size_mb`` or ``max_memory_mb`` (the message
            says by how much); nothing is written.
        ProviderError: an unknown provider name.
        SessionError: the bundled model does not run.

    Examples:
        >>> import onnxkit
        >>> folder = onnxkit.workspace().root / "doc-bundles" / "tiny"
        >>> b = onnxkit.deploy.bundle(onnxkit.samples.tiny_model(), folder, overwrite=True)
        >>> sorted(f for f in b.files if "/" not in f)  # and the serving/ package
        ['Dockerfile', 'README.md', 'predict.py', 'requirements.txt', 'serve.py', 'tiny.onnx']
        >>> bool(onnxkit.deploy.verify(folder))
        True
    """
    if llm.is_export(model):  # a language model's folder, as llm.export wrote it
        model = llm.load(model)  # type: ignore[arg-type]
    language = isinstance(model, LanguageModel)
    if language:
        refuse_tensor_options({"providers": providers, "labels": labels, "threshold": threshold,
                               "output": output, "feeds": feeds,
                               "max_memory_mb": max_memory_mb})
    budgets = (check_budget(max_size_mb, "max_size_mb"),
               check_budget(max_memory_mb, "max_memory_mb"))
    handle = None if language else load(model)  # type: ignore[arg-type]
    target = Path(out_dir).absolute()
    check_target(target, overwrite)
    if handle is not None:
        names = _manifest.provider_names(providers)
        post = _manifest.postprocess_spec(handle, labels, threshold, output)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        manifest = _write(handle, tmp, names, post, feeds, budgets) if handle is not None \
            else write_language_model(model, tmp, budgets[0])  # type: ignore[arg-type]
        _install(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return Bundle(target, manifest["model"]["file"],
                  {n: e["size"] for n, e in manifest["files"].items()}, manifest)


def _write(handle: Model, folder: Path, providers: tuple[list[str], list[dict[str, Any]]],
           post: dict[str, Any] | None, feeds: Feeds | None,
           budgets: tuple[float | None, float | None]) -> dict[str, Any]:
    model_file = _copy_model(handle, folder)
    bundled = Model(folder / model_file)
    # the size budget first: it needs no measuring
    refuse_over_budget({"model_bytes": bundled.size_bytes}, budgets[0], None)
    smoke_feeds = prepare_feeds(bundled, feeds)  # random ones by default
    smoke = _smoke_test(bundled, providers[0], post, smoke_feeds)
    edge = edge_report(bundled, folder, smoke_feeds)
    refuse_over_budget(edge, *budgets)
    extra = list(edge["files"])
    if feeds is not None:  # given inputs (a domain random ones miss): verify reuses them
        np.savez(folder / SMOKE_INPUTS, **smoke_feeds)  # type: ignore[arg-type]
        extra.append(SMOKE_INPUTS)
    write_runtime(folder)
    write_dockerfile(folder)
    names = [model_file, *(f.location for f in bundled.external_data)]
    draft = _manifest.build(bundled, handle, {}, providers=providers, postprocess=post,
                            smoke=smoke)
    (folder / "requirements.txt").write_text(_manifest.requirements(draft))
    draft["edge"] = {k: v for k, v in edge.items() if k != "files"}
    (folder / "README.md").write_text(readme(draft), encoding="utf-8")
    draft["files"] = _manifest.file_entries(folder, [*names, *_SUPPORT_FILES, *extra])
    (folder / MANIFEST).write_text(json.dumps(draft, indent=2) + "\n")
    return draft


def _copy_model(handle: Model, folder: Path) -> str:
    model_file = handle.path.name if handle.path.suffix == ".onnx" else f"{handle.name}.onnx"
    clash = {MANIFEST, *_SUPPORT_FILES} & {model_file, *(f.location for f in handle.external_data)}
    if clash:
        raise ParameterError(f"bundle: the model's files {sorted(clash)} would clash with the "
                             "bundle's own files. Rename the model (or its data file) first.")
    shutil.copyfile(handle.path, folder / model_file)
    for data in handle.external_data:
        (folder / data.location).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(handle.path.parent / data.location, folder / data.location)
    return model_file


def _smoke_test(model: Model, providers: list[str], post: dict[str, Any] | None,
                feeds: dict[str, np.ndarray]) -> dict[str, Any]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # providers absent here: the smoke test uses the rest
        resolved, _ = resolve(providers)
    outputs = run_session(create_session(model, resolved), feeds, model.name)
    if post is not None:
        value = outputs[post["output"]]
        _manifest.check_classes(post["output"], value.shape, post["labels"], post["threshold"])
    return {"providers": [name for name, _ in resolved],
            "inputs": {k: list(v.shape) for k, v in feeds.items()},
            "outputs": {k: {"dtype": str(v.dtype), "shape": list(v.shape)}
                        for k, v in outputs.items()}}


def _install(tmp: Path, target: Path) -> None:
    """Put the finished folder in place with renames; a previous bundle goes only after."""
    os.chmod(tmp, 0o755)  # mkdtemp's 0700 would keep others from running the bundle
    if target.is_dir() and any(target.iterdir()):
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        os.rename(target, old)
        try:
            os.rename(tmp, target)
        except OSError:
            os.rename(old, target)
            raise
        shutil.rmtree(old, ignore_errors=True)
        return
    if target.is_dir():
        target.rmdir()  # empty: rename() onto it is not portable
    try:
        os.rename(tmp, target)
    except OSError as e:
        raise WorkspaceError(f"bundle: could not create '{target}': {e}.") from e
