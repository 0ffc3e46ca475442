"""The Open Inference Protocol's generate extension (``generate_rest.yaml`` of
kserve/open-inference-protocol): ``POST /v2/models/{name}/generate`` answers one JSON
``{"text_output": ...}``, ``.../generate_stream`` the pieces as server-sent events.

:class:`TextEngine` decodes behind a queue: whenever the decoder is free, the requests waiting
with the same settings are decoded together as one batch (left-padded prompts), up to
``max_batch``; a lone request starts at once unless ``max_queue_delay_ms`` lets it wait for
company (Triton's rule). ``generate`` is the model's own function
(``prompts, settings -> iterator of (index, piece)`` with ``.results``), given by who serves
it, so this module needs nothing but the standard library (and Starlette in the handler).
"""

from __future__ import annotations

import asyncio
import collections
import math
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from .app import Handler, Route, json_response, lifespan
from .engine import SERVER, check_model, clean
from .metrics import Metrics
from .protocol import RequestError, dumps, loads

INVALID = 422  # the spec's "Input validation error"
FAILED = 424  # the spec's "Request failed during generation"
GONE = 499  # the client closed the request (nginx's code; never sent: nobody is there)
_INT32 = 2**31 - 1
_SSE = "text/event-stream"


def parse_request(body: bytes) -> tuple[str, dict[str, Any], bool]:
    """The prompt, the generate settings and whether ``details`` were asked for; a 422 saying
    what is wrong otherwise. Parameters the spec allows but this server does not know are
    ignored (``GenerateParameters`` takes additional properties)."""
    try:
        data = loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise RequestError(f"the request body is not valid JSON ({e}); send "
                           "{\"text_input\": \"...\", \"parameters\": {...}}", INVALID) from None
    if not isinstance(data, dict):
        raise RequestError("the body must be a JSON object such as {\"text_input\": \"Hello\"}",
                           INVALID)
    text = data.get("text_input")
    if not isinstance(text, str):
        raise RequestError(f"text_input must be a string (the prompt); got "
                           f"{_kind(text) if 'text_input' in data else 'nothing'}", INVALID)
    params = data.get("parameters", {})
    if not isinstance(params, dict):
        raise RequestError(f"parameters must be a JSON object such as {{\"max_tokens\": 20}}; "
                           f"got {_kind(params)}", INVALID)
    details = params.get("details", False)
    if not isinstance(details, bool):
        raise RequestError(f"parameters.details must be true or false; got {_kind(details)}",
                           INVALID)
    return text, settings(params), details


def settings(params: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of the model's ``generate`` for the protocol's ``parameters``.

    Greedy unless ``do_sample`` is true; ``temperature`` 0 or ``top_p`` 0 (allowed by the
    spec) mean the most likely token, i.e. greedy too. Empty ``stop`` strings match nothing.
    """
    # max_tokens: any count (the spec's int32 is a format, not a bound); the context caps it
    out: dict[str, Any] = {"max_new_tokens": _integer(params, "max_tokens", 20, 1, None)}
    sample = params.get("do_sample", False)
    if not isinstance(sample, bool):
        raise RequestError(f"parameters.do_sample must be true or false; got {_kind(sample)}",
                           INVALID)
    temperature = _number(params, "temperature", 0, None)
    top_p = _number(params, "top_p", 0, 1)
    top_k = _integer(params, "top_k", None, 0, _INT32)
    penalty = _number(params, "repetition_penalty", 0, 100, low_open=True)
    seed = _integer(params, "seed", None, 0, _INT32)
    stop = params.get("stop")
    if stop is not None:
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise RequestError(f"parameters.stop must be a list of strings; got {_kind(stop)}",
                               INVALID)
        if any(stop):
            out["stop"] = [s for s in stop if s]
    if penalty is not None:
        out["repetition_penalty"] = penalty
    if sample and temperature != 0 and top_p != 0:
        out.update(do_sample=True, seed=seed, top_k=top_k, top_p=top_p,
                   temperature=None if temperature is None else min(temperature, 100.0))
    return out


def _integer(params: dict[str, Any], name: str, default: Any, low: int, high: int | None
             ) -> Any:
    value = params.get(name, default)
    if value is default:
        return value
    if isinstance(value, float) and value.is_integer():  # JSON Schema: 5.0 is an integer
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < low or \
            (high is not None and value > high):
        bound = f"at least {low}" if high is None else f"from {low} to {high}"
        raise RequestError(f"parameters.{name} must be an integer {bound}; got "
                           f"{_kind(value)}", INVALID)
    return value


def _number(params: dict[str, Any], name: str, low: float, high: float | None, *,
            low_open: bool = False) -> float | None:
    value = params.get(name)
    if value is None and name not in params:
        return None
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and \
        math.isfinite(value) and (value > low if low_open else value >= low) and \
        (high is None or value <= high)
    if not ok:
        bound = f"{'above' if low_open else 'at least'} {low:g}" + \
            ("" if high is None else f" and at most {high:g}")
        raise RequestError(f"parameters.{name} must be a number {bound}; got {_kind(value)}",
                           INVALID)
    return float(value)


def _kind(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'...' if len(text) > 60 else ''}"


@dataclass(eq=False)
class _Request:
    prompt: str
    settings: dict[str, Any]
    loop: asyncio.AbstractEventLoop
    events: asyncio.Queue = field(default_factory=asyncio.Queue)
    queued: float = field(default_factory=time.perf_counter)
    cancelled: bool = False  # its client went away: decode no more for it

    @property
    def key(self) -> str:  # requests decoded together share every setting
        return repr(sorted(self.settings.items()))

    def put(self, kind: str, value: Any) -> None:
        try:
            self.loop.call_soon_threadsafe(self.events.put_nowait, (kind, value))
        except RuntimeError:  # the loop is gone (server stopped): nobody is listening
            pass


class TextEngine:
    """A language model behind a queue, decoded by one thread, requests with equal settings
    batched together (see the module's text).

    ``generate(prompts, settings)`` returns an iterator of ``(index, piece)`` with a
    ``results`` attribute (objects with ``text``, ``tokens`` and ``finish_reason``) once it is
    exhausted;
    ``client_error`` is the exception it raises for a request the client must fix (422).
    """

    def __init__(self, *, generate: Callable[[list[str], dict[str, Any]], Any], name: str,
                 client_error: type[Exception], max_batch: int = 8,
                 max_queue_delay_ms: float = 0.0,
                 max_queue_size: int | None = 1024, max_body_bytes: int = 1 << 20,
                 platform: str = "onnxruntime_onnx", versions: dict[str, str] | None = None):
        self.name, self.version, self.platform = name, "1", platform
        self.manifest = {"versions": versions or {}}
        self._generate, self._client_error = generate, client_error
        self.max_batch, self.max_queue_size, self.max_body_bytes = max_batch, max_queue_size, \
            max_body_bytes
        self.max_queue_delay_s = max_queue_delay_ms / 1e3
        self.metrics = Metrics(name)
        self._pending: collections.deque[_Request] = collections.deque()
        self._wake = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._work, name="onnxkit-generate",
                                        daemon=True)
        self._thread.start()
        self.ready = True

    def model(self, name: str, version: str | None = None) -> TextEngine:
        check_model(self.name, self.version, name, version)
        return self

    def metadata(self) -> dict[str, Any]:
        return {"name": self.name, "versions": [self.version], "platform": self.platform,
                "inputs": [{"name": "text_input", "datatype": "BYTES", "shape": [1]}],
                "outputs": [{"name": "text_output", "datatype": "BYTES", "shape": [1]}]}

    def cancel(self, request: _Request) -> None:
        """The client of ``request`` went away: it leaves the queue, and a batch whose every
        client went away stops decoding at its next piece (the decoder is free for the
        others). Its ``events`` end with a 499 (the client closed the request)."""
        with self._wake:
            if request.cancelled:
                return
            request.cancelled = True
            if request in self._pending:
                self._pending.remove(request)
        self.metrics.cancelled()
        request.put("error", RequestError("the client closed the request", GONE))

    def submit(self, prompt: str, settings: dict[str, Any]) -> _Request:
        """Queue a request; its ``events`` receive ``("piece", text)`` as they are made, then
        ``("done", result)`` or ``("error", RequestError)``."""
        request = _Request(prompt, settings, asyncio.get_running_loop())
        with self._wake:
            if not self.ready:
                raise RequestError("the server is shutting down", 503, {"Retry-After": "1"})
            if self.max_queue_size is not None and len(self._pending) >= self.max_queue_size:
                raise RequestError(f"the model is overloaded ({len(self._pending)} requests "
                                   "waiting); retry later", 429, {"Retry-After": "1"})
            self._pending.append(request)
            self._wake.notify()
        return request

    def _work(self) -> None:
        while True:
            with self._wake:
                while not self._pending and not self._stopping:
                    self._wake.wait()
                if not self._pending:
                    return
                self._gather()
                group = self._take()
            self._decode(group)

    def _gather(self) -> None:
        """Wait (at most ``max_queue_delay_ms`` after the oldest request came) for company
        with the oldest's settings, as Triton's dynamic batcher does; 0: never wait."""
        deadline = self._pending[0].queued + self.max_queue_delay_s
        while not self._stopping and len(self._pending) < self.max_batch:
            left = deadline - time.perf_counter()
            if left <= 0:
                return
            self._wake.wait(left)

    def _take(self) -> list[_Request]:
        """The oldest request and the queued ones with its settings, up to ``max_batch``."""
        first = self._pending.popleft()
        group = [first]
        for request in list(self._pending):
            if len(group) == self.max_batch:
                break
            if request.key == first.key:
                group.append(request)
                self._pending.remove(request)
        return group

    def _decode(self, group: list[_Request]) -> None:
        started = time.perf_counter()
        try:
            decoding = self._generate([r.prompt for r in group], dict(group[0].settings))
            pieces = iter(decoding)
            for index, piece in pieces:
                if not group[index].cancelled:
                    group[index].put("piece", piece)
                if all(r.cancelled for r in group):  # nobody is listening: stop here
                    getattr(pieces, "close", lambda: None)()
                    self.metrics.stopped_batch()
                    return
            for request, result in zip(group, decoding.results):
                request.put("done", result)
        except self._client_error as e:
            for request in group:
                request.put("error", RequestError(str(e), INVALID))
        except Exception as e:  # the model failed: answered, never a dead decoder thread
            self.metrics.model_error()
            for request in group:
                request.put("error", RequestError(f"generation failed: {clean(e)}", FAILED))
        finally:
            self.metrics.batch(len(group), [started - r.queued for r in group],
                               time.perf_counter() - started)

    def close(self) -> None:
        """Take no more requests; the decoder thread ends once the queue is empty."""
        with self._wake:
            self.ready = False
            self._stopping = True
            self._wake.notify_all()

    async def stop(self) -> None:
        self.close()
        await asyncio.get_running_loop().run_in_executor(None, self._thread.join, 60)


async def _events(request: _Request) -> AsyncIterator[tuple[str, Any]]:
    while True:
        kind, value = await request.events.get()
        yield kind, value
        if kind != "piece":
            return


class GenerateHandler(Handler):
    """The HTTP routes of a served language model: health, metadata, ``generate`` and
    ``generate_stream`` (also under ``/versions/{version}``), ``/metrics``; the token and
    error rules of :class:`~.app.Handler`."""

    engine: TextEngine

    def routes(self, open_metrics: bool) -> list[Route]:
        model, version = "/v2/models/{model}", "/v2/models/{model}/versions/{version}"
        return [
            Route("/v2/health/live", {"GET": self._live}, "live", public=True),
            Route("/v2/health/ready", {"GET": self._ready}, "ready", public=True),
            Route("/v2", {"GET": self._server}, "server"),
            *(Route(p, {"GET": self._model}, "model") for p in (model, version)),
            *(Route(f"{p}/ready", {"GET": self._model_ready}, "model_ready")
              for p in (model, version)),
            *(Route(f"{p}/generate", {"POST": self._generate}, "generate")
              for p in (model, version)),
            *(Route(f"{p}/generate_stream", {"POST": self._stream}, "generate_stream")
              for p in (model, version)),
            Route("/metrics", {"GET": self._metrics}, "metrics", public=open_metrics),
        ]

    async def _server(self, request: Request, params: dict[str, str]) -> Response:
        return json_response({"name": SERVER, "version": self.engine.manifest["versions"].get(
            "onnxkit", "unknown"), "extensions": ["generate"]})

    async def _submit(self, request: Request, params: dict[str, str]
                      ) -> tuple[_Request, bool]:
        engine = self.engine.model(params["model"], params.get("version"))
        text, settings, details = parse_request(await self.body(request))
        return engine.submit(text, settings), details

    def _reply(self, **fields: Any) -> dict[str, Any]:
        return {**fields, "model_name": self.engine.name, "model_version": self.engine.version}

    async def _generate(self, request: Request, params: dict[str, str]) -> Response:
        queued, details = await self._submit(request, params)
        watcher = asyncio.ensure_future(self._cancel_on_disconnect(request, queued))
        try:
            async for kind, value in _events(queued):
                if kind == "error":
                    raise value
                if kind == "done":
                    reply = self._reply(text_output=value.text)
                    if details:  # no log-probabilities from this decoder: an empty list; the
                        # token count as TGI's details give it (the spec allows more)
                        reply["details"] = {"finish_reason": value.finish_reason,
                                            "logprobs": [], "generated_tokens": len(value.tokens)}
                    return json_response(reply)
        except asyncio.CancelledError:  # the server gave up on it (Ray Serve, on disconnect)
            self.engine.cancel(queued)
            raise
        finally:
            watcher.cancel()
        raise RequestError("incomplete generation", 500)  # unreachable: done or error ends

    async def _cancel_on_disconnect(self, request: Request, queued: _Request) -> None:
        """The body is read: the next ASGI message is the client's disconnect."""
        while (await request.receive())["type"] != "http.disconnect":
            pass
        self.engine.cancel(queued)

    async def _stream(self, request: Request, params: dict[str, str]) -> Response:
        try:
            queued, _ = await self._submit(request, params)
            watcher = asyncio.ensure_future(self._cancel_on_disconnect(request, queued))
            try:  # (from the 200 on, Starlette watches for the disconnect)
                first = await queued.events.get()  # a refused prompt is a 4xx, not a 200
            except asyncio.CancelledError:
                self.engine.cancel(queued)
                raise
            finally:
                watcher.cancel()
            if first[0] == "error":
                raise first[1]
        except RequestError as e:  # the spec gives the stream's errors as event streams too
            return Response(_sse({"error": str(e)}), e.status, e.headers, media_type=_SSE)

        async def pieces() -> AsyncIterator[bytes]:
            if first[0] != "piece":  # done without a piece
                return
            finished = False
            try:
                yield _sse(self._reply(text_output=first[1]))
                async for kind, value in _events(queued):
                    if kind == "piece":
                        yield _sse(self._reply(text_output=value))
                    elif kind == "error":  # after the 200: the error is the last event
                        yield _sse({"error": str(value)})
                finished = True
            finally:  # Starlette cancels the stream when the client disconnects
                if not finished:
                    self.engine.cancel(queued)

        return StreamingResponse(pieces(), media_type=_SSE,
                                 headers={"Cache-Control": "no-cache"})


def _sse(event: dict[str, Any]) -> bytes:
    return b"data: " + dumps(event) + b"\n\n"


def starlette_app(engine: TextEngine, *, token: str | None = None,
                  open_metrics: bool = False) -> Any:
    """The ASGI app of a served language model (as :func:`.app.starlette_app`)."""
    from starlette.applications import Starlette

    handler = GenerateHandler(engine, token=token, open_metrics=open_metrics)  # type: ignore
    starlette = Starlette(lifespan=lifespan(engine))  # type: ignore[arg-type]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            response = await handler(Request(scope, receive))
            await response(scope, receive, send)
        else:
            await starlette(scope, receive, send)

    app.handler = handler  # type: ignore[attr-defined]
    return app
