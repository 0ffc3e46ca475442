"""Calling a server: one inference, and a load test at several concurrencies.

Plain ``http.client`` with keep-alive connections and the Open Inference Protocol's binary
tensors (the codec the server itself uses), so nothing here needs tritonclient.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import numpy as np

from onnxkit.base import integer, percentile
from onnxkit.bundled.serving.protocol import HEADER_LENGTH, decode_response, encode_request
from onnxkit.errors import InputError, ParameterError, ServeError
from onnxkit.results import Result, html_table

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go


def infer(url: str, model: str, feeds: dict[str, np.ndarray], *, binary: bool = True,
          timeout: float = 60.0, token: str | None = None) -> dict[str, np.ndarray]:
    """POST ``feeds`` to ``url``'s ``/v2/models/{model}/infer`` and return the outputs
    (``token``: sent as ``Authorization: Bearer <token>``).

    Raises:
        InputError: the server refused the input (4xx); the message is the server's.
        ServeError: the server failed (5xx) or could not be reached.
    """
    body, headers = encode_request(feeds, binary=binary)
    headers.update(auth_header(token))
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port,
                                            timeout=timeout)
    try:
        connection.request("POST", f"/v2/models/{model}/infer", body, headers)
        reply = connection.getresponse()
        content = reply.read()
    except OSError as e:
        raise ServeError(f"could not reach {url}: {e}") from e
    finally:
        connection.close()
    if reply.status >= 400:
        message = _error_text(content)
        if reply.status < 500:
            raise InputError(f"the server refused the request ({reply.status}): {message}")
        raise ServeError(f"the server failed ({reply.status}): {message}")
    return decode_response(content, reply.getheader(HEADER_LENGTH))


def auth_header(token: str | None) -> dict[str, str]:
    """The header that carries a bearer token (none without one)."""
    return {"Authorization": f"Bearer {token}"} if token else {}


def _error_text(content: bytes) -> str:
    import json

    try:
        return str(json.loads(content).get("error", content[:200]))
    except (ValueError, AttributeError):
        return content[:200].decode("utf-8", "replace")


@dataclass(frozen=True)
class LoadLevel(Result):
    """One concurrency of a :class:`LoadTest`: requests answered per second, and latencies."""

    clients: int
    requests: int
    errors: int
    seconds: float
    throughput: float  # requests per second
    p50_ms: float
    p90_ms: float
    p99_ms: float


@dataclass(frozen=True)
class LoadTest(Result):
    """Result of :func:`load_test`: one :class:`LoadLevel` per number of clients."""

    url: str
    model: str
    rows: int  # rows of each request
    levels: tuple[LoadLevel, ...]

    def table(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame([lvl.to_dict() for lvl in self.levels]).set_index("clients")

    def plot(self) -> go.Figure:
        """Throughput (bars) and p50/p90 latency (lines) against the number of clients."""
        import plotly.graph_objects as go

        x = [str(lvl.clients) for lvl in self.levels]
        fig = go.Figure([go.Bar(x=x, y=[lvl.throughput for lvl in self.levels],
                                name="requests/s", yaxis="y"),
                         go.Scatter(x=x, y=[lvl.p50_ms for lvl in self.levels], name="p50 ms",
                                    yaxis="y2", mode="lines+markers"),
                         go.Scatter(x=x, y=[lvl.p90_ms for lvl in self.levels], name="p90 ms",
                                    yaxis="y2", mode="lines+markers")])
        # Both axes start at 0 (counts and times have no negatives); the legend sits below the
        # plot, where the right axis's labels cannot run into it.
        fig.update_layout(title={"text": f"'{self.model}': load test<br><sup>{self.url}, "
                                 f"{self.rows} row(s) a request</sup>"},
                          xaxis_title="clients", legend={"orientation": "h", "y": -0.2},
                          yaxis={"title": "requests/s", "rangemode": "tozero"},
                          yaxis2={"title": "latency ms", "overlaying": "y", "side": "right",
                                  "rangemode": "tozero", "showgrid": False, "tickmode": "auto"})
        return fig

    def __repr__(self) -> str:
        lines = [f"LoadTest of '{self.model}' at {self.url} ({self.rows} row(s) a request)"]
        lines += [f"  {lvl.clients:>3} clients: {lvl.throughput:8.1f} req/s, p50 "
                  f"{lvl.p50_ms:.2f} ms, p90 {lvl.p90_ms:.2f} ms, {lvl.errors} error(s)"
                  for lvl in self.levels]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = [(lvl.clients, lvl.requests, f"{lvl.throughput:,.1f}", f"{lvl.p50_ms:.2f}",
                 f"{lvl.p90_ms:.2f}", f"{lvl.p99_ms:.2f}", lvl.errors) for lvl in self.levels]
        return html_table(("clients", "requests", "req/s", "p50 ms", "p90 ms", "p99 ms",
                           "errors"), rows, bad=[r[-1] > 0 for r in rows],
                          caption=f"load test of '{self.model}' at {self.url}")


def load_test(url: str, model: str, feeds: dict[str, np.ndarray], *,
              clients: Sequence[int] = (1, 8, 32), requests: int = 200,
              timeout: float = 60.0, token: str | None = None) -> LoadTest:
    """Send ``requests`` inferences of ``feeds`` from each number of concurrent ``clients``
    (threads with keep-alive connections, binary tensors) and time every answer
    (``token``: the server's bearer token)."""
    if isinstance(clients, int) or not clients:
        raise ParameterError(f"load_test(clients=...) must be a list such as [1, 8, 32]; got "
                             f"{clients!r}.")
    counts = [integer(c, "load_test", "clients", high=1024) for c in clients]
    integer(requests, "load_test", "requests", high=1_000_000)
    body, headers = encode_request(feeds)
    headers.update(auth_header(token))
    rows = max((len(v) for v in feeds.values() if np.ndim(v)), default=1)
    levels = tuple(_level(url, f"/v2/models/{model}/infer", body, headers, n, requests, timeout)
                   for n in counts)
    return LoadTest(url, model, rows, levels)


def _level(url: str, path: str, body: bytes, headers: dict[str, str], clients: int,
           requests: int, timeout: float) -> LoadLevel:
    parts = urlsplit(url)
    latencies: list[float] = []
    errors = [0]
    left = [requests]
    lock = threading.Lock()

    def client() -> None:
        connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port,
                                                timeout=timeout)
        try:
            while True:
                with lock:
                    if left[0] <= 0:
                        return
                    left[0] -= 1
                start = time.perf_counter()
                try:
                    connection.request("POST", path, body, headers)
                    reply = connection.getresponse()
                    reply.read()
                    ok = reply.status == 200
                except OSError:
                    ok = False
                    connection.close()
                with lock:
                    latencies.append((time.perf_counter() - start) * 1e3)
                    errors[0] += not ok
        finally:
            connection.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    p50, p90, p99 = (percentile(latencies, q) for q in (50, 90, 99))
    return LoadLevel(clients, len(latencies), errors[0], seconds, len(latencies) / seconds,
                     p50, p90, p99)
