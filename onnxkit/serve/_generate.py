"""``start`` for a language model: the Open Inference Protocol's generate extension
(:mod:`onnxkit.bundled.serving.generate`) over a :class:`~onnxkit.llm.LanguageModel`; other
targets go on to :func:`onnxkit.serve._local.start`.

The glue lives here, not in the bundled server: generating needs ``onnxkit.llm`` (its
tokenizer and decode loop), which a bundle does not carry.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onnxkit import llm
from onnxkit._version import __version__
from onnxkit.base import integer, number, require
from onnxkit.bundled import manifest as _manifest
from onnxkit.bundled.predict import LANGUAGE_MODEL
from onnxkit.bundled.serving import textgen
from onnxkit.errors import InputError, ParameterError
from onnxkit.results import html_table
from onnxkit.serve import _local
from onnxkit.serve._local import Server


def is_language_model(target: Any) -> bool:
    """A :class:`~onnxkit.llm.LanguageModel`, a folder :func:`onnxkit.llm.export` wrote, or
    a language model's bundle (:func:`onnxkit.deploy.bundle`)."""
    if isinstance(target, llm.LanguageModel):
        return True
    return llm.is_export(target) or (isinstance(target, (str, os.PathLike))
                                     and _text_bundle(Path(target)) is not None)


def _text_bundle(folder: Path) -> dict[str, Any] | None:
    """The manifest of a language model's bundle, else None."""
    manifest = _manifest.read_manifest(folder)
    return manifest if manifest and manifest.get("kind") == LANGUAGE_MODEL else None


def served_files(target: Any) -> tuple[str, dict[str, bytes]]:
    """The name a language model is served under and its folder's files (an export's or a
    bundle's), for a server elsewhere (a Ray replica) to write and serve with
    :func:`text_decoder`."""
    if isinstance(target, llm.LanguageModel):
        name, folder = target.name, target.path
    elif (bundled := _text_bundle(Path(target))) is not None:
        name, folder = bundled["model"]["name"], Path(target)
    else:
        lm = llm.load(target)
        name, folder = lm.name, lm.path
    return name, {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
                  if p.is_file()}


def text_decoder(target: Any, threads: int | None) -> tuple[Any, type[Exception], dict[str, Any]]:
    """``(generate(prompts, settings), its client error, what the handle shows)``: a
    LanguageModel's own, or a bundle's runtime (onnxruntime-genai), its files checked."""
    bundled = None if isinstance(target, llm.LanguageModel) else _text_bundle(Path(target))
    if bundled is not None:
        folder = Path(target).absolute()
        failed = _manifest.check_files(folder, bundled)
        if failed:
            raise InputError(f"serve.start(target=...): refusing the bundle '{folder}': "
                             f"{failed}. Restore the original files or make it again.")
        model = textgen.TextModel(folder, bundled["llm"], threads=threads or 0)
        return model.generate, textgen.TextError, {
            "name": bundled["model"]["name"], "path": folder,
            "route": bundled["model"]["route"], "precision": bundled["model"]["precision"]}
    lm = target if isinstance(target, llm.LanguageModel) else llm.load(target, threads=threads)
    lm.tokenizer  # noqa: B018  (loaded now: the first request should not pay for it)

    def generate(prompts: list[str], settings: dict[str, Any]) -> Any:
        return lm.generate(prompts, stream=True, **settings)

    return generate, ParameterError, {"name": lm.name, "path": lm.path, "route": lm.route,
                                      "precision": lm.precision}


class GenerateClient:
    """``generate`` and ``generate_stream`` over HTTP, as any client calls a served language
    model (for :class:`GenerateServer` and Ray Serve's deployment alike)."""

    url: str
    model: str
    _token: str | None

    @property
    def generate_url(self) -> str:
        return f"{self.url}/v2/models/{self.model}/generate"

    @property
    def stream_url(self) -> str:
        return f"{self.generate_url}_stream"

    def generate(self, text: str, **parameters: Any) -> dict[str, Any]:
        """The server's JSON reply for ``text`` (``parameters``: the protocol's, e.g.
        ``max_tokens=20``); :class:`~onnxkit.errors.InputError` when it refuses them."""
        with self._post(self.generate_url, text, parameters) as reply:
            return json.loads(reply.read())

    def generate_stream(self, text: str, **parameters: Any) -> Iterator[str]:
        """The text pieces as the server sends them (server-sent events)."""
        with self._post(self.stream_url, text, parameters) as reply:
            for line in reply:
                if line.startswith(b"data: "):
                    event = json.loads(line[6:])
                    if "error" in event:
                        raise InputError(f"generate_stream: the server stopped: "
                                         f"{event['error']}")
                    yield event["text_output"]

    def _post(self, url: str, text: str, parameters: dict[str, Any]) -> Any:
        body = json.dumps({"text_input": text, "parameters": parameters}).encode()
        headers = {"Content-Type": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        try:
            return urllib.request.urlopen(urllib.request.Request(url, body, headers))
        except urllib.error.HTTPError as e:
            raise InputError(f"generate: the server answered {e.code}: "
                             f"{e.read().decode(errors='replace')[:500]}") from None


@dataclass(eq=False)
class GenerateServer(GenerateClient, Server):
    """A served language model (see :func:`onnxkit.serve.start`): ``generate`` and
    ``generate_stream`` call it over HTTP as any client does."""

    def stats(self) -> dict[str, Any]:
        """Requests answered (ok, 4xx, 5xx), batches decoded and prompts per batch, requests
        whose client went away and batches stopped early for it."""
        engine: Any = self._engine
        return {**engine.metrics.snapshot(), **engine.metrics.cancellations(),
                "max_batch": engine.max_batch, "running": self.running}

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return (f"GenerateServer '{self.model}' at {self.url} ({state}; max_batch "
                f"{self.settings['max_batch']})\n  generate: POST {self.generate_url}\n  "
                f"stream:   POST {self.stream_url}")

    def _repr_html_(self) -> str:
        rows = [("url", self.url), ("state", "running" if self.running else "stopped"),
                ("generate", f"POST {self.generate_url}"),
                ("generate_stream", f"POST {self.stream_url}"),
                *((k, str(v)) for k, v in self.settings.items())]
        return html_table(("", ""), rows, caption=f"serving '{self.model}'")


@functools.wraps(_local.start)
def start(target: Any, **options: Any) -> Server:
    if is_language_model(target):
        return _start_language_model(target, **options)
    return _local.start(target, **options)


# start's settings that mean something for a language model; the others must stay unset
_SERVED = ("host", "port", "max_batch", "max_queue_delay_ms", "max_queue_size", "threads",
           "max_body_mb", "token", "no_auth", "open_metrics")


def language_model_options(where: str, tensor_function: Any, served: tuple[str, ...],
                           options: dict[str, Any]) -> dict[str, Any]:
    """``served`` settings of ``tensor_function`` (e.g. ``start``) for a language model, with
    their defaults; a setting only a tensor model has must stay at its default."""
    defaults = {k: p.default for k, p in inspect.signature(tensor_function).parameters.items()
                if p.default is not inspect.Parameter.empty}
    for name, value in options.items():
        if name not in defaults:
            raise ParameterError(f"{where}(): unexpected setting {name!r}; see "
                                 f"help(onnxkit.{where})")
        if name not in served and value != defaults[name]:
            raise ParameterError(f"{where}({name}=...) does not apply to a language model "
                                 f"(its settings: {', '.join(served)}); leave it unset")
    return {k: options.get(k, defaults[k]) for k in served}


def _start_language_model(target: Any, **options: Any) -> GenerateServer:
    """What :func:`onnxkit.serve.start` does for a language model."""
    return _serve(target, **language_model_options("serve.start", _local.start, _SERVED,
                                                   options))


def _serve(target: Any, *, host: str, port: int, max_batch: int, max_queue_delay_ms: float,
           max_queue_size: int | None,
           threads: int | None, max_body_mb: float, token: str | None, no_auth: bool,
           open_metrics: bool) -> GenerateServer:
    uvicorn = require("uvicorn", purpose="onnxkit.serve")
    integer(port, "serve.start", "port", low=0, high=65535)
    integer(max_batch, "serve.start", "max_batch", high=256)
    number(max_queue_delay_ms, "serve.start", "max_queue_delay_ms", low=0, high=10_000)
    if max_queue_size is not None:
        integer(max_queue_size, "serve.start", "max_queue_size")
    number(max_body_mb, "serve.start", "max_body_mb", low=0, low_open=True)
    token = _local.resolve_token("serve.start", host, token, no_auth)
    generate, client_error, shown = text_decoder(target, threads)
    require("starlette", purpose="onnxkit.serve")
    from onnxkit.bundled.serving import generate as protocol  # needs starlette: not at import

    engine = protocol.TextEngine(
        generate=generate, name=shown["name"], client_error=client_error, max_batch=max_batch,
        max_queue_delay_ms=float(max_queue_delay_ms),
        max_queue_size=max_queue_size, max_body_bytes=int(max_body_mb * (1 << 20)),
        versions={"onnxkit": __version__})
    try:
        app = protocol.starlette_app(engine, token=token, open_metrics=open_metrics)
        config = uvicorn.Config(app, host=host, port=port, log_level="error",
                                timeout_graceful_shutdown=30, lifespan="on")
        server, thread = _local._run_in_thread(uvicorn.Server(config))
    except BaseException:
        engine.close()
        raise
    bound = server.servers[0].sockets[0].getsockname()
    settings = {"host": host, "port": bound[1], "max_batch": max_batch,
                "max_queue_delay_ms": float(max_queue_delay_ms),
                "max_queue_size": max_queue_size, "auth": "token" if token else "none",
                "route": shown["route"], "precision": shown["precision"]}
    handle = GenerateServer(f"http://{_local._url_host(host)}:{bound[1]}", shown["name"],
                            shown["path"],
                            settings, server, thread, engine, False, token)  # type: ignore
    _local._RUNNING.append(handle)
    return handle

