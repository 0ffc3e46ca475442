"""A loopback HTTP server for Netron's web app and exactly one model's files.

Why not ``netron.serve``: it keeps the served content in a class attribute shared by every
server in the process (a second model replaces the first in all open views), and it serves
any file in the model's folder. Here each server has its own handler class, binds
127.0.0.1 only, answers under a random path prefix (other users of the machine and DNS
rebinding pages cannot guess it), and serves only Netron's own page and scripts plus the
model file and its external data files.
"""

from __future__ import annotations

import atexit
import errno
import html
import http.server
import logging
import os
import re
import secrets
import shutil
import socketserver
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from onnxkit.base import require
from onnxkit.errors import ParameterError

log = logging.getLogger("onnxkit.view")

HOST = "127.0.0.1"  # loopback only, never configurable: a model is not for the network
_MIME = {".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css",
         ".json": "application/json", ".png": "image/png", ".ico": "image/x-icon"}
_VERSION_META = re.compile(r'<meta name="version" content="[^"]*">')
_DATE_META = re.compile(r'<meta name="date" content="[^"]*">\n?')
# Netron's page asks for cookie consent when it finds no "consent" cookie (and a cookie set from a
# cross-site IFrame may never reach it), so the page sees one: nothing here is reported anywhere.
# A script file of the server's own, since the page's Content-Security-Policy runs no inline one.
_SCRIPTS = {"onnxkit-no-consent-prompt.js": b'Object.defineProperty(document, "cookie", '
            b'{configurable: true, get: () => "consent=onnxkit", set: () => {}});\n'}
_POLL_S = 0.1  # how often the serving loop checks for a stop request

_live: dict[int, NetronServer] = {}
_live_lock = threading.Lock()


class NetronServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    """One model, served with Netron's web app at ``http://127.0.0.1:<port>/<token>/``."""

    daemon_threads = True  # a stuck browser request never blocks the interpreter's exit
    block_on_close = False

    def __init__(self, port: int, files: Mapping[str, Path], model_file: str, title: str):
        self.token = secrets.token_urlsafe(12)
        self.files = dict(files)  # URL name (unquoted) -> file; nothing else is readable
        self.app_dir, self.app_files, self.page = _netron_app(model_file, title)
        handler = type("NetronHandler", (_Handler,), {})  # per server: no shared state
        super().__init__((HOST, port), handler)
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": _POLL_S},
                                       name=f"onnxkit-netron-{self.port}", daemon=True)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name (a DNS lookup on some machines).
        socketserver.TCPServer.server_bind(self)  # sets server_address to the bound one
        self.server_name, self.server_port = HOST, self.port

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def running(self) -> bool:
        return self.thread.is_alive()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("netron server: request from %s failed", client_address, exc_info=True)


def start(files: Mapping[str, Path], model_file: str, title: str, port: int | None
          ) -> NetronServer:
    """Serve ``files`` (URL name -> path; ``model_file`` is the model) on 127.0.0.1."""
    try:
        server = NetronServer(port or 0, files, model_file, title)  # 0: the OS picks a free one
    except OSError as e:
        raise ParameterError(_bind_message(port, e)) from e
    with _live_lock:
        if not _live:
            atexit.register(stop_all)
        _live[id(server)] = server
    server.thread.start()
    return server


def stop(server: NetronServer) -> None:
    """Stop serving and free the port (idempotent)."""
    with _live_lock:
        _live.pop(id(server), None)
        if not _live:
            atexit.unregister(stop_all)
    if server.running:
        server.shutdown()  # returns once the serving loop has exited
        server.thread.join()
    server.server_close()


def stop_all() -> int:
    """Stop every server started here; returns how many were running."""
    with _live_lock:
        servers = list(_live.values())
    for server in servers:
        stop(server)
    return len(servers)


def _bind_message(port: int | None, e: OSError) -> str:
    if port is None:
        return f"view(): cannot open a port on {HOST}: {e}."
    if e.errno == errno.EADDRINUSE:
        why = "is already in use (by another view or another program)"
    elif e.errno == errno.EACCES:
        why = "needs privileges to open (ports below 1024 usually do)"
    else:
        why = f"cannot be opened ({e})"
    return (f"view(port=...) must be a free port on {HOST}; port {port} {why}. Pass another "
            "port, or port=None to let the system pick a free one.")


def _netron_app(model_file: str, title: str) -> tuple[Path, frozenset[str], bytes]:
    """Netron's folder, its servable file names, and its page set up to open the model."""
    netron = require("netron", purpose="view() (the Netron graph viewer)")
    folder = Path(str(netron.__file__)).parent
    names = frozenset(p.name for p in folder.iterdir() if p.suffix in _MIME and p.is_file())
    page = (folder / "index.html").read_text(encoding="utf-8")
    # What Netron's own Python server tells its page (see netron/server.py): the model's URL
    # (the page resolves it against its own folder, so a proxy prefix works), a title, and the
    # file name Netron detects the format from. Version 0.0.0 is Netron's "not packaged": no
    # telemetry (which would send the page's URL, token included). No build date: 180 days
    # after it the page shows nothing but "Please update to the newest version".
    meta = "\n".join(f'<meta name="{k}" content="{html.escape(v, quote=True)}">' for k, v in (
        ("type", "Python"), ("version", "0.0.0"),
        ("file", "/data/" + quote(model_file, safe="")), ("name", title),
        ("identifier", model_file)))
    page = _DATE_META.sub("", page)
    if _VERSION_META.search(page):
        page = _VERSION_META.sub(lambda _: meta, page, count=1)
    else:
        page = page.replace("</head>", meta + "\n</head>", 1)
    shims = "".join(f'<script type="text/javascript" src="{name}"></script>\n' for name in _SCRIPTS)
    page = page.replace("<script", shims + "<script", 1)  # before Netron's own
    return folder, names, page.encode("utf-8")


class _Handler(http.server.BaseHTTPRequestHandler):
    server: NetronServer

    def do_GET(self) -> None:
        self._respond(body=True)

    def do_HEAD(self) -> None:
        self._respond(body=False)

    def _respond(self, *, body: bool) -> None:
        path = urlsplit(self.path).path
        prefix = f"/{self.server.token}/"
        if path == prefix[:-1]:
            self._redirect(f"{self.server.token}/")  # relative: a proxy's prefix stays
            return
        if not path.startswith(prefix):
            self._send(404, "text/plain", b"not found", body=body)
            return
        name = unquote(path[len(prefix):])
        if name in ("", "index.html"):
            self._send(200, _MIME[".html"], self.server.page, body=body)
        elif name.startswith("data/") and name[len("data/"):] in self.server.files:
            self._send_file(self.server.files[name[len("data/"):]], body=body)
        elif name in _SCRIPTS:
            self._send(200, _MIME[".js"], _SCRIPTS[name], body=body)
        elif name in self.server.app_files:
            content = (self.server.app_dir / name).read_bytes()
            self._send(200, _MIME[Path(name).suffix], content, body=body)
        else:
            self._send(404, "text/plain", b"not found", body=body)

    def _headers(self, status: int, content_type: str, length: int) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")  # keeps the token off other sites
        self.end_headers()

    def _send(self, status: int, content_type: str, content: bytes, *, body: bool) -> None:
        self._headers(status, content_type, len(content))
        if body:
            self.wfile.write(content)

    def _send_file(self, path: Path, *, body: bool) -> None:
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed below
        except OSError:
            self._send(404, "text/plain", b"the model file is gone", body=body)
            return
        with f:  # streamed: a multi-GB weights file is never held in memory
            self._headers(200, "application/octet-stream", os.fstat(f.fileno()).st_size)
            if body:
                shutil.copyfileobj(f, self.wfile)

    def _redirect(self, location: str) -> None:
        self.send_response(301)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        log.debug("netron server: " + format, *args)
