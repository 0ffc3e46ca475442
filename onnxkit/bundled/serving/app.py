"""The HTTP side: the Open Inference Protocol's routes plus ``/predict``, ``/metrics`` and
Triton's repository index, with bearer-token auth, for Starlette/uvicorn and Ray Serve alike.

:class:`Handler` answers a Starlette request from its route table (404 for an unknown path,
405 with ``Allow`` for a known path and a wrong method, every error a JSON body). A route is
one line in :meth:`Handler.routes`; others are added with :meth:`Handler.add_route`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from starlette.requests import Request
from starlette.responses import Response

from .auth import TokenCheck
from .engine import EXTENSIONS, SERVER, Engine, clean
from .protocol import (
    HEADER_LENGTH,
    RequestError,
    decode_inputs,
    dumps,
    encode_response,
    loads,
    parse_request,
    requested_outputs,
    timeout_s,
)
from .uploads import FORM, form_inputs, media_type, raw_image

Endpoint = Callable[[Request, dict[str, str]], Awaitable[Response]]
_KNOWN_PATHS = 4096  # (method, path) pairs whose routing is remembered (bounded)

__all__ = ["Engine", "Handler", "Route", "json_response", "lifespan", "starlette_app"]


@dataclass
class Route:
    """A path (``{name}`` matches one segment), its endpoint per method, its label in the
    metrics, and whether it is open without a token (health probes)."""

    path: str
    methods: dict[str, Endpoint]
    name: str
    public: bool = False
    parts: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.parts = tuple(p for p in self.path.split("/") if p)
        if "GET" in self.methods:
            self.methods.setdefault("HEAD", self.methods["GET"])

    def match(self, parts: list[str]) -> dict[str, str] | None:
        if len(parts) != len(self.parts):
            return None
        params = {}
        for want, got in zip(self.parts, parts):
            if want.startswith("{"):
                params[want[1:-1]] = got
            elif want != got:
                return None
        return params


def json_response(content: Any, status: int = 200, headers: dict[str, str] | None = None
                  ) -> Response:
    return Response(dumps(content), status, headers, media_type="application/json")


class Handler:
    """Answers one HTTP request for an :class:`Engine`."""

    def __init__(self, engine: Engine, *, token: str | None = None,
                 open_metrics: bool = False):
        self.engine = engine
        self.auth = TokenCheck(token)
        self._routes: list[Route] = []
        self._matched: dict[tuple[str, str], Any] = {}
        for route in self.routes(open_metrics):
            self.add_route(route)

    def routes(self, open_metrics: bool) -> list[Route]:
        model, version = "/v2/models/{model}", "/v2/models/{model}/versions/{version}"
        return [
            Route("/v2/health/live", {"GET": self._live}, "live", public=True),
            Route("/v2/health/ready", {"GET": self._ready}, "ready", public=True),
            Route("/v2", {"GET": self._server}, "server"),
            Route(model, {"GET": self._model}, "model"),
            Route(version, {"GET": self._model}, "model"),
            Route(f"{model}/ready", {"GET": self._model_ready}, "model_ready"),
            Route(f"{version}/ready", {"GET": self._model_ready}, "model_ready"),
            Route(f"{model}/infer", {"POST": self._infer}, "infer"),
            Route(f"{version}/infer", {"POST": self._infer}, "infer"),
            Route("/v2/repository/index", {"POST": self._index}, "repository_index"),
            Route("/predict", {"POST": self._predict}, "predict"),
            Route("/metrics", {"GET": self._metrics}, "metrics", public=open_metrics),
        ]

    def add_route(self, route: Route) -> None:
        """Serve one more path (e.g. a generate endpoint), auth and error rules included."""
        self._routes.append(route)
        self._matched.clear()

    async def __call__(self, request: Request) -> Response:
        route, response = None, None
        try:
            route, endpoint, params = self._match(request.method, request.scope["path"])
            if not route.public:
                self.auth.check(request.headers.get("authorization"))
            response = await endpoint(request, params)
        except RequestError as e:
            response = json_response({"error": str(e)}, e.status, e.headers)
        except Exception as e:  # a bug here must not take the server down
            response = json_response({"error": f"internal error: {clean(e)}"}, 500)
        self.engine.metrics.request(route.name if route else "other", response.status_code)
        return response

    def _match(self, method: str, path: str) -> tuple[Route, Endpoint, dict[str, str]]:
        """The route, endpoint and path parameters for a request (remembered per method and
        path: a server sees a handful of them, and a scan costs more than the lookup)."""
        key = (method, path)
        found = self._matched.get(key)
        if found is None:
            found = self._scan(method, path)
            if len(self._matched) < _KNOWN_PATHS:
                self._matched[key] = found
        if isinstance(found, RequestError):  # a fresh one: a raised instance keeps its frames
            raise RequestError(str(found), found.status, found.headers)
        return found

    def _scan(self, method: str, path: str
              ) -> tuple[Route, Endpoint, dict[str, str]] | RequestError:
        parts = [p for p in path.split("/") if p]
        allowed: list[str] = []
        for route in self._routes:
            params = route.match(parts)
            if params is None:
                continue
            endpoint = route.methods.get(method)
            if endpoint is not None:
                return route, endpoint, params
            allowed += [m for m in route.methods if m not in allowed]
        if allowed:
            return RequestError(f"{method} is not allowed on {path[:200]}; use "
                                f"{', '.join(allowed)}", 405, {"Allow": ", ".join(allowed)})
        return RequestError(f"no route {method} {path[:200]}; this server speaks the Open "
                            "Inference Protocol (/v2/...), /predict and /metrics", 404)

    async def _live(self, request: Request, params: dict[str, str]) -> Response:
        return json_response({"live": True})

    async def _ready(self, request: Request, params: dict[str, str]) -> Response:
        ready = self.engine.ready
        return json_response({"ready": ready}, 200 if ready else 503)

    async def _model_ready(self, request: Request, params: dict[str, str]) -> Response:
        self.engine.model(params["model"], params.get("version"))
        return await self._ready(request, params)

    async def _server(self, request: Request, params: dict[str, str]) -> Response:
        return json_response({"name": SERVER, "version": self.engine.manifest.get(
            "versions", {}).get("onnxkit", "unknown"), "extensions": EXTENSIONS})

    async def _model(self, request: Request, params: dict[str, str]) -> Response:
        return json_response(self.engine.model(params["model"], params.get("version"))
                             .metadata())

    async def _index(self, request: Request, params: dict[str, str]) -> Response:
        """Triton's repository index: the one model, with its state."""
        body = await self.body(request)
        try:
            wanted = loads(body) if body.strip() else {}
        except ValueError as e:
            raise RequestError(f"the request body is not valid JSON ({e})") from None
        if not isinstance(wanted, dict):
            raise RequestError("the body must be a JSON object, e.g. {\"ready\": true}")
        ready = self.engine.ready
        entry = {"name": self.engine.name, "version": self.engine.version,
                 "state": "READY" if ready else "UNAVAILABLE"}
        return json_response([] if wanted.get("ready") is True and not ready else [entry])

    async def _metrics(self, request: Request, params: dict[str, str]) -> Response:
        return Response(self.engine.metrics.render(), media_type="text/plain; version=0.0.4")

    async def _infer(self, request: Request, params: dict[str, str]) -> Response:
        engine = self.engine.model(params["model"], params.get("version"))
        parsed = parse_request(await self.body(request), request.headers.get(HEADER_LENGTH))
        wanted = requested_outputs(parsed, engine.output_names)
        feeds = engine.check(decode_inputs(parsed), from_json=False)
        outputs = await engine.infer(feeds, timeout_s(parsed))
        content, headers = encode_response(engine.name, engine.version,
                                           parsed["json"].get("id"), outputs, wanted)
        kind = "application/octet-stream" if headers else "application/json"
        return Response(content, headers=headers, media_type=kind)

    async def _predict(self, request: Request, params: dict[str, str]) -> Response:
        kind, body = media_type(request.headers.get("content-type")), await self.body(request)
        if kind == FORM:
            data = form_inputs(body, request.headers["content-type"], self.engine.manifest)
        elif kind.startswith("image/"):
            data = raw_image(body, self.engine.manifest, request.query_params.get("input"))
        else:
            data = self._json_inputs(body)
        if any(isinstance(v, bytes) for v in data.values()):  # decoding: off the event loop
            feeds = await asyncio.to_thread(self.engine.check, data, from_json=True)
        else:
            feeds = self.engine.check(data, from_json=True)
        outputs = await self.engine.infer(feeds)
        reply: dict[str, Any] = {"outputs": {k: _plain(v) for k, v in outputs.items()}}
        predictions = self.engine.postprocess(outputs, self.engine.manifest)
        if predictions is not None:
            reply["predictions"] = predictions
        return json_response(reply)

    def _json_inputs(self, body: bytes) -> dict[str, Any]:
        try:
            data = loads(body)
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
        return data

    async def body(self, request: Request) -> bytes:
        """The request's body, refused (413) past the server's limit before it is read."""
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
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def lifespan(engine: Engine, on_start: Callable[[], Awaitable[Any]] | None = None,
             on_stop: Callable[[], Awaitable[Any]] | None = None
             ) -> Callable[[Any], contextlib.AbstractAsyncContextManager[None]]:
    """Starlette lifespan: ``on_start`` (e.g. the gRPC server, on this event loop); at
    shutdown ``on_stop``, then finish what is queued and running."""
    @contextlib.asynccontextmanager
    async def run(app: Any) -> AsyncIterator[None]:
        if on_start is not None:
            await on_start()
        try:
            yield
        finally:
            if on_stop is not None:
                await on_stop()
            await engine.stop()
    return run


def starlette_app(engine: Engine, *, token: str | None = None, open_metrics: bool = False,
                  on_start: Callable[[], Awaitable[Any]] | None = None,
                  on_stop: Callable[[], Awaitable[Any]] | None = None) -> Any:
    """The ASGI app: every HTTP request goes straight to one :class:`Handler` (its routing
    answers 404/405 as JSON, the same under Ray Serve; no middleware stack on the hot path);
    Starlette runs the lifespan."""
    from starlette.applications import Starlette

    handler = Handler(engine, token=token, open_metrics=open_metrics)
    starlette = Starlette(lifespan=lifespan(engine, on_start, on_stop))

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            response = await handler(Request(scope, receive))
            await response(scope, receive, send)
        else:
            await starlette(scope, receive, send)

    app.handler = handler  # type: ignore[attr-defined]  # for add_route
    return app


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
