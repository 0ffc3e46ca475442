"""Ray Serve's two gRPC servers on 127.0.0.1 in a local Ray that onnxkit starts.

Ray (2.60) binds them on every interface, with no setting to change it: the gRPC proxy
(``ray.serve._private.grpc_util.start_grpc_server`` calls ``default_impl.add_grpc_address``
with ``"[::]:<port>"``) and each replica's inter-deployment server (``replica.py`` calls
``add_port_to_grpc_server`` with ``"[::]:0"``). Their clients reach them at the node's address,
127.0.0.1 in onnxkit's local Ray, so loopback is all they need. :func:`serve_on_loopback` runs
in every Ray worker process (Ray's ``worker_process_setup_hook``): it wraps exactly those two
functions, when (and if) Serve imports their modules, so that an all-interfaces address they
are given becomes 127.0.0.1. :func:`worker_hook` hands it to ``ray.init`` when this Ray still
has those call sites; when it has not, onnxkit leaves Ray as it is and warns.

A worker runs its hook before the driver's ``sys.path`` reaches it, so it may not import this
onnxkit (or any): the hook travels by value, and needs only the standard library there.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
import warnings
from pathlib import Path
from typing import Any

# module -> (the function to wrap there, the text that module must hold for it to matter)
_SITES = {
    "ray.serve._private.default_impl": ("add_grpc_address", "def add_grpc_address("),
    "ray.serve._private.grpc_util": (None, 'add_grpc_address(server, f"[::]:'),
    "ray.serve._private.replica": ("add_port_to_grpc_server",
                                   'add_port_to_grpc_server(self._server, "[::]:0")'),
}
_EVERYWHERE = ("[::]:", "0.0.0.0:")


def on_loopback(address: str) -> str:
    """``address`` with an all-interfaces host made 127.0.0.1; others as they are.

    Examples:
        >>> on_loopback("[::]:0"), on_loopback("0.0.0.0:9000"), on_loopback("10.0.0.2:1")
        ('127.0.0.1:0', '127.0.0.1:9000', '10.0.0.2:1')
    """
    for host in _EVERYWHERE:
        if address.startswith(host):
            return "127.0.0.1:" + address[len(host):]
    return address


def worker_hook(ray: Any) -> Any:
    """:func:`serve_on_loopback`, pickled by value (Ray's cloudpickle) for ``ray.init``'s
    ``runtime_env={"worker_process_setup_hook": ...}``; None, with a warning, when this Ray
    does not bind where the hook expects."""
    if not hook_applies(ray):
        return None
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    return serve_on_loopback


def hook_applies(ray: Any) -> bool:
    """Whether ``ray`` binds where :func:`serve_on_loopback` expects (read from its source
    files, without importing Ray Serve); warns when it does not."""
    missing = []
    for name, (_, call) in _SITES.items():
        path = Path(ray.__file__).parent.joinpath(*name.split(".")[1:]).with_suffix(".py")
        try:
            if call not in path.read_text():
                missing.append(name)
        except OSError:
            missing.append(name)
    if missing:
        warnings.warn(f"onnxkit could not keep Ray Serve's gRPC servers on 127.0.0.1: Ray "
                      f"{ray.__version__} no longer binds them as onnxkit expects (in "
                      f"{', '.join(missing)}). They listen where Ray puts them (every "
                      "interface in Ray 2.60): keep a token on deployments.", stacklevel=2)
    return not missing


def serve_on_loopback() -> None:
    """Ray's worker setup hook: wrap the two binding functions when their modules load."""
    for name, (function, _) in _SITES.items():
        if function is None:
            continue
        if name in sys.modules:
            _wrap(sys.modules[name], function)
        else:
            sys.meta_path.insert(0, _WrapOnImport(name, function))


def _wrap(module: Any, function: str) -> None:
    bind = getattr(module, function, None)
    if bind is None or getattr(bind, "_onnxkit_loopback", False):
        return  # moved in this Ray: hook_applies warned in the driver

    def on_loopback_bind(server: Any, address: str, *args: Any, **kwargs: Any) -> Any:
        return bind(server, on_loopback(address), *args, **kwargs)

    on_loopback_bind._onnxkit_loopback = True  # type: ignore[attr-defined]
    setattr(module, function, on_loopback_bind)


class _WrapOnImport(importlib.abc.MetaPathFinder):
    """Finds ``name`` as the other finders do, then wraps ``function`` once it has run."""

    def __init__(self, name: str, function: str):
        self.name, self.function = name, function

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)  # once; and find_spec below must not come back here
        spec = importlib.util.find_spec(fullname)
        loader = spec.loader if spec else None
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        run = loader.exec_module

        def exec_module(module: Any) -> None:
            run(module)
            _wrap(module, self.function)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec
