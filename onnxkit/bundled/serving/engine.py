"""One served model: its session behind the dynamic batcher, the bundle's input checks and
post-processing, its protocol metadata. HTTP (:mod:`.app`) and gRPC (:mod:`.grpc_server`)
both answer through an :class:`Engine`; it needs nothing but numpy.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .batching import Batcher
from .metrics import Metrics
from .protocol import RequestError, datatype_of, tensor_metadata

SERVER = "onnxkit"
EXTENSIONS = ["binary_tensor_data", "model_repository"]  # Triton's protocol extensions
_PATH = re.compile(r"(?:[A-Za-z]:)?(?:[/\\][\w.\-]+){2,}")  # file paths, kept out of replies
_KNOWN_SIGNATURES = 1024  # input signatures whose checks passed, remembered (bounded)


def check_model(served: str, served_version: str, name: str, version: str | None) -> None:
    """A 404 unless a request's model (and version) is the one served."""
    if name != served:
        raise RequestError(f"unknown model '{name[:100]}'; this server serves '{served}'", 404)
    if version not in (None, "", served_version):
        raise RequestError(f"unknown version '{version[:20]}' of '{served}'; this server has "
                           f"version {served_version}", 404)


class Engine:
    """One model behind a dynamic batcher, with the bundle's input checks and post-processing.

    ``validate(data, manifest, from_json)`` and ``postprocess(outputs, manifest)`` are the
    bundle's own (``predict.py``); ``client_error`` is the exception class they raise for
    input the client must fix. Batching follows Triton's dynamic batcher (see
    :mod:`.batching`): ``max_queue_delay_ms`` 0 never waits for company.
    """

    def __init__(self, *, session: Any, manifest: dict[str, Any], validate: Callable[..., Any],
                 postprocess: Callable[..., Any], client_error: type[Exception],
                 max_batch: int = 32, max_queue_delay_ms: float = 0.0,
                 preferred_batch_sizes: Sequence[int] = (), workers: int = 1,
                 max_queue_size: int | None = 1024, timeout_ms: float | None = None,
                 allow_nonfinite: bool = False, max_body_bytes: int = 32 << 20):
        self.manifest, self.session = manifest, session
        self.name = manifest["model"]["name"]
        self.version = "1"
        self._validate, self.postprocess, self._client_error = validate, postprocess, \
            client_error
        self.allow_nonfinite, self.max_body_bytes = allow_nonfinite, max_body_bytes
        self.output_names = [o["name"] for o in manifest["outputs"]]
        self.metrics = Metrics(self.name)
        why_not = _unbatchable(manifest)
        self.batcher = Batcher(self._run, max_batch=1 if why_not else max_batch,
                               max_queue_delay_s=max_queue_delay_ms / 1e3,
                               preferred=preferred_batch_sizes, instances=workers,
                               max_queue_size=max_queue_size,
                               timeout_s=None if timeout_ms is None else timeout_ms / 1e3,
                               on_batch=self.metrics.batch)
        self.batcher.note = why_not or ""
        self._checked: set[tuple[Any, ...]] = set()
        self.ready = True

    def metadata(self) -> dict[str, Any]:
        return {"name": self.name, "versions": [self.version], "platform": "onnxruntime_onnx",
                "inputs": [tensor_metadata(i) for i in self.manifest["inputs"]],
                "outputs": [tensor_metadata(o) for o in self.manifest["outputs"]]}

    def model(self, name: str, version: str | None = None) -> Engine:
        """This engine, if it is the model (and version) a request names; else a 404."""
        check_model(self.name, self.version, name, version)
        return self

    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(self.output_names, self.session.run(self.output_names, feeds)))

    def check(self, arrays: dict[str, np.ndarray], *, from_json: bool) -> dict[str, np.ndarray]:
        """The bundle's checks (names, dtypes, ranks, fixed dims), then no empty batch and,
        unless allowed, no NaN or infinity in float inputs."""
        key = None if from_json else \
            tuple((k, v.dtype.str, v.shape) for k, v in arrays.items())
        if key is None or key not in self._checked:  # the checks depend on the signature only
            feeds = self._checked_feeds(arrays, from_json)
            if key is not None and all(feeds[k] is arrays[k] for k in feeds) and \
                    len(self._checked) < _KNOWN_SIGNATURES:
                self._checked.add(key)
        else:
            feeds = arrays
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

    def _checked_feeds(self, arrays: dict[str, np.ndarray], from_json: bool
                       ) -> dict[str, np.ndarray]:
        if not from_json:
            self._check_datatypes(arrays)
        try:
            return self._validate(arrays, self.manifest, from_json)
        except self._client_error as e:
            raise RequestError(str(e)) from None

    def _check_datatypes(self, arrays: dict[str, np.ndarray]) -> None:
        for spec in self.manifest["inputs"]:
            value = arrays.get(spec["name"])
            if value is None:
                continue
            want = datatype_of(spec["dtype"])
            got = datatype_of(value.dtype)
            if got != want:
                raise RequestError(f"input '{spec['name']}' is {want}; the request sends "
                                   f"{got}")

    async def infer(self, feeds: dict[str, np.ndarray], timeout_s: float | None = None
                    ) -> dict[str, np.ndarray]:
        rows = max((len(v) for v in feeds.values() if v.ndim), default=1)
        try:
            return await self.batcher.submit(feeds, rows, timeout_s)
        except RequestError:
            raise
        except Exception as e:
            self.metrics.model_error()
            raise RequestError(f"the model failed on this input: {clean(e)}", 500) from None

    async def stop(self) -> None:
        self.ready = False
        await self.batcher.stop()


def _unbatchable(manifest: dict[str, Any]) -> str | None:
    """Why requests cannot be stacked: a tensor without a dynamic first (batch) axis."""
    for kind in ("inputs", "outputs"):
        for spec in manifest[kind]:
            shape = spec.get("shape")
            if not shape or isinstance(shape[0], int):
                return (f"{kind[:-1]} '{spec['name']}' has no dynamic batch axis (shape "
                        f"{shape}): requests are run one at a time")
    return None


def clean(error: BaseException) -> str:
    """An error's message, one line, without file paths."""
    message = " ".join(str(error).split())
    return f"{type(error).__name__}: {_PATH.sub('<path>', message)[:400]}"
