"""``ServePanel``: the model as an HTTP service on loopback, called and load-tested."""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import traitlets

from onnxkit import Model, ModelLike, load, serve
from onnxkit.errors import ParameterError
from onnxkit.widgets._base import Panel, call


class ServePanel(Panel):
    """Serve ``model`` over HTTP (:func:`onnxkit.serve.start`), call it, and load-test it.

    Buttons: *Start* (the main action, :meth:`run`: a server on a free loopback port, with
    Triton's dynamic batching up to ``max_batch`` rows, the oldest request waiting at most
    ``max_queue_delay_ms`` for a fuller batch (0: never); a running one
    is stopped first), *Send* (one request with sample inputs, through the Open Inference
    Protocol; shows the outputs), *Load test* (:meth:`onnxkit.serve.Server.load_test` at each
    number of ``clients``: throughput and latency, with a chart) and *Stop*.

    Examples:
        >>> import onnxkit
        >>> from onnxkit.widgets import ServePanel
        >>> panel = ServePanel(onnxkit.samples.tiny_model())
        >>> panel.run().url.startswith("http://127.0.0.1:")
        True
        >>> sorted(panel.send())
        ['y']
        >>> panel.stop()["ok"]
        1
    """

    model = traitlets.Instance(Model, read_only=True, help="The model to serve.")
    max_batch = traitlets.Int(32, min=1, help="Start: rows per model run (1: no batching).")
    max_queue_delay_ms = traitlets.Float(0.0, min=0.0, help="Start: how long the oldest "
                                         "request may wait for a fuller batch (0: never).")
    clients = traitlets.Unicode("1, 8, 32", help="Load test: concurrent clients, "
                                                 "comma-separated.")
    requests = traitlets.Int(200, min=1, help="Load test: requests at each concurrency.")
    server = traitlets.Instance(serve.Server, allow_none=True,
                                help="The running server (None before Start, after Stop).")

    def __init__(self, model: ModelLike, **kwargs: Any):
        super().__init__(**kwargs)
        self.set_trait("model", load(model))
        self.batch_control = widgets.BoundedIntText(min=1, max=65536, description="max batch")
        self.delay_control = widgets.BoundedFloatText(min=0, max=10_000, step=0.5,
                                                      description="queue delay ms")
        self.clients_control = widgets.Text(description="clients")
        self.requests_control = widgets.BoundedIntText(min=1, max=1_000_000,
                                                       description="requests")
        for name, control in [("max_batch", self.batch_control),
                              ("max_queue_delay_ms", self.delay_control),
                              ("clients", self.clients_control),
                              ("requests", self.requests_control)]:
            traitlets.link((self, name), (control, "value"))
        self.url = widgets.HTML("not serving")
        self.start_button = self._button("Start", self._start, icon="play",
                                         button_style="primary")
        self.send_button = self._button("Send", self.send, icon="paper-plane",
                                        tooltip="One request with sample inputs")
        self.load_button = self._button("Load test", self._load_test, icon="tachometer")
        self.stop_button = self._button("Stop", self.stop, icon="stop",
                                        tooltip="Stop after answering the requests in flight")
        self.observe(self._show_url, "server")
        self._layout(widgets.HBox([self.batch_control, self.delay_control]),
                     widgets.HBox([self.clients_control, self.requests_control]), self.url)

    def _enabled(self, button: widgets.Button) -> bool:
        return button is self.start_button or self.server is not None

    def _show_url(self, _: Any = None) -> None:
        server = self.server
        self.url.value = ("not serving" if server is None else
                          f"serving at <code>{server.url}</code> · infer: <code>POST "
                          f"{server.infer_url}</code>")
        self._sync_buttons()

    # --- actions ------------------------------------------------------------------------------

    def _main(self) -> serve.Server:
        return self._start()

    def _start(self) -> serve.Server:
        self.stop()
        options: dict[str, Any] = {"max_batch": self.max_batch,
                                   "max_queue_delay_ms": self.max_queue_delay_ms}
        self._step("bundling and starting the server")
        server = serve.start(self.model, **options)
        self._record(call("server", "onnxkit.serve.start", "model",
                          **{k: repr(v) for k, v in options.items()}), "", fresh=True)
        self.server = server
        return server

    def send(self) -> dict[str, Any]:
        """One request with a row of sample inputs; returns the outputs."""
        server = self._running()
        self._step("sending one request")
        outputs = server.infer(server.sample_inputs())
        self._record("outputs = server.infer(server.sample_inputs())", "")
        return outputs

    def _load_test(self) -> serve.LoadTest:
        server = self._running()
        try:
            clients = [int(c) for c in self.clients.replace(" ", "").split(",") if c]
        except ValueError:
            raise ParameterError(f"ServePanel(clients=...): {self.clients!r} is not a list of "
                                 "numbers such as '1, 8, 32'.") from None
        self._step(f"load test at {clients} clients")
        result = server.load_test(clients=clients, requests=self.requests)
        self._record(call("load", "server.load_test", clients=repr(clients),
                          requests=repr(self.requests)), "")
        return result

    def stop(self) -> dict[str, Any] | None:
        """Stop the server (the requests in flight are answered first); returns its final
        :meth:`~onnxkit.serve.Server.stats`."""
        server = self.server
        if server is None:
            return None
        server.stop()
        self._record("server.stop()", "")
        self.server = None
        return server.stats()

    def _running(self) -> serve.Server:
        if self.server is None or not self.server.running:
            raise ParameterError("ServePanel: no server is running; click Start first.")
        return self.server

    def _preamble(self) -> list[str]:
        return [f"model = {self._expr(self.model)}"]

    def close(self) -> None:
        self.stop()
        super().close()
