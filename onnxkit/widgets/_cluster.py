"""``ClusterPanel``: connect to Ray, see its nodes, and evaluate the model there."""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import traitlets

from onnxkit import Model, ModelLike, cluster, evaluate, load
from onnxkit.errors import ParameterError
from onnxkit.widgets._base import Panel, call


class ClusterPanel(Panel):
    """Scale out on Ray: *Connect* (the main action, :meth:`run`:
    :func:`onnxkit.cluster.connect` — a local Ray on this machine when ``address`` is empty,
    else the cluster at ``address``), *Nodes* (each node's hardware and providers) and
    *Evaluate* (:func:`onnxkit.evaluate` of the model over ``data`` on the cluster's workers,
    in batches of ``batch`` rows; with labels, accuracy).

    ``on`` remembers the node that should measure (a node id, address or resource such as
    ``"GPU"``): the Study and sweep calls take it as ``on=`` with ``cluster=``.

    Examples:
        >>> import onnxkit
        >>> from onnxkit.widgets import ClusterPanel
        >>> panel = ClusterPanel(onnxkit.samples.tiny_model())  # doctest: +SKIP
        >>> panel.run()  # starts a local Ray  # doctest: +SKIP
    """

    model = traitlets.Instance(Model, read_only=True, help="The model to evaluate.")
    data = traitlets.Any(None, allow_none=True, read_only=True,
                         help="Evaluation inputs (rows are samples).")
    labels = traitlets.Any(None, allow_none=True, read_only=True,
                           help="True classes of the rows of data, for accuracy.")
    address = traitlets.Unicode("", help="Connect: '' starts a local Ray; 'auto' or "
                                         "'ray://host:10001' joins a cluster.")
    batch = traitlets.Int(256, min=1, help="Evaluate: rows per batch.")
    on = traitlets.Unicode("", help="The node that measures ('' : any): an id, an address or "
                                    "a resource such as 'GPU'.")
    connection = traitlets.Instance(cluster.Cluster, allow_none=True,
                                    help="The cluster (None before Connect).")

    def __init__(self, model: ModelLike, *, data: Any = None, labels: Any = None,
                 **kwargs: Any):
        if labels is not None and data is None:
            raise ParameterError("ClusterPanel(labels=...) are the classes of the rows of "
                                 "data; got labels but data=None. Pass both.")
        super().__init__(**kwargs)
        self.set_trait("model", load(model))
        self.set_trait("data", data)
        self.set_trait("labels", labels)
        self.address_control = widgets.Text(description="address",
                                            placeholder="(a local Ray on this machine)")
        self.batch_control = widgets.BoundedIntText(min=1, max=1 << 20, description="batch")
        self.on_control = widgets.Text(description="measure on", placeholder="(any node)")
        for name, control in [("address", self.address_control),
                              ("batch", self.batch_control), ("on", self.on_control)]:
            traitlets.link((self, name), (control, "value"))
        self.connect_button = self._button("Connect", self._connect, icon="plug",
                                           button_style="primary")
        self.nodes_button = self._button("Nodes", self._nodes, icon="server")
        self.evaluate_button = self._button("Evaluate", self._evaluate, icon="tasks",
                                            tooltip="Run the model over the data on the "
                                                    "cluster's workers")
        self.observe(lambda _: self._sync_buttons(), "connection")
        self._layout(self.address_control, widgets.HBox([self.batch_control, self.on_control]))

    def _enabled(self, button: widgets.Button) -> bool:
        if button is self.connect_button:
            return True
        if button is self.evaluate_button:
            return self.connection is not None and self.data is not None
        return self.connection is not None

    def _hint(self) -> str:
        if self.connection is None:
            return "Connect first (empty address: a local Ray on this machine)."
        if self.data is None:
            return "Evaluate needs data: ClusterPanel(model, data=..., labels=...)."
        return ""

    def _main(self) -> cluster.Cluster:
        return self._connect()

    def _connect(self) -> cluster.Cluster:
        address = self.address.strip() or None
        self._step("connecting to Ray" if address else "starting a local Ray")
        connection = cluster.connect(address)
        self._record(call("cluster", "onnxkit.cluster.connect",
                          *([repr(address)] if address else [])), "", fresh=True)
        self.connection = connection
        return connection

    def _nodes(self) -> cluster.NodeTable:
        connection = self._connected()
        self._step("asking every node for its hardware")
        table = connection.nodes()
        self._record("cluster.nodes()", "")
        if self.on.strip():
            connection.node(self.on.strip())  # refuses a name no node has, listing them
        return table

    def _evaluate(self) -> Any:
        connection = self._connected()
        if self.data is None:
            raise ParameterError("ClusterPanel: no data to evaluate; pass data=... (and "
                                 "labels=...).")
        self._step("evaluating on the cluster")
        result = evaluate(self.model, self.data, labels=self.labels, batch=self.batch,
                          cluster=connection,
                          progress=lambda done, total: self._progress(done, total or done))
        kwargs = {"labels": "labels"} if self.labels is not None else {}
        self._record(call("evaluation", "onnxkit.evaluate", "model", "data", **kwargs,
                          batch=repr(self.batch), cluster="cluster"), "")
        return result

    def _connected(self) -> cluster.Cluster:
        if self.connection is None:
            raise ParameterError("ClusterPanel: not connected; click Connect first.")
        return self.connection

    def _preamble(self) -> list[str]:
        lines = [f"model = {self._expr(self.model)}"]
        if self.data is not None:
            lines.append(f"data = {self._expr(self.data)}")
        if self.labels is not None:
            lines.append(f"labels = {self._expr(self.labels)}")
        return lines
