"""View a model's graph: Netron on a loopback server (``view``), or inline with no server at
all (``graph_view``: plotly, with an SVG for static renderers). A private folder name, because
``onnxkit.view`` is the public function.

May import: :mod:`onnxkit.inspect`, :mod:`onnxkit.models` and the foundation.
"""

from onnxkit._view._graph import GraphView, graph_view
from onnxkit._view._server import NetronView, stop_views, view
from onnxkit.base import front_door_names, publish

__all__ = ["GraphView", "graph_view", "NetronView", "stop_views", "view"]

publish(globals(), "onnxkit", front_door_names(__name__))
