"""The Open Inference Protocol's gRPC service (``inference.GRPCInferenceService``, the one
tritonclient.grpc and KServe clients call) next to HTTP, on the same event loop, through the
same :class:`~.engine.Engine`: the same batcher, checks, token and error rules (a 400 is
``INVALID_ARGUMENT``, a 404 ``NOT_FOUND``, a 401 ``UNAUTHENTICATED``, a 503 ``UNAVAILABLE``).

Needs grpcio and protobuf (imported on use: a bundle serves HTTP without them). Tensors come
as ``raw_input_contents`` (tritonclient's way) or typed ``contents``; outputs go back raw.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .auth import TokenCheck
from .engine import EXTENSIONS, SERVER, Engine, clean
from .grpc_schema import METHODS, SERVICE, messages
from .protocol import (
    DATATYPES,
    RequestError,
    ServerError,
    array_from_bytes,
    array_to_bytes,
    datatype_of,
    tensor_header,
    texts,
)

PUBLIC = {"ServerLive", "ServerReady"}  # health probes: open without a token
# typed contents field per datatype (FP16 has none: raw only)
CONTENTS = {"BOOL": "bool_contents", "INT8": "int_contents", "INT16": "int_contents",
            "INT32": "int_contents", "INT64": "int64_contents", "UINT8": "uint_contents",
            "UINT16": "uint_contents", "UINT32": "uint_contents", "UINT64": "uint64_contents",
            "FP32": "fp32_contents", "FP64": "fp64_contents", "BYTES": "bytes_contents"}
_CODES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 404: "NOT_FOUND",
          405: "UNIMPLEMENTED", 413: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE"}


class Service:
    """The RPCs, each ``async (request message, context) -> response message``."""

    def __init__(self, engine: Engine, token: str | None):
        self.engine, self.auth, self.m = engine, TokenCheck(token), messages()

    def handlers(self) -> dict[str, Callable[..., Any]]:
        return {name: self._guarded(name) for name in METHODS}

    def _guarded(self, name: str) -> Callable[..., Any]:
        import grpc

        async def call(request: Any, context: Any) -> Any:
            response, code, message = await self.answer(name, request, context)
            if code is None:
                return response
            await context.abort(getattr(grpc.StatusCode, code), message)
        return call

    async def answer(self, name: str, request: Any, context: Any) -> tuple[Any, str | None, str]:
        """Answer the RPC ``name`` under the service's rules (the token unless ``PUBLIC``,
        the protocol's status codes, a metric per call): ``(response, None, "")``, or
        ``(None, code name, message)``. ``request`` is its message, or the message's bytes
        (checked against the engine's ``max_body_bytes``); ``context`` gives
        ``invocation_metadata()``."""
        status = 200
        try:
            if name not in PUBLIC:
                self.auth.check(_metadata(context).get("authorization"))
            if isinstance(request, bytes):
                request = self._parse(name, request)
            return await getattr(self, name)(request), None, ""
        except RequestError as e:
            status, code, message = e.status, _CODES.get(e.status, "INTERNAL"), str(e)
        except Exception as e:  # a bug here must not take the server down
            status, code, message = 500, "INTERNAL", f"internal error: {clean(e)}"
        finally:
            self.engine.metrics.request(f"grpc_{name}", status)
        return None, code, message

    async def unary(self, name: str, data: bytes, context: Any) -> Any:
        """Answer the RPC ``name`` from its serialized request, as a server that passes the
        bytes on (Ray Serve's gRPC proxy) calls it: the response message; on an error, the
        code and details set on ``context`` (``set_code``, ``set_details``, as a
        ``grpc.ServicerContext`` or Ray Serve's ``RayServegRPCContext``) and an empty
        response, which the client never sees."""
        import grpc

        response, code, message = await self.answer(name, data, context)
        if code is None:
            return response
        context.set_code(getattr(grpc.StatusCode, code))
        context.set_details(message)
        return self.m[METHODS[name][1]]()

    def _parse(self, name: str, data: bytes) -> Any:
        limit = self.engine.max_body_bytes
        if len(data) > limit:
            raise RequestError(f"the request has {len(data)} bytes, over the server's limit "
                               f"of {limit}; send fewer rows per request", 413)
        try:
            return self.m[METHODS[name][0]].FromString(data)
        except Exception as e:  # protobuf's DecodeError
            raise RequestError(f"the request is not an inference.{METHODS[name][0]} "
                               f"message ({clean(e)})") from None

    async def ServerLive(self, request: Any) -> Any:
        return self.m["ServerLiveResponse"](live=True)

    async def ServerReady(self, request: Any) -> Any:
        return self.m["ServerReadyResponse"](ready=self.engine.ready)

    async def ModelReady(self, request: Any) -> Any:
        self.engine.model(request.name, request.version)
        return self.m["ModelReadyResponse"](ready=self.engine.ready)

    async def ServerMetadata(self, request: Any) -> Any:
        version = self.engine.manifest.get("versions", {}).get("onnxkit", "unknown")
        return self.m["ServerMetadataResponse"](name=SERVER, version=version,
                                                extensions=EXTENSIONS)

    async def ModelMetadata(self, request: Any) -> Any:
        meta = self.engine.model(request.name, request.version).metadata()
        response = self.m["ModelMetadataResponse"](
            name=meta["name"], versions=meta["versions"], platform=meta["platform"])
        # add(): a nested message class is not an attribute of its parent in every protobuf
        # implementation (Ray Serve's replicas had none: AttributeError 'TensorMetadata')
        for field, tensors in (("inputs", meta["inputs"]), ("outputs", meta["outputs"])):
            for tensor in tensors:
                getattr(response, field).add(**tensor)
        return response

    async def ModelInfer(self, request: Any) -> Any:
        engine = self.engine.model(request.model_name, request.model_version)
        feeds = engine.check(_inputs(request), from_json=False)
        wanted = [o.name for o in request.outputs] or engine.output_names
        unknown = [n for n in wanted if n not in engine.output_names]
        if unknown:
            raise RequestError(f"unknown output(s) {unknown}; the model's outputs are "
                               f"{engine.output_names}")
        timeout = request.parameters["timeout"].int64_param \
            if "timeout" in request.parameters else 0
        outputs = await engine.infer(feeds, timeout / 1e6 if timeout > 0 else None)
        response = self.m["ModelInferResponse"](model_name=engine.name,
                                                model_version=engine.version, id=request.id)
        for name in wanted:
            value = np.asarray(outputs[name])
            response.outputs.add(name=name, datatype=datatype_of(value.dtype),
                                 shape=list(value.shape))
            response.raw_output_contents.append(array_to_bytes(value))
        return response


def _inputs(request: Any) -> dict[str, np.ndarray]:
    if not request.inputs:
        raise RequestError("the request has no inputs; send each model input as a tensor")
    raw = request.raw_input_contents
    if raw and len(raw) != len(request.inputs):
        raise RequestError(f"raw_input_contents has {len(raw)} entries for "
                           f"{len(request.inputs)} inputs; send one per input, in order")
    arrays: dict[str, np.ndarray] = {}
    for i, tensor in enumerate(request.inputs):
        name, shape, datatype = tensor_header({"name": tensor.name, "shape": list(tensor.shape),
                                               "datatype": tensor.datatype})
        if name in arrays:
            raise RequestError(f"input '{name}' is given twice")
        arrays[name] = array_from_bytes(raw[i], datatype, shape, name) if raw else \
            _from_contents(tensor, datatype, shape, name)
    return arrays


def _from_contents(tensor: Any, datatype: str, shape: list[int], name: str) -> np.ndarray:
    field = CONTENTS.get(datatype)
    if field is None:
        raise RequestError(f"input '{name}' is {datatype}: send it in raw_input_contents")
    values = getattr(tensor.contents, field)
    array = texts(list(values), name) if datatype == "BYTES" else \
        np.array(list(values), dtype=DATATYPES[datatype])
    if array.size != math.prod(shape):
        raise RequestError(f"input '{name}': shape {shape} holds {math.prod(shape)} values; "
                           f"contents.{field} has {array.size}")
    return array.reshape(shape)


def _metadata(context: Any) -> dict[str, str]:
    return {key.lower(): value for key, value in (context.invocation_metadata() or ())}


def add_GRPCInferenceServiceServicer_to_server(servicer: Any, server: Any) -> None:
    """Register ``servicer``'s RPCs (methods named as :data:`METHODS`) on ``server``, as
    the ``_pb2_grpc`` module protoc would write does, with the requests left as bytes
    (for :meth:`Service.unary`) and the responses serialized. Ray Serve's gRPC proxy imports
    it by name (``grpc_servicer_functions``) and routes each RPC to a replica's method of the
    same name."""
    import grpc

    handlers = {name: grpc.unary_unary_rpc_method_handler(
        getattr(servicer, name), request_deserializer=None,
        response_serializer=lambda message: message.SerializeToString()) for name in METHODS}
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))


async def start(engine: Engine, host: str, port: int, *, token: str | None = None) -> Any:
    """A started ``grpc.aio`` server for the engine on ``host:port`` (0: a free port; the
    bound one is ``server.onnxkit_port``), on the running event loop."""
    import grpc

    service = Service(engine, token)
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(
            rpc, request_deserializer=service.m[METHODS[name][0]].FromString,
            response_serializer=service.m[METHODS[name][1]].SerializeToString)
        for name, rpc in service.handlers().items()}
    limit = engine.max_body_bytes
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", limit),
                                      ("grpc.max_send_message_length", -1)])
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    bound = server.add_insecure_port(address)
    if not bound:
        raise ServerError(f"gRPC could not listen on {address} (is the port taken?)")
    await server.start()
    server.onnxkit_port = bound
    return server
