"""Models as files: the ``Model`` handle, ``load``, external weights, and the workspace where
every derived model is written (atomically, never over a user's file).

May import: :mod:`onnxkit.base`, :mod:`onnxkit.results`, :mod:`onnxkit.errors`.
"""

from onnxkit.base import front_door_names, publish
from onnxkit.models._external import ExternalFile, iter_tensors
from onnxkit.models._handle import Model, ModelLike, Step, lineage_file, parse_bytes
from onnxkit.models._load import load
from onnxkit.models._workspace import Workspace, free_target, safe_name, set_workspace, workspace

__all__ = ["ExternalFile", "iter_tensors", "Model", "ModelLike", "Step", "lineage_file",
           "parse_bytes", "load", "Workspace", "free_target", "safe_name", "set_workspace",
           "workspace"]

publish(globals(), "onnxkit", front_door_names(__name__))
