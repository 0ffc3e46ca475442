"""The worker hook that keeps Ray Serve's gRPC servers on 127.0.0.1 in onnxkit's local Ray:
shipped by value as Ray ships it, it rewrites exactly Serve's two all-interfaces binds, and
stands aside (with a warning) when a Ray moved them. Ray itself is not started here
(tests/serve/test_ray.py checks the sockets of a running deployment)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from onnxkit.base import _loopback

ray = pytest.importorskip("ray")
pytest.importorskip("ray.serve")
pytest.importorskip("grpc")

# A fresh interpreter, as a Ray worker when it runs its setup hook: onnxkit not imported (nor
# importable from here), the hook unpickled and run, then Serve's modules bind a real gRPC
# server each the way Ray 2.60 calls them
WORKER = textwrap.dedent("""
    import json, sys
    from concurrent.futures import ThreadPoolExecutor
    import grpc, psutil, ray.cloudpickle
    sys.modules["onnxkit"] = None  # the hook must not need it
    ray.cloudpickle.loads(bytes.fromhex(sys.stdin.read()))()
    from ray.serve._private import default_impl, replica
    servers = [grpc.server(ThreadPoolExecutor(1)) for _ in range(2)]
    default_impl.add_grpc_address(servers[0], "[::]:0")  # the proxy's call
    replica.add_port_to_grpc_server(servers[1], "[::]:0")  # each replica's
    for server in servers:
        server.start()
    print(json.dumps([c.laddr.ip for c in psutil.Process().net_connections("tcp")
                      if c.status == psutil.CONN_LISTEN]))
""")


def test_the_hook_travels_by_value_and_binds_serve_on_loopback():
    hook = _loopback.worker_hook(ray)
    assert hook is not None  # this Ray binds where the hook expects (else: the test below)
    out = subprocess.run([sys.executable, "-c", WORKER], input=ray.cloudpickle.dumps(hook).hex(),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    listening = json.loads(out.stdout.splitlines()[-1])  # gRPC binds IPv6, v4-mapped
    assert [ip.removeprefix("::ffff:") for ip in listening] == ["127.0.0.1", "127.0.0.1"]


def test_a_ray_that_moved_its_binds_is_left_alone_with_a_warning(monkeypatch):
    moved = dict(_loopback._SITES)
    moved["ray.serve._private.replica"] = ("add_port_to_grpc_server", "a call Ray no longer has")
    monkeypatch.setattr(_loopback, "_SITES", moved)
    with pytest.warns(UserWarning, match="ray.serve._private.replica"):
        assert _loopback.worker_hook(ray) is None
