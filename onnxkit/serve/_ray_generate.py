"""``on_ray`` for a language model: the generate extension's server
(:mod:`onnxkit.bundled.serving.generate`) in Ray Serve replicas, each with the model's folder
sent as bytes; other targets go on to :func:`onnxkit.serve._ray.on_ray`."""

from __future__ import annotations

import functools
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onnxkit._version import __version__
from onnxkit.base import integer, loopback_ray, number, require
from onnxkit.serve import _ray
from onnxkit.serve._generate import (
    GenerateClient,
    is_language_model,
    language_model_options,
    served_files,
    text_decoder,
)
from onnxkit.serve._local import resolve_token
from onnxkit.serve._ray import RayDeployment

# on_ray's settings that mean something for a language model; the others must stay unset
_SERVED = ("address", "replicas", "max_batch", "max_queue_delay_ms", "max_queue_size",
           "threads", "num_cpus", "port", "token", "no_auth")


@dataclass(eq=False)
class RayGenerateDeployment(GenerateClient, RayDeployment):
    """A language model on Ray Serve (see :func:`onnxkit.serve.on_ray`): ``generate``,
    ``generate_stream``, ``scale()``, ``stop()``."""


@functools.wraps(_ray.on_ray)
def on_ray(target: Any, **options: Any) -> RayDeployment:
    if is_language_model(target):
        return _deploy_language_model(target, **options)
    return _ray.on_ray(target, **options)


def _deploy_language_model(target: Any, **options: Any) -> RayGenerateDeployment:
    o = language_model_options("serve.on_ray", _ray.on_ray, _SERVED, options)
    if o["address"] is None:
        loopback_ray()
    ray = require("ray", purpose="onnxkit.serve.on_ray")
    from ray import serve

    replicas = integer(o["replicas"], "serve.on_ray", "replicas", high=1024)
    integer(o["max_batch"], "serve.on_ray", "max_batch", high=256)
    number(o["max_queue_delay_ms"], "serve.on_ray", "max_queue_delay_ms", low=0, high=10_000)
    number(o["num_cpus"], "serve.on_ray", "num_cpus", low=0)
    token = resolve_token("serve.on_ray", "127.0.0.1" if o["address"] is None else "0.0.0.0",
                          o["token"], o["no_auth"])
    name, files = served_files(target)
    _ray._connect(ray, serve, o["address"], o["port"])
    settings = {"max_batch": o["max_batch"], "max_queue_delay_ms": float(o["max_queue_delay_ms"]),
                "max_queue_size": o["max_queue_size"], "threads": o["threads"]}
    deployment: Any = serve.deployment(_TextReplica, name="model", max_ongoing_requests=256,
                                       ray_actor_options={"num_cpus": o["num_cpus"]})
    app_name = f"{_ray.APP_PREFIX}{name}"
    bind = _ray.run_app(serve, deployment, app_name, name, replicas, files, settings, token)
    return RayGenerateDeployment(
        f"http://127.0.0.1:{_ray._STATE['port']}", name, app_name, replicas,
        {"address": o["address"] or "local", **settings, "num_cpus": o["num_cpus"],
         "auth": "token" if token else "none"}, bind, {}, token)


class _TextReplica:
    """One Ray Serve replica: the model's folder (an export's or a bundle's) written to a
    private folder, served by the bundled generate server."""

    def __init__(self, files: dict[str, bytes], settings: dict[str, Any], token: str | None):
        folder = Path(tempfile.mkdtemp(prefix="onnxkit-ray-llm-"))
        for name, data in files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
        generate, client_error, shown = text_decoder(folder, settings["threads"])
        from onnxkit.bundled.serving import generate as protocol  # starlette: in the replica

        engine = protocol.TextEngine(
            generate=generate, name=shown["name"], client_error=client_error,
            max_batch=settings["max_batch"],
            max_queue_delay_ms=settings["max_queue_delay_ms"],
            max_queue_size=settings["max_queue_size"], versions={"onnxkit": __version__})
        self._handler = protocol.GenerateHandler(engine, token=token)  # type: ignore[arg-type]

    async def __call__(self, request: Any) -> Any:
        return await self._handler(request)
