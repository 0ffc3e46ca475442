"""view(): Netron served on 127.0.0.1 only, one model per server, nothing else readable."""

from __future__ import annotations

import errno
import html
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from urllib.parse import quote

import psutil
import pytest
from graphs import external_model, relu_model, save

from onnxkit import GraphView, NetronView, stop_views, view
from onnxkit._view import _netron, _server
from onnxkit.errors import InvalidModelError, ParameterError


def fetch(url: str, method: str = "GET") -> tuple[int, bytes]:
    assert url.startswith("http://127.0.0.1:")  # the tests only ever talk to loopback
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def listening_ips(port: int) -> set[str]:
    return {c.laddr.ip for c in psutil.Process().net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN and c.laddr.port == port}


@pytest.fixture(autouse=True)
def no_server_left():
    yield
    assert stop_views() == 0, "a test left a Netron server running"


def test_serves_netron_and_the_model_on_loopback_only(tiny):
    v = view(tiny)
    try:
        assert isinstance(v, NetronView) and v.running
        assert v.address == ("127.0.0.1", v.port)
        assert listening_ips(v.port) == {"127.0.0.1"}
        assert v.url == v.local_url == f"http://127.0.0.1:{v.port}/{v._server.token}/"
        status, page = fetch(v.url)
        assert status == 200 and b"<title>Netron</title>" in page
        assert b'<meta name="file" content="/data/tiny.onnx">' in page
        assert fetch(v.url + "index.js")[0] == 200  # Netron's own scripts
        assert fetch(v.url + "data/tiny.onnx") == (200, tiny.path.read_bytes())
        assert fetch(v.url + "data/tiny.onnx", method="HEAD") == (200, b"")
        assert fetch(v.url[:-1])[0] == 200  # /<token> redirects to /<token>/
        assert "<iframe src='http://127.0.0.1:" in v._repr_html_() and "running" in repr(v)
    finally:
        v.stop()
    assert not v.running and "stopped" in repr(v) and "stopped" in v._repr_html_()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", v.port), timeout=5).close()
    v.stop()  # stopping twice is harmless
    with view(tiny, port=v.port) as again:  # the port is free again
        assert fetch(again.url)[0] == 200


def test_the_page_opens_on_the_graph_and_reports_nothing(tiny):
    """No consent prompt, no telemetry (version 0.0.0), no "update" nag when the build ages."""
    with view(tiny) as v:
        page = fetch(v.url)[1].decode()
        shim = fetch(v.url + "onnxkit-no-consent-prompt.js")
    assert '<meta name="version" content="0.0.0">' in page
    assert '<meta name="date"' not in page
    # a script file (the page's CSP runs no inline one), loaded before Netron's reads cookies
    assert page.index('src="onnxkit-no-consent-prompt.js"') < page.index('src="index.js"')
    assert shim[0] == 200 and b'get: () => "consent=onnxkit"' in shim[1]


def test_not_reachable_from_other_interfaces(tiny):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:  # the address other machines would use (no packet is sent)
            probe.connect(("10.254.254.254", 1))
            lan_ip = probe.getsockname()[0]
        except OSError:
            lan_ip = "127.0.0.1"
    if lan_ip.startswith("127."):
        pytest.skip("this machine has no non-loopback interface")
    with view(tiny) as v, pytest.raises(ConnectionRefusedError):
        socket.create_connection((lan_ip, v.port), timeout=5).close()


def test_nothing_but_the_model_is_served(tmp_path):
    path = save(relu_model(), tmp_path / "model.onnx")
    (tmp_path / "secret.txt").write_text("private")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "other.onnx").write_bytes(path.read_bytes())
    with view(path) as v:
        root = f"http://127.0.0.1:{v.port}/"
        for url in [v.url + "data/secret.txt", v.url + "data/../secret.txt",
                    v.url + "data/%2e%2e/secret.txt", v.url + "data/sub/other.onnx",
                    v.url + "data/model.onnx.onnxkit.json", v.url + "server.py",
                    v.url + "__init__.py", v.url + "../index.html", v.url + "data/",
                    root, root + "index.html", root + "data/model.onnx",
                    root + "wrongtoken12345/data/model.onnx"]:
            assert fetch(url)[0] == 404, url
        assert fetch(v.url + "data/model.onnx")[1] == path.read_bytes()


def test_path_with_spaces_and_odd_characters(tmp_path):
    folder = tmp_path / "my models (v2) & co"
    folder.mkdir()
    name = "odd name #1 ü'%\"<b>.onnx"
    path = save(relu_model(), folder / name)
    with view(path) as v:
        page = fetch(v.url)[1].decode()
        assert f'<meta name="file" content="/data/{quote(name, safe="")}">' in page
        assert f'<meta name="name" content="{html.escape(name, quote=True)}">' in page
        assert fetch(v.url + "data/" + quote(name, safe=""))[1] == path.read_bytes()


def test_a_model_named_without_onnx_is_served_as_onnx(tmp_path):
    # Netron's page only opens a model whose URL ends in .onnx.
    path = save(relu_model(), tmp_path / "model.bin")
    with view(path) as v:
        assert b'<meta name="file" content="/data/model.bin.onnx">' in fetch(v.url)[1]
        assert fetch(v.url + "data/model.bin.onnx")[1] == path.read_bytes()
        assert fetch(v.url + "data/model.bin")[0] == 404


def test_external_data_files_are_served(tmp_path):
    path = external_model(tmp_path)
    with view(path) as v:
        assert fetch(v.url + "data/weights.bin")[1] == (tmp_path / "weights.bin").read_bytes()
        assert fetch(v.url + "data/ext.onnx")[1] == path.read_bytes()


def test_several_models_at_once(tiny, digits):
    # netron.serve keeps one model for all its servers; each view here has its own.
    a, b = view(tiny), view(digits.model)
    try:
        assert a.port != b.port
        assert fetch(a.url + "data/tiny.onnx")[1] == tiny.path.read_bytes()
        assert fetch(b.url + "data/digits_cnn.onnx")[1] == digits.model.path.read_bytes()
        assert fetch(a.url + "data/digits_cnn.onnx")[0] == 404
        a.stop()
        assert fetch(b.url)[0] == 200
    finally:
        a.stop()
        b.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_explicit_port(tiny):
    port = free_port()
    with view(tiny, port=port) as v:
        assert v.port == port and fetch(v.url)[0] == 200


def test_port_taken_is_a_clear_error(tiny):
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        with pytest.raises(ParameterError, match=f"port {port} is already in use.*port=None"
                           ) as caught:
            view(tiny, port=port)
        assert isinstance(caught.value.__cause__, OSError)
        assert caught.value.__cause__.errno == errno.EADDRINUSE
    with view(tiny) as v:  # the default picks a free port instead
        assert v.running


def test_a_file_netron_cannot_open_fails_before_serving(tmp_path):
    text = tmp_path / "notes.onnx"
    text.write_text("not a model at all")
    with pytest.raises(InvalidModelError, match="looks like a text file"):
        view(text)
    assert not _netron._live


def test_proxy_urls(tiny, monkeypatch):
    monkeypatch.delenv("JUPYTERHUB_SERVICE_PREFIX", raising=False)
    monkeypatch.delenv("ONNXKIT_VIEW_PROXY", raising=False)
    monkeypatch.setattr(_server, "_server_proxy_installed", lambda: True)
    cases = [({"proxy": "/user/me"}, {}, "/user/me/"),
             ({"proxy": "https://hub.example.org/user/me/"}, {},
              "https://hub.example.org/user/me/"),
             ({"proxy": True}, {}, "/"),
             ({}, {"JUPYTERHUB_SERVICE_PREFIX": "/user/ann/"}, "/user/ann/"),
             ({}, {"ONNXKIT_VIEW_PROXY": "/"}, "/"),
             ({"proxy": False}, {"JUPYTERHUB_SERVICE_PREFIX": "/user/ann/"}, None),
             ({}, {}, None)]
    for options, env, base in cases:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        with view(tiny, **options) as v:
            expected = v.local_url if base is None else \
                f"{base}proxy/{v.port}/{v._server.token}/"
            assert v.url == expected, (options, env)
            assert fetch(v.local_url)[0] == 200  # what the proxy forwards to
        for key in env:
            monkeypatch.delenv(key)
    # On JupyterHub without jupyter-server-proxy the URL stays direct.
    monkeypatch.setattr(_server, "_server_proxy_installed", lambda: False)
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/ann/")
    with view(tiny) as v:
        assert v.url == v.local_url


@pytest.mark.parametrize("options, words", [
    ({"backend": "tensorboard"}, "backend"), ({"port": 0}, "port"), ({"port": True}, "port"),
    ({"port": 70000}, "port"), ({"height": -5}, "height"), ({"proxy": 3}, "proxy"),
    ({"backend": "inline", "port": 8080}, "Netron backend"),
    ({"backend": "inline", "proxy": "/"}, "Netron backend"),
    ({"max_nodes": 10}, "backend='inline'"),
])
def test_bad_options(tiny, options, words):
    with pytest.raises(ParameterError, match=words):
        view(tiny, **options)
    assert not _netron._live


def test_inline_backend_returns_a_graph_view(tiny):
    g = view(tiny, backend="inline", max_nodes=10, height=400)
    assert isinstance(g, GraphView) and g.height == 400 and g.shown == 3


def test_importing_the_view_modules_stays_cheap():
    code = ("import sys, onnxkit._view, onnxkit.errors; "
            "print([m for m in ('plotly', 'pandas', 'ipywidgets', 'netron', 'IPython') "
            "if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "[]"


def test_stop_views_and_interpreter_exit(tiny):
    a, b = view(tiny), view(tiny)
    assert stop_views() == 2 and not a.running and not b.running
    code = (f"import atexit, onnxkit._view as v; view = v.view(r'{tiny.path}'); "
            "atexit._run_exitfuncs(); print(view.running)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "False"  # the exit handler stopped it
