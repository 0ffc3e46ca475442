"""``view``: look at a model's graph in Netron (a loopback server) or inline (no server at all).

Netron runs on 127.0.0.1 only. When the notebook server is remote, the browser cannot reach
the kernel's loopback, but ``jupyter-server-proxy`` can (``pip install jupyter-server-proxy`` in
the Jupyter server's environment, then restart the server): it forwards
``<base URL>proxy/<port>/...`` to ``127.0.0.1:<port>`` behind Jupyter's own login. :func:`view`
builds that URL when ``proxy`` asks for it, or by itself on JupyterHub (which sets
``JUPYTERHUB_SERVICE_PREFIX``) or when ``ONNXKIT_VIEW_PROXY`` holds the server's base URL (``/``
for a plain remote Jupyter server). Over an SSH tunnel instead, pick the port
(``view(model, port=8081)`` with ``ssh -L 8081:127.0.0.1:8081 host``) and open ``local_url``.
"""

from __future__ import annotations

import html
import importlib.util
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

from onnxkit._view import _netron
from onnxkit._view._graph import GraphView, graph_view
from onnxkit.base import integer
from onnxkit.errors import ParameterError
from onnxkit.models import Model, ModelLike, load
from onnxkit.results import Result

if TYPE_CHECKING:
    from types import TracebackType

Backend = Literal["netron", "inline"]
DEFAULT_HEIGHT = 600  # px of the Netron IFrame
PROXY_ENV = "ONNXKIT_VIEW_PROXY"  # base URL of a remote Jupyter server with jupyter-server-proxy


class NetronView(Result):
    """A model served to Netron's web app on 127.0.0.1; a notebook shows it in an IFrame.

    ``url`` is what the browser opens (proxied through Jupyter when the server is remote),
    ``local_url`` the address on this machine. ``stop()`` ends the server and frees the port;
    servers still running stop when the interpreter exits. Use it as a context manager to stop
    it at the end of a block.
    """

    HEIGHT = DEFAULT_HEIGHT  # px of the IFrame by default
    stop_hint = "<code>.stop()</code> ends it"  # a panel names its button instead

    def __init__(self, model: Model, server: _netron.NetronServer, url: str, height: int):
        self.model = model
        self.height = height
        self.url = url
        self._server = server

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def local_url(self) -> str:
        return f"http://{_netron.HOST}:{self.port}/{self._server.token}/"

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) the server's socket is bound to."""
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def running(self) -> bool:
        return self._server.running

    def to_dict(self) -> dict[str, Any]:
        return {"model": str(self.model.path), "url": self.url, "local_url": self.local_url,
                "port": self.port, "running": self.running, "height": self.height}

    def stop(self) -> None:
        """Stop serving and free the port (calling it again does nothing)."""
        _netron.stop(self._server)

    def __enter__(self) -> NetronView:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"NetronView '{self.model.name}' at {self.url} ({state})"

    def _repr_html_(self) -> str:
        name = html.escape(self.model.name)
        if not self.running:
            return f"<div>Netron view of '{name}' (stopped).</div>"
        url = html.escape(self.url, quote=True)
        return (
            f"<iframe src='{url}' width='100%' height='{self.height}' "
            "style='border:1px solid #ddd'></iframe>"
            f"<div style='font-size:12px'>Netron view of '{name}', served on "
            f"{_netron.HOST} only: <a href='{url}' target='_blank'>open in a new tab</a>. "
            f"It lasts while this kernel runs ({self.stop_hint}); for a picture "
            "that stays in the saved notebook use <code>view(model, backend='inline')</code>."
            "</div>")


@overload
def view(model: ModelLike, *, backend: Literal["netron"] | None = None, height: int | None = None,
         port: int | None = None, proxy: bool | str | None = None, max_nodes: None = None
         ) -> NetronView: ...


@overload
def view(model: ModelLike, *, backend: Literal["inline"], height: int | None = None,
         port: None = None, proxy: None = None, max_nodes: int | None = None) -> GraphView: ...


def view(model: ModelLike, *, backend: Backend | None = None, height: int | None = None,
         port: int | None = None, proxy: bool | str | None = None,
         max_nodes: int | None = None) -> NetronView | GraphView:
    """Show a model's graph: Netron in an IFrame, or an inline plotly drawing.

    Args:
        model: anything :func:`onnxkit.load` accepts.
        backend: ``"netron"`` (default): serve the model to Netron's web app on 127.0.0.1 in
            the background and return a :class:`NetronView`. ``"inline"``: lay the graph out
            here and return a :class:`GraphView`, which needs no server and stays visible in
            a saved notebook.
        height: pixels (default 600 for Netron, from the graph's depth for inline).
        port: Netron only: the port to serve on (default: a free one). A port in use is an
            error, not silently replaced, since a tunnel or proxy may point at it.
        proxy: Netron only: build a ``jupyter-server-proxy`` URL. ``None`` (default): when
            ``$ONNXKIT_VIEW_PROXY`` is set, or on JupyterHub with jupyter-server-proxy
            installed. ``True``: always (base URL from those variables, else ``/``).
            ``False``: never. A string: the Jupyter server's base URL (``"/user/me/"``).
        max_nodes: inline only: draw at most this many boxes (default 400); larger graphs
            are collapsed, and the view says how.

    Returns:
        A :class:`NetronView` (``url``, ``stop()``) or a :class:`GraphView` (``plot()``).

    Raises:
        InvalidModelError: the file is not an ONNX model Netron could open.
        ParameterError: an option outside what it accepts, or ``port`` is in use.

    Examples:
        >>> import onnxkit, urllib.request
        >>> with onnxkit.view(onnxkit.samples.tiny_model()) as v:
        ...     page = urllib.request.urlopen(v.local_url).read()
        ...     print(v.address[0], b"netron" in page.lower())
        127.0.0.1 True
        >>> v.running
        False
        >>> onnxkit.view(onnxkit.samples.tiny_model(), backend="inline").shown
        3
    """
    if backend not in (None, "netron", "inline"):
        raise ParameterError(f"view(backend=...) must be 'netron', 'inline' or None; got "
                             f"{backend!r}.")
    _check_int("height", height, 50, 100_000)
    if backend == "inline":
        for option, value in (("port", port), ("proxy", proxy)):
            if value is not None:
                raise ParameterError(f"view({option}=...) applies to the Netron backend; got "
                                     f"{option}={value!r} with backend='inline'. Leave it out.")

        return graph_view(model, max_nodes=max_nodes, height=height)
    if max_nodes is not None:
        raise ParameterError(f"view(max_nodes=...) applies to backend='inline'; got "
                             f"max_nodes={max_nodes!r} for Netron, which draws every node.")
    _check_int("port", port, 1, 65535)
    base = _proxy_base(proxy)
    handle = load(model)  # a file Netron cannot read fails here, before any server starts
    files = model_files(handle)
    server = _netron.start(files, next(iter(files)), handle.path.name, port)
    url = (f"http://{_netron.HOST}:{server.port}/{server.token}/" if base is None
           else f"{base}proxy/{server.port}/{server.token}/")
    return NetronView(handle, server, url, height or DEFAULT_HEIGHT)


def stop_views() -> int:
    """Stop every Netron view still running; returns how many there were."""
    return _netron.stop_all()


def _check_int(option: str, value: object, low: int, high: int) -> None:
    if value is not None:
        integer(value, "view", option, low=low, high=high, fix="pass None for the default")


def _proxy_base(proxy: bool | str | None) -> str | None:
    """The Jupyter server's base URL to proxy through, or None for a direct loopback URL."""
    configured = os.environ.get(PROXY_ENV) or (
        os.environ.get("JUPYTERHUB_SERVICE_PREFIX") if _server_proxy_installed() else None)
    if proxy is None:
        base = configured
    elif proxy is True:
        base = configured or os.environ.get("JUPYTERHUB_SERVICE_PREFIX") or "/"
    elif proxy is False:
        base = None
    elif isinstance(proxy, str) and proxy.strip():
        base = proxy.strip()
    else:
        raise ParameterError(f"view(proxy=...) must be True, False, None or the Jupyter "
                             f"server's base URL (like '/user/me/'); got {proxy!r}.")
    if base is None:
        return None
    if not base.startswith(("/", "http://", "https://")):
        base = "/" + base
    return base if base.endswith("/") else base + "/"


def _server_proxy_installed() -> bool:
    # Only a hint: the Jupyter server may run in another environment than this kernel.
    return importlib.util.find_spec("jupyter_server_proxy") is not None


def model_files(model: Model) -> dict[str, Path]:
    """What a view of ``model`` may serve, by URL name: the model first, then its external
    data files. Netron opens a model only from a URL ending in ``.onnx``."""
    name = model.path.name if model.path.name.endswith(".onnx") else model.path.name + ".onnx"
    folder = model.path.parent
    return {name: model.path, **{f.location: folder / f.location for f in model.external_data}}
