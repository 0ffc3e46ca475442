"""Scale-out on Ray: a local cluster on this machine by default, or an existing one.

* :func:`connect` starts or joins Ray; :meth:`Cluster.nodes` lists the nodes with their
  hardware (gathered on each node by :func:`onnxkit.providers`).
* ``cluster=`` in :func:`onnxkit.evaluate`, :class:`onnxkit.Study` and
  :func:`onnxkit.quantize.assess` runs their data on the workers; ``on=`` in ``Study`` and
  :func:`onnxkit.sweep` times on a chosen node.

May import: :mod:`onnxkit.runtime` and the stages before it. Needs the ``cluster`` extra (Ray).
"""

from onnxkit.base import publish as _publish
from onnxkit.cluster._connect import Cluster, Node, NodeTable, connect

__all__ = ["connect", "Cluster", "Node", "NodeTable"]

_publish(globals(), __name__, __all__)
