"""``start``: a model or bundle served over HTTP from the notebook's own process, by uvicorn
in a background thread, with the bundle's serving code (``onnxkit.bundled.serving``)."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from onnxkit.base import boolean, integer, number, require
from onnxkit.bundled import manifest as _manifest
from onnxkit.bundled import predict as bundle_code
from onnxkit.bundled.serving import grpc_server
from onnxkit.bundled.serving.auth import TOKEN_ENV, required_token
from onnxkit.bundled.serving.engine import Engine
from onnxkit.bundled.serving.protocol import ServerError
from onnxkit.deploy import bundle
from onnxkit.errors import ParameterError, ServeError
from onnxkit.models import ModelLike, load
from onnxkit.results import Result, html_table
from onnxkit.runtime import Providers, create_session, random_inputs, resolve
from onnxkit.serve import _client
from onnxkit.serve._client import LoadTest

START_TIMEOUT_S = 120.0  # the longest start waits for the server (a loaded machine is slow)
_RUNNING: list[Server] = []  # stopped at exit, so no thread outlives the kernel's shutdown


@dataclass(eq=False)
class Server(Result):
    """A running HTTP server (see :func:`start`): its ``url``, ``stats()`` and ``stop()``.

    Also a context manager: ``with onnxkit.serve.start(model) as server: ...`` stops it on exit.
    """

    url: str
    model: str
    bundle: Path
    settings: dict[str, Any]
    _uvicorn: Any = field(repr=False)
    _thread: threading.Thread = field(repr=False)
    _engine: Engine = field(repr=False)
    _owned: bool = field(default=False, repr=False)  # a temporary bundle, removed at stop
    _token: str | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    @property
    def infer_url(self) -> str:
        return f"{self.url}/v2/models/{self.model}/infer"

    def infer(self, feeds: dict[str, Any], *, binary: bool = True) -> dict[str, Any]:
        """The outputs for ``feeds``, over HTTP (what any Open Inference Protocol client
        does; :class:`~onnxkit.errors.InputError` when the server refuses them)."""
        return _client.infer(self.url, self.model, feeds, binary=binary, token=self._token)

    def sample_inputs(self, batch: int = 1) -> dict[str, Any]:
        """Random inputs for the served model (ids and masks within range)."""
        manifest = _manifest.read_manifest(self.bundle) or {}
        return random_inputs(load(self.bundle / manifest["model"]["file"]), batch=batch)

    def load_test(self, feeds: dict[str, Any] | None = None, *,
                  clients: Sequence[int] = (1, 8, 32), requests: int = 200) -> LoadTest:
        """:func:`onnxkit.serve.load_test` of this server (default: one sample row)."""
        return _client.load_test(self.url, self.model, feeds or self.sample_inputs(),
                                 clients=clients, requests=requests, token=self._token)

    def stats(self) -> dict[str, Any]:
        """Requests answered (ok, 4xx, 5xx), batches run, rows per batch, queue and
        inference times (ms), and why batching is off, if it is."""
        return {**self._engine.metrics.snapshot(), "batching": self._engine.batcher.max_batch > 1,
                "batching_note": self._engine.batcher.note, "running": self.running}

    def stop(self, timeout: float = 30.0) -> None:
        """Stop accepting requests, answer those in flight, and shut down (idempotent)."""
        self._uvicorn.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._uvicorn.force_exit = True
            self._thread.join(5)
        if self in _RUNNING:
            _RUNNING.remove(self)
        if self._owned:
            shutil.rmtree(self.bundle, ignore_errors=True)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "model": self.model, "bundle": str(self.bundle),
                "running": self.running, "settings": dict(self.settings), "stats": self.stats()}

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return (f"Server '{self.model}' at {self.url} ({state}; max_batch "
                f"{self._engine.batcher.max_batch}, max_queue_delay_ms "
                f"{self.settings['max_queue_delay_ms']:g})\n  infer: POST {self.infer_url}")

    def _repr_html_(self) -> str:
        rows = [("url", self.url), ("state", "running" if self.running else "stopped"),
                ("infer", f"POST {self.infer_url}"), ("metadata", f"GET {self.url}/v2/models/"
                                                               f"{self.model}"),
                ("predict", f"POST {self.url}/predict"), ("metrics", f"GET {self.url}/metrics"),
                *((k, str(v)) for k, v in self.settings.items())]
        return html_table(("", ""), rows, caption=f"serving '{self.model}'")


def start(target: ModelLike | os.PathLike[str] | str, *, host: str = "127.0.0.1",
          port: int = 0, max_batch: int = 32, max_queue_delay_ms: float = 0.0,
          preferred_batch_sizes: Sequence[int] = (), max_queue_size: int | None = 1024,
          timeout_ms: float | None = None, workers: int = 1, threads: int | None = None,
          providers: Providers = None, max_body_mb: float = 32.0,
          allow_nonfinite: bool = False, token: str | None = None, no_auth: bool = False,
          open_metrics: bool = False, grpc_port: int | None = None,
          max_delay_ms: float | None = None) -> Server:
    """Serve a bundle folder (or a model, bundled first into a temporary folder) over HTTP.

    The server speaks the Open Inference Protocol (KServe v2: ``/v2/health/ready``,
    ``/v2/models/{name}``, ``POST /v2/models/{name}/infer`` with JSON or binary tensors,
    Triton's ``POST /v2/repository/index``), answers ``POST /predict`` with the bundle's
    labels, and exposes Prometheus metrics at ``/metrics``; with ``grpc_port`` also the
    protocol's gRPC service. It runs in a background thread of this process; the bundle's own
    ``serve.py`` runs the same code standalone.

    A :class:`~onnxkit.llm.LanguageModel` (or its folder) is served with the protocol's
    generate extension instead: ``POST /v2/models/{name}/generate`` and ``.../generate_stream``
    (server-sent events), health and metadata; requests queued with equal settings are
    decoded together, up to ``max_batch`` prompts, ``max_queue_delay_ms`` as for tensors (it
    returns a ``GenerateServer``; settings for tensors only, e.g. ``grpc_port``, are refused).

    Args:
        host, port: where to listen (default: loopback, a free port).
        max_batch: dynamic batching as Triton's: whenever the model is free, the requests
            queued run as one batch of up to ``max_batch`` rows (1 turns batching off). A
            model without a dynamic batch axis is served one request at a time.
        max_queue_delay_ms: how long the oldest request may wait for a fuller batch (default
            0: never; a lone request runs at once).
        preferred_batch_sizes: batch sizes to run at once when the queue reaches one.
        max_queue_size: requests waiting at most (None: unbounded); beyond, 503 with
            ``Retry-After``. timeout_ms: a request not started within this gets a 503.
        workers: model runs at once; threads: ONNX Runtime intra-op threads per run.
        max_body_mb: larger request bodies are refused (413).
        allow_nonfinite: pass NaN/inf inputs to the model (refused with 400 by default).
        token: the bearer token clients must send (``Authorization: Bearer <token>``; default:
            the ``ONNXKIT_SERVE_TOKEN`` environment variable). Required when ``host`` is beyond
            loopback unless ``no_auth=True``. Health probes stay open; ``/metrics`` too with
            ``open_metrics``.
        grpc_port: also serve gRPC (``inference.GRPCInferenceService``) there (0: a free one;
            needs grpcio).
        max_delay_ms: the former name of ``max_queue_delay_ms``.

    Raises:
        ParameterError: a bad setting, or ``host`` beyond loopback without a token.
        ServeError: the server could not start (e.g. the port is taken), or did not within
            two minutes.
        MissingDependencyError: starlette/uvicorn are missing (``pip install onnxkit[serve]``).

    Examples:
        >>> import json, urllib.request, onnxkit
        >>> with onnxkit.serve.start(onnxkit.samples.tiny_model()) as server:
        ...     ready = urllib.request.urlopen(server.url + "/v2/health/ready").status
        >>> ready
        200
    """
    uvicorn = require("uvicorn", purpose="onnxkit.serve")
    require("starlette", purpose="onnxkit.serve")
    if grpc_port is not None:
        require("grpc", purpose="onnxkit.serve.start(grpc_port=...)")
    from onnxkit.bundled.serving.app import starlette_app

    if max_delay_ms is not None:
        max_queue_delay_ms = max_delay_ms
    policy = check_policy("serve.start", max_batch=max_batch,
                          max_queue_delay_ms=max_queue_delay_ms,
                          preferred_batch_sizes=preferred_batch_sizes,
                          max_queue_size=max_queue_size, timeout_ms=timeout_ms, workers=workers)
    _check(host, port, max_body_mb, allow_nonfinite, grpc_port)
    token = resolve_token("serve.start", host, token, no_auth)
    folder, owned = bundle_folder(target)
    try:
        engine = _engine(folder, providers, threads, **policy,
                         allow_nonfinite=allow_nonfinite,
                         max_body_bytes=int(max_body_mb * (1 << 20)))
        grpc: dict[str, Any] = {}
        on_start, on_stop = _grpc_hooks(engine, host, grpc_port, token, grpc)
        app = starlette_app(engine, token=token, open_metrics=open_metrics,
                            on_start=on_start, on_stop=on_stop)
        config = uvicorn.Config(app, host=host, port=port, log_level="error",
                                timeout_graceful_shutdown=30, lifespan="on")
        server, thread = _run_in_thread(uvicorn.Server(config))
    except BaseException:
        if owned:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    bound = server.servers[0].sockets[0].getsockname()
    url = f"http://{_url_host(host)}:{bound[1]}"
    settings = {"host": host, "port": bound[1], **policy,
                "max_batch": engine.batcher.max_batch, "threads": threads,
                "providers": providers or "cpu", "auth": "token" if token else "none"}
    if "server" in grpc:
        settings["grpc_port"] = grpc["server"].onnxkit_port
    handle = Server(url, engine.name, folder, settings, server, thread, engine, owned, token)
    _RUNNING.append(handle)
    return handle


def stop_all() -> None:
    """Stop every server :func:`start` started in this process."""
    for server in list(_RUNNING):
        server.stop()


atexit.register(stop_all)


def _check(host: str, port: int, max_body_mb: float, allow_nonfinite: bool,
           grpc_port: int | None) -> None:
    if not isinstance(host, str) or not host:
        raise ParameterError(f"serve.start(host=...) must be an address such as '127.0.0.1'; "
                             f"got {host!r}.")
    integer(port, "serve.start", "port", low=0, high=65535)
    if grpc_port is not None:
        integer(grpc_port, "serve.start", "grpc_port", low=0, high=65535)
    number(max_body_mb, "serve.start", "max_body_mb", low=0, low_open=True)
    boolean(allow_nonfinite, "serve.start", "allow_nonfinite")


def check_policy(where: str, *, max_batch: int, max_queue_delay_ms: float,
                 preferred_batch_sizes: Sequence[int], max_queue_size: int | None,
                 timeout_ms: float | None, workers: int) -> dict[str, Any]:
    """The batcher's settings, checked: the keyword arguments of the bundle's ``Engine``."""
    integer(max_batch, where, "max_batch", high=65536)
    number(max_queue_delay_ms, where, "max_queue_delay_ms", low=0, high=10_000)
    if isinstance(preferred_batch_sizes, (str, bytes)) or \
            not isinstance(preferred_batch_sizes, Sequence):
        raise ParameterError(f"{where}(preferred_batch_sizes=...) must be a list of batch "
                             f"sizes such as [8, 16]; got {preferred_batch_sizes!r}.")
    sizes = tuple(integer(s, where, "preferred_batch_sizes", high=max_batch)
                  for s in preferred_batch_sizes)
    if max_queue_size is not None:
        integer(max_queue_size, where, "max_queue_size")
    if timeout_ms is not None:
        number(timeout_ms, where, "timeout_ms", low=0, low_open=True)
    integer(workers, where, "workers", high=256)
    return {"max_batch": max_batch, "max_queue_delay_ms": float(max_queue_delay_ms),
            "preferred_batch_sizes": sizes, "max_queue_size": max_queue_size,
            "timeout_ms": timeout_ms, "workers": workers}


def resolve_token(where: str, host: str, token: str | None, no_auth: bool) -> str | None:
    """The token the server checks: ``token``, else ``$ONNXKIT_SERVE_TOKEN``; none on
    loopback; beyond loopback one is required unless ``no_auth``."""
    boolean(no_auth, where, "no_auth")
    if token is not None and not isinstance(token, str):
        raise ParameterError(f"{where}(token=...) must be a string; got "
                             f"{type(token).__name__}.")
    token = token if token is not None else (os.environ.get(TOKEN_ENV) or None)
    try:
        return required_token(host, token, no_auth=no_auth)
    except ServerError as e:
        raise ParameterError(f"{where}(token=...): {e}".replace("--token", "token=")
                             .replace("--no-auth", "no_auth=True")) from None


def _grpc_hooks(engine: Engine, host: str, grpc_port: int | None, token: str | None,
                holder: dict[str, Any]) -> tuple[Any, Any]:
    """Lifespan hooks that run the gRPC server on the HTTP server's event loop."""
    if grpc_port is None:
        return None, None
    async def on_start() -> None:
        holder["server"] = await grpc_server.start(engine, host, grpc_port, token=token)

    async def on_stop() -> None:
        if "server" in holder:
            await holder["server"].stop(grace=30)

    return on_start, on_stop


def bundle_folder(target: Any) -> tuple[Path, bool]:
    """A bundle folder to serve, and whether it is a temporary one made here."""
    if isinstance(target, (str, os.PathLike)) and Path(target).is_dir():
        folder = Path(target).absolute()
        if _manifest.read_manifest(folder) is None:
            raise ParameterError(f"serve.start: '{folder}' is a folder but not an onnxkit "
                                 "bundle (no manifest.json). Pass a model, or a folder "
                                 "written by onnxkit.deploy.bundle.")
        return folder, False
    model = load(target)
    folder = Path(tempfile.mkdtemp(prefix=f"onnxkit-serve-{model.name}-"))
    bundle(model, folder / "bundle")
    return folder / "bundle", True


def _engine(folder: Path, providers: Providers, threads: int | None, **options: Any) -> Engine:
    manifest = _manifest.read_manifest(folder)
    assert manifest is not None
    broken = _manifest.check_files(folder, manifest)
    if broken:
        raise ServeError(f"serve.start: the bundle '{folder}' is damaged ("
                         + ", ".join(f"'{n}': {why}" for n, why in broken.items())
                         + "); refusing to serve it. Bundle the model again.")
    resolved, _ = resolve(providers)
    session = create_session(load(folder / manifest["model"]["file"]), resolved,
                             threads=threads, where="serve.start")
    return Engine(session=session, manifest=manifest, validate=bundle_code.validate,
                  postprocess=bundle_code.postprocess, client_error=bundle_code.BundleError,
                  **options)


def _run_in_thread(server: Any) -> tuple[Any, threading.Thread]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            server.run()
        except BaseException as e:  # SystemExit when the port is taken
            errors.append(e)

    thread = threading.Thread(target=run, name="onnxkit-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    if not server.started:
        waited = thread.is_alive()  # still starting when the time was up
        server.should_exit = True
        thread.join(5)
        where = f"serve.start: the server did not start on {server.config.host}:" \
                f"{server.config.port}"
        if waited and not errors:
            raise ServeError(f"{where} within {START_TIMEOUT_S:g} s; the machine may be too "
                             "busy. Try again when it is less loaded.")
        why = f" ({type(errors[0]).__name__}: {errors[0]})" if errors else ""
        raise ServeError(f"{where}{why}. Is the port taken? Use port=0 for a free one.")
    return server, thread


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host
