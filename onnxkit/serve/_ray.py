"""``on_ray``: the same server as a Ray Serve application, scaled by replicas.

Each replica receives the bundle's files as bytes (nothing assumes a shared filesystem),
writes them to its own temporary folder, checks their hashes, and answers HTTP requests with
the bundle's serving code (:class:`onnxkit.bundled.serving.app.Handler`), dynamic batching
included. Ray Serve's proxy routes the requests; ``route_prefix="/"`` keeps the protocol's
paths unchanged. With ``grpc_port``, Ray Serve's gRPC proxy also answers the protocol's gRPC
service (``inference.GRPCInferenceService``): it imports
:func:`~onnxkit.bundled.serving.grpc_server.add_GRPCInferenceServiceServicer_to_server`, and
passes each call's request bytes and metadata to the replica's method of the RPC's name, which
answers with the bundle's :class:`~onnxkit.bundled.serving.grpc_server.Service`.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from onnxkit.base import init_ray, integer, loopback_ray, number, release_ray, require
from onnxkit.bundled import manifest as _manifest
from onnxkit.bundled import predict as bundle_code
from onnxkit.bundled.serving import grpc_server
from onnxkit.bundled.serving.grpc_schema import METHODS, messages
from onnxkit.errors import ClusterError, ParameterError
from onnxkit.models import ModelLike, load
from onnxkit.results import Result, html_table
from onnxkit.runtime import create_session, random_inputs, resolve
from onnxkit.serve import _client
from onnxkit.serve._client import LoadTest
from onnxkit.serve._local import bundle_folder, check_policy, resolve_token

APP_PREFIX = "onnxkit-"
# what Ray Serve's gRPC proxy imports (gRPCOptions.grpc_servicer_functions)
SERVICER = f"{grpc_server.__name__}:add_GRPCInferenceServiceServicer_to_server"
_STATE: dict[str, Any] = {"port": None, "started_ray": False}


@dataclass(eq=False)
class RayDeployment(Result):
    """A model served by Ray Serve (see :func:`on_ray`): ``url`` (and ``grpc_url`` with
    ``grpc_port``), ``scale()``, ``stop()``."""

    url: str
    model: str
    app_name: str
    replicas: int
    settings: dict[str, Any]
    _bind: Any = field(repr=False)  # replicas -> a bound application
    _sample: dict[str, Any] = field(repr=False, default_factory=dict)  # one row of inputs
    _token: str | None = field(default=None, repr=False)

    def infer(self, feeds: dict[str, Any], *, binary: bool = True) -> dict[str, Any]:
        """The outputs for ``feeds``, over HTTP through Ray Serve's proxy."""
        return _client.infer(self.url, self.model, feeds, binary=binary, token=self._token)

    def sample_inputs(self) -> dict[str, Any]:
        """One row of random inputs for the served model."""
        return dict(self._sample)

    def load_test(self, feeds: dict[str, Any] | None = None, *,
                  clients: Sequence[int] = (1, 8, 32), requests: int = 200) -> LoadTest:
        """:func:`onnxkit.serve.load_test` through Ray Serve (default: one sample row)."""
        return _client.load_test(self.url, self.model, feeds or self.sample_inputs(),
                                 clients=clients, requests=requests, token=self._token)

    @property
    def infer_url(self) -> str:
        return f"{self.url}/v2/models/{self.model}/infer"

    @property
    def grpc_port(self) -> int | None:
        """The port of Ray Serve's gRPC proxy (``None``: deployed without ``grpc_port``)."""
        return self.settings.get("grpc_port")

    @property
    def grpc_url(self) -> str | None:
        """``host:port`` for ``tritonclient.grpc.InferenceServerClient`` (or ``None``)."""
        return None if self.grpc_port is None else f"127.0.0.1:{self.grpc_port}"

    def scale(self, replicas: int) -> None:
        """Run ``replicas`` copies (Ray Serve starts or stops them; requests keep flowing)."""
        from ray import serve

        replicas = integer(replicas, "RayDeployment.scale", "replicas", high=1024)
        serve.run(self._bind(replicas), name=self.app_name, route_prefix="/")
        self.replicas = replicas

    def status(self) -> dict[str, Any]:
        """Ray Serve's view: the application's status and each deployment's replicas."""
        import ray
        from ray import serve

        if not ray.is_initialized():  # (serve.status() would start a Ray to ask)
            return {"status": "DELETED"}
        app = serve.status().applications.get(self.app_name)
        if app is None:
            return {"status": "DELETED"}
        return {"status": str(app.status.value if hasattr(app.status, "value") else app.status),
                "deployments": {name: {"status": str(d.status), "replicas": dict(
                    getattr(d, "replica_states", {}) or {})}
                    for name, d in app.deployments.items()}}

    def stop(self) -> None:
        """Delete the application (and shut Ray down if :func:`on_ray` started it)."""
        import ray
        from ray import serve

        if ray.is_initialized():
            serve.delete(self.app_name)
            if _STATE["started_ray"] and not serve.status().applications:
                serve.shutdown()
                release_ray(ray, "serve")  # a cluster that joined this Ray keeps it
                _STATE.update(port=None, started_ray=False)

    def __enter__(self) -> RayDeployment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "model": self.model, "app_name": self.app_name,
                "replicas": self.replicas, "settings": dict(self.settings)}

    def __repr__(self) -> str:
        grpc = f"\n  gRPC: {self.grpc_url} (inference.GRPCInferenceService)" \
            if self.grpc_url else ""
        return (f"RayDeployment '{self.model}' at {self.url} ({self.replicas} replica(s), "
                f"Ray Serve application '{self.app_name}')\n  infer: POST {self.infer_url}"
                f"{grpc}")

    def _repr_html_(self) -> str:
        rows = [("url", self.url), ("replicas", self.replicas), ("infer", self.infer_url),
                *((("gRPC", self.grpc_url),) if self.grpc_url else ()),
                *((k, str(v)) for k, v in self.settings.items())]
        return html_table(("", ""), rows, caption=f"'{self.model}' on Ray Serve")


def on_ray(target: ModelLike | os.PathLike[str] | str, *, address: str | None = None,
           replicas: int = 1, max_batch: int = 32, max_queue_delay_ms: float = 0.0,
           preferred_batch_sizes: Sequence[int] = (), max_queue_size: int | None = 1024,
           timeout_ms: float | None = None, threads: int | None = 1, num_cpus: float = 1.0,
           port: int | None = None, token: str | None = None, no_auth: bool = False,
           grpc_port: int | None = None, max_delay_ms: float | None = None) -> RayDeployment:
    """Deploy a bundle (or a model, bundled first) on Ray Serve behind the same protocol.

    Args:
        address: ``None`` starts a local Ray on this machine (no dashboard, loopback); ``"auto"``
            or ``"ray://host:port"`` joins an existing cluster (onnxkit, numpy, onnxruntime and
            starlette must be installed on its nodes).
        replicas: copies of the model; :meth:`RayDeployment.scale` changes it later.
        max_batch, max_queue_delay_ms, preferred_batch_sizes, max_queue_size, timeout_ms:
            Triton's dynamic batching in each replica (as :func:`~onnxkit.serve.start`;
            ``max_delay_ms`` is the former name of ``max_queue_delay_ms``).
        threads: ONNX Runtime intra-op threads per replica; num_cpus: Ray CPUs per replica.
        port: the HTTP port of Ray Serve's proxy (default: a free one, on 127.0.0.1 for a
            local Ray).
        token: the bearer token clients must send (default: ``$ONNXKIT_SERVE_TOKEN``);
            required on a cluster (its proxy listens beyond loopback), and with
            ``grpc_port``, unless ``no_auth``.
        grpc_port: also answer the protocol's gRPC service (``inference.GRPCInferenceService``,
            what ``tritonclient.grpc`` calls; 0: a free port) through Ray Serve's gRPC proxy,
            at :attr:`RayDeployment.grpc_url`, with the embedded server's rules (health open,
            the rest behind the token). Ray Serve's gRPC port is set when Serve starts and
            Ray binds its proxy on every interface (Ray 2.60 has no host setting for it;
            onnxkit keeps it on 127.0.0.1 only in a local Ray it starts itself), so a token
            is required. Needs grpcio.

    Raises:
        ClusterError: Ray or Ray Serve could not start or deploy; another application owns
            "/"; or ``grpc_port`` is asked while Ray Serve already runs without gRPC.
        ParameterError: a bad setting; ``port``/``grpc_port`` other than those of the Ray
            Serve already running; no token beyond loopback (or with ``grpc_port``).

    Examples:
        >>> import onnxkit
        >>> deployment = onnxkit.serve.on_ray(onnxkit.samples.tiny_model())  # doctest: +SKIP
        >>> deployment.scale(2); deployment.stop()  # doctest: +SKIP
    """
    if address is None:
        loopback_ray()
    ray = require("ray", purpose="onnxkit.serve.on_ray")
    require("starlette", purpose="onnxkit.serve.on_ray")
    if grpc_port is not None:
        require("grpc", purpose="onnxkit.serve.on_ray(grpc_port=...)")
        integer(grpc_port, "serve.on_ray", "grpc_port", low=0, high=65535)
        if grpc_port and grpc_port == port:
            raise ParameterError(f"serve.on_ray(grpc_port={grpc_port}) must differ from "
                                 f"port={port}; pass another, or 0 for a free one.")
    from ray import serve

    replicas = integer(replicas, "serve.on_ray", "replicas", high=1024)
    if max_delay_ms is not None:
        max_queue_delay_ms = max_delay_ms
    policy = check_policy("serve.on_ray", max_batch=max_batch,
                          max_queue_delay_ms=max_queue_delay_ms,
                          preferred_batch_sizes=preferred_batch_sizes,
                          max_queue_size=max_queue_size, timeout_ms=timeout_ms, workers=1)
    number(num_cpus, "serve.on_ray", "num_cpus", low=0)
    # Ray Serve's gRPC proxy binds [::] whatever the HTTP host
    host = "0.0.0.0" if address is not None else "[::]" if grpc_port is not None else \
        "127.0.0.1"
    try:
        token = resolve_token("serve.on_ray", host, token, no_auth)
    except ParameterError as e:
        if host != "[::]":
            raise
        raise ParameterError(f"serve.on_ray(grpc_port={grpc_port}) needs a token: Ray 2.60 "
                             "binds Serve's gRPC proxy on every interface (onnxkit keeps it on "
                             f"127.0.0.1 only in a Ray it starts itself). {e}") from None
    folder, owned = bundle_folder(target)
    files = _read_bundle(folder)
    manifest = _manifest.read_manifest(folder)
    assert manifest is not None
    sample = random_inputs(load(folder / manifest["model"]["file"]), batch=1)
    if owned:
        import shutil

        shutil.rmtree(folder.parent, ignore_errors=True)
    grpc_bound = _connect(ray, serve, address, port, grpc_port)
    options = {**policy, "threads": threads}
    deployment: Any = serve.deployment(_Replica, name="model", max_ongoing_requests=256,
                                       ray_actor_options={"num_cpus": num_cpus})
    app_name = f"{APP_PREFIX}{manifest['model']['name']}"
    bind = run_app(serve, deployment, app_name, manifest["model"]["name"], replicas,
                   files, options, token, grpc_bound is not None)
    url = f"http://127.0.0.1:{_STATE['port']}"
    grpc_setting = {} if grpc_bound is None else {"grpc_port": grpc_bound}
    return RayDeployment(url, manifest["model"]["name"], app_name, replicas,
                         {"address": address or "local", **options, "num_cpus": num_cpus,
                          "auth": "token" if token else "none", **grpc_setting}, bind,
                         sample, token)


def run_app(serve: Any, deployment: Any, app_name: str, model: str, replicas: int,
            *args: Any) -> Any:
    """Run ``deployment`` (its replicas built from ``args``) as the application at "/"; the
    ``bind(count)`` that scales it. Refuses when another application owns "/"."""
    others = [a for a in serve.status().applications if a != app_name]
    if others:  # the protocol's paths are absolute: one application owns the route "/"
        raise ClusterError(f"serve.on_ray: Ray Serve already serves {others} at '/'; stop "
                           "that deployment first (RayDeployment.stop()).")

    def bind(count: int) -> Any:
        return deployment.options(num_replicas=count).bind(*args)

    try:
        serve.run(bind(replicas), name=app_name, route_prefix="/")
    except Exception as e:
        raise ClusterError(f"serve.on_ray: Ray Serve could not deploy '{model}': "
                           f"{type(e).__name__}: {e}{_replica_error(serve, app_name)}") from e
    return bind


def _replica_error(serve: Any, app_name: str) -> str:
    """The last line of what a failed replica reported (its exception), if any."""
    app = serve.status().applications.get(app_name)
    messages = [d.message for d in (app.deployments.values() if app else []) if d.message]
    lines = [ln for m in messages for ln in m.strip().splitlines() if ln.strip()]
    return f" (replica: {lines[-1].strip()[:300]})" if lines else ""


def _read_bundle(folder: Path) -> dict[str, bytes]:
    manifest = _manifest.read_manifest(folder)
    assert manifest is not None
    names = ["manifest.json", *manifest["files"]]
    return {name: (folder / name).read_bytes() for name in names}


def _connect(ray: Any, serve: Any, address: str | None, port: int | None,
             grpc_port: int | None = None) -> int | None:
    """Ray and Ray Serve up; the port of Serve's gRPC proxy when ``grpc_port`` asks for it."""
    if init_ray(ray, address, where="serve.on_ray", user="serve"):
        _STATE["started_ray"] = True
        # Ray Serve logs each deploy and delete at INFO to this process: onnxkit's own
        # results say the same (a RayDeployment, its status); warnings still show
        logging.getLogger("ray.serve").setLevel(logging.WARNING)
    if _STATE["port"] is None:
        chosen = port or _free_port()
        grpc = {} if grpc_port is None else {"grpc_options": {
            "port": grpc_port or _free_port(avoid=chosen),  # Ray Serve takes no 0
            "grpc_servicer_functions": [SERVICER]}}
        serve.start(http_options={"host": "127.0.0.1" if address is None else "0.0.0.0",
                                  "port": chosen}, **grpc)
        _STATE["port"] = chosen
    elif port is not None and port != _STATE["port"]:
        raise ParameterError(f"serve.on_ray(port={port}): Ray Serve already listens on "
                             f"{_STATE['port']} in this session; leave port out.")
    return None if grpc_port is None else _check_grpc(grpc_port)


def _check_grpc(grpc_port: int) -> int:
    """The port where the running Ray Serve answers the inference service over gRPC, which
    must be ``grpc_port`` (or any, for 0): Serve reads its gRPC settings only at its start
    (``serve.start`` ignores them afterwards, silently)."""
    from ray.serve.context import _get_global_client

    client: Any = _get_global_client()  # raises when Serve is not running
    options = client.get_serve_details().get("grpc_options") or {}
    bound = options.get("port") or 0
    if bound <= 0 or SERVICER not in (options.get("grpc_servicer_functions") or ()):
        raise ClusterError(f"serve.on_ray(grpc_port={grpc_port}): Ray Serve already runs in "
                           "this Ray without onnxkit's gRPC service, and takes gRPC settings "
                           "only when it starts. Stop the deployments on it "
                           "(RayDeployment.stop(), or ray.serve.shutdown()) and deploy again "
                           "with grpc_port, or leave grpc_port out.")
    if grpc_port not in (0, bound):
        raise ParameterError(f"serve.on_ray(grpc_port={grpc_port}): Ray Serve's gRPC proxy "
                             f"already listens on {bound} (set when Serve started); pass "
                             f"grpc_port=0 or {bound}, or stop the deployments on it first.")
    return int(bound)


def _free_port(avoid: int | None = None) -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            chosen = int(s.getsockname()[1])
        if chosen != avoid:
            return chosen


class _Replica:
    """One Ray Serve replica: the bundle written to a private folder, served by its code."""

    def __init__(self, files: dict[str, bytes], options: dict[str, Any], token: str | None,
                 grpc: bool = False):
        self._folder = Path(tempfile.mkdtemp(prefix="onnxkit-ray-replica-"))
        for name, data in files.items():
            path = self._folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        manifest = bundle_code.load_manifest(self._folder)
        bundle_code.check_files(self._folder, manifest)  # the bytes arrived intact
        from onnxkit.bundled.serving.app import Engine, Handler

        resolved, _ = resolve(None)
        session = create_session(load(self._folder / manifest["model"]["file"]), resolved,
                                 threads=options["threads"], where="serve.on_ray")
        policy = {k: v for k, v in options.items() if k != "threads"}
        engine = Engine(session=session, manifest=manifest, validate=bundle_code.validate,
                        postprocess=bundle_code.postprocess, client_error=bundle_code.BundleError,
                        **policy)
        self._handler = Handler(engine, token=token)
        # the gRPC service's RPCs, when asked for (Serve's proxy routes them to any app)
        self._grpc = grpc_server.Service(engine, token) if grpc else None

    async def __call__(self, request: Any) -> Any:
        return await self._handler(request)

    # Ray Serve's gRPC proxy calls the method named as the RPC, with the request's bytes
    # (see grpc_server.add_GRPCInferenceServiceServicer_to_server) and the call's context
    async def ServerLive(self, request: bytes, grpc_context: Any = None) -> Any:
        return await self._rpc("ServerLive", request, grpc_context)

    async def ServerReady(self, request: bytes, grpc_context: Any = None) -> Any:
        return await self._rpc("ServerReady", request, grpc_context)

    async def ModelReady(self, request: bytes, grpc_context: Any = None) -> Any:
        return await self._rpc("ModelReady", request, grpc_context)

    async def ServerMetadata(self, request: bytes, grpc_context: Any = None) -> Any:
        return await self._rpc("ServerMetadata", request, grpc_context)

    async def ModelMetadata(self, request: bytes, grpc_context: Any = None) -> Any:
        return await self._rpc("ModelMetadata", request, grpc_context)

    async def ModelInfer(self, request: bytes, grpc_context: Any = None) -> Any:
        return await self._rpc("ModelInfer", request, grpc_context)

    async def _rpc(self, name: str, request: bytes, context: Any) -> Any:
        if self._grpc is not None:
            return await self._grpc.unary(name, request, context)
        import grpc

        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        context.set_details("this model was deployed without gRPC: deploy it with "
                            "onnxkit.serve.on_ray(..., grpc_port=...)")
        return messages()[METHODS[name][1]]()
