"""The request handling: routes of the Open Inference Protocol plus ``/predict`` and
``/metrics``, input checks, and the model behind a dynamic batcher.

:class:`Engine` is one served model; :class:`Handler` answers a Starlette request with it.
The same ``Handler`` runs under uvicorn (``serve.py``, ``onnxkit.serve.start``) and inside a
Ray Serve replica (``onnxkit.serve.on_ray``).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from .batching import Batcher
from .metrics import Metrics
from .protocol import (
    HEADER_LENGTH,
    RequestError,
    datatype_of,
    decode_inputs,
    encode_response,
    parse_request,
    requested_outputs,
    tensor_metadata,
)

SERVER = "onnxkit"
_PATH = re.compile(r"(?:[A-Za-z]:)?(?:[/\\][\w.\-]+){2,}")  # file paths, kept out of replies


class Engine:
    """One model behind a dynamic batcher, with the bundle's input checks and post-processing.

    ``validate(data, manifest, from_json)`` and ``postprocess(outputs, manifest)`` are the
    bundle's own (``predict.py``); ``client_error`` is the exception class they raise for
    input the client must fix.
    """

    def __init__(self, *, session: Any, manifest: dict[str, Any], validate: Callable[..., Any],
                 postprocess: Callable[..., Any], client_error: type[Exception],
                 max_batch: int = 32, max_delay_ms: float = 2.0, workers: int = 1,
                 allow_nonfinite: bool = False, max_body_bytes: int = 32 << 20):
        self.manifest, self.session = manifest, session
        self.name = manifest["model"]["name"]
        self.version = "1"
        self._validate, self._postprocess, self._client_error = validate, postprocess, \
            client_error
        self.allow_nonfinite, self.max_body_bytes = allow_nonfinite, max_body_bytes
        self.output_names = [o["name"] for o in manifest["outputs"]]
        self.metrics = Metrics(self.name)
        why_not = _unbatchable(manifest)
        self.batcher = Batcher(self._run, max_batch=1 if why_not else max_batch,
                               max_delay_s=max_delay_ms / 1e3, workers=workers,
                               on_batch=self.metrics.batch)
        self.batcher.note = why_not or ""
        self.ready = True

    def metadata(self) -> dict[str, Any]:
        return {"name": self.name, "versions": [self.version], "platform": "onnxruntime_onnx",
                "inputs": [tensor_metadata(i) for i in self.manifest["inputs"]],
                "outputs": [tensor_metadata(o) for o in self.manifest["outputs"]]}

    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(self.output_names, self.session.run(self.output_names, feeds)))

    def check(self, arrays: dict[str, np.ndarray], *, from_json: bool) -> dict[str, np.ndarray]:
        """The bundle's checks (names, dtypes, ranks, fixed dims), then no empty batch and,
        unless allowed, no NaN or infinity in float inputs."""
        if not from_json:
            self._check_datatypes(arrays)
        try:
            feeds = self._validate(arrays, self.manifest, from_json)
        except self._client_error as e:
            raise RequestError(str(e)) from None
        for name, value in feeds.items():
            if value.ndim and value.shape[0] == 0:
                raise RequestError(f"input '{name}' is an empty batch (0 rows); send at least "
                                   "one row")
            if not self.allow_nonfinite and value.dtype.kind == "f" and \
                    not np.isfinite(value).all():
                bad = int(np.count_nonzero(~np.isfinite(value)))
                raise RequestError(f"input '{name}' has {bad} NaN or infinite value(s); this "
                                   "server refuses them (start it with allow_nonfinite to "
                                   "pass them to the model)")
        return feeds

    def _check_datatypes(self, arrays: dict[str, np.ndarray]) -> None:
        for spec in self.manifest["inputs"]:
            value = arrays.get(spec["name"])
            if value is None:
                continue
            want = datatype_of(spec["dtype"])
            got = "BYTES" if value.dtype.kind in "OUS" else datatype_of(value.dtype)
            if got != want:
                raise RequestError(f"input '{spec['name']}' is {want}; the request sends "
                                   f"{got}")

    async def infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = max((len(v) for v in feeds.values() if v.ndim), default=1)
        try:
            return await self.batcher.submit(feeds, rows)
        except RequestError:
            raise
        except Exception as e:
            self.metrics.model_error()
            raise RequestError(f"the model failed on this input: {_clean(e)}", 500) from None

    async def stop(self) -> None:
        self.ready = False
        await self.batcher.stop()


class Handler:
    """Answers one HTTP request; the routing is the protocol's paths."""

    def __init__(self, engine: Engine):
        self.engine = engine

    async def __call__(self, request: Request) -> Response:
        endpoint, response = "other", None
        try:
            endpoint, call = self._route(request.method, request.url.path)
            response = await call(request)
        except RequestError as e:
            response = JSONResponse({"error": str(e)}, status_code=e.status)
        except Exception as e:  # a bug here must not take the server down
            response = JSONResponse({"error": f"internal error: {_clean(e)}"}, status_code=500)
        self.engine.metrics.request(endpoint, response.status_code)
        return response

    def _route(self, method: str, path: str) -> tuple[str, Callable[[Request], Any]]:
        parts = [p for p in path.split("/") if p]
        get = method in ("GET", "HEAD")
        if get and parts == ["v2", "health", "live"]:
            return "live", self._live
        if get and parts == ["v2", "health", "ready"]:
            return "ready", self._ready
        if get and parts == ["v2"]:
            return "server", self._server
        if get and parts == ["metrics"]:
            return "metrics", self._metrics
        if method == "POST" and parts == ["predict"]:
            return "predict", self._predict
        if len(parts) >= 3 and parts[:2] == ["v2", "models"]:
            return self._model_route(method, parts[2], parts[3:])
        raise RequestError(f"no route {method} {path[:200]}; this server speaks the Open "
                           "Inference Protocol (/v2/...), /predict and /metrics", 404)

    def _model_route(self, method: str, name: str, rest: list[str]
                     ) -> tuple[str, Callable[[Request], Any]]:
        if name != self.engine.name:
            raise RequestError(f"unknown model '{name[:100]}'; this server serves "
                               f"'{self.engine.name}'", 404)
        if rest[:1] == ["versions"]:
            if rest[1:2] != [self.engine.version]:
                raise RequestError(f"unknown version {rest[1:2]}; this server has version "
                                   f"{self.engine.version}", 404)
            rest = rest[2:]
        if method in ("GET", "HEAD") and rest == []:
            return "model", self._model
        if method in ("GET", "HEAD") and rest == ["ready"]:
            return "model_ready", self._ready
        if method == "POST" and rest == ["infer"]:
            return "infer", self._infer
        raise RequestError(f"no route {method} /v2/models/{name}/{'/'.join(rest)[:100]}", 404)

    async def _live(self, request: Request) -> Response:
        return JSONResponse({"live": True})

    async def _ready(self, request: Request) -> Response:
        ready = self.engine.ready
        return JSONResponse({"ready": ready}, status_code=200 if ready else 503)

    async def _server(self, request: Request) -> Response:
        return JSONResponse({"name": SERVER, "version": self.engine.manifest.get(
            "versions", {}).get("onnxkit", "unknown"), "extensions": ["binary_tensor_data"]})

    async def _model(self, request: Request) -> Response:
        return JSONResponse(self.engine.metadata())

    async def _metrics(self, request: Request) -> Response:
        return PlainTextResponse(self.engine.metrics.render(),
                                 media_type="text/plain; version=0.0.4")

    async def _infer(self, request: Request) -> Response:
        body = await self._body(request)
        parsed = parse_request(body, request.headers.get(HEADER_LENGTH))
        wanted = requested_outputs(parsed, self.engine.output_names)
        feeds = self.engine.check(decode_inputs(parsed), from_json=False)
        outputs = await self.engine.infer(feeds)
        content, headers = encode_response(self.engine.name, self.engine.version,
                                           parsed["json"].get("id"), outputs, wanted)
        kind = "application/octet-stream" if headers else "application/json"
        return Response(content, headers=headers, media_type=kind)

    async def _predict(self, request: Request) -> Response:
        try:
            data = json.loads(await self._body(request))
        except (ValueError, UnicodeDecodeError) as e:
            raise RequestError(f"the request body is not valid JSON ({e})") from None
        if isinstance(data, dict) and isinstance(data.get("inputs"), dict):
            data = data["inputs"]
        if not isinstance(data, dict):
            names = [i["name"] for i in self.engine.manifest["inputs"]]
            if len(names) != 1:
                raise RequestError(f"send {{\"inputs\": {{name: values}}}} for the model's "
                                   f"inputs {names}")
            data = {names[0]: data}
        feeds = self.engine.check(data, from_json=True)
        outputs = await self.engine.infer(feeds)
        reply: dict[str, Any] = {"outputs": {k: _plain(v) for k, v in outputs.items()}}
        predictions = self.engine._postprocess(outputs, self.engine.manifest)
        if predictions is not None:
            reply["predictions"] = predictions
        return JSONResponse(reply)

    async def _body(self, request: Request) -> bytes:
        limit = self.engine.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise RequestError(f"the body is {int(declared)} bytes; this server takes at most "
                               f"{limit} (max_body)", 413)
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise RequestError(f"the body is over {limit} bytes, this server's limit "
                                   "(max_body)", 413)
            chunks.append(chunk)
        return b"".join(chunks)


def lifespan(engine: Engine) -> Callable[[Any], contextlib.AbstractAsyncContextManager[None]]:
    """Starlette lifespan: at shutdown, finish what is queued and running."""
    @contextlib.asynccontextmanager
    async def run(app: Any) -> AsyncIterator[None]:
        yield
        await engine.stop()
    return run


def starlette_app(engine: Engine) -> Any:
    from starlette.applications import Starlette
    from starlette.routing import Route

    return Starlette(routes=[Route("/{path:path}", Handler(engine).__call__,
                                   methods=["GET", "HEAD", "POST", "PUT", "DELETE"])],
                     lifespan=lifespan(engine))


def _unbatchable(manifest: dict[str, Any]) -> str | None:
    """Why requests cannot be stacked: a tensor without a dynamic first (batch) axis."""
    for kind in ("inputs", "outputs"):
        for spec in manifest[kind]:
            shape = spec.get("shape")
            if not shape or isinstance(shape[0], int):
                return (f"{kind[:-1]} '{spec['name']}' has no dynamic batch axis (shape "
                        f"{shape}): requests are run one at a time")
    return None


def _plain(value: np.ndarray) -> Any:
    """An output as JSON-ready nested lists (strings as str; NaN/inf as null: JSON has none)."""
    if value.dtype.kind in "OUS" or (value.dtype.kind == "f" and not np.isfinite(value).all()):
        plain = value.astype(object)
        if value.dtype.kind == "f":
            plain[~np.isfinite(value)] = None
        else:
            plain = np.vectorize(lambda v: v.decode() if isinstance(v, bytes) else str(v),
                                 otypes=[object])(plain) if plain.size else plain
        return plain.tolist()
    return value.tolist()


def _clean(error: BaseException) -> str:
    """An error's message, one line, without file paths."""
    message = " ".join(str(error).split())
    return f"{type(error).__name__}: {_PATH.sub('<path>', message)[:400]}"
