"""Test-session setup shared by unit tests, doctests and notebooks (nbval).

Every derived model and sample goes to one temporary workspace for the whole run: the source
tree stays clean, and the samples are built once and shared by tests and notebook kernels
(the kernels inherit ONNXKIT_WORKSPACE from this process).
"""

import doctest
import inspect
import os
import tempfile

os.environ.setdefault("ONNXKIT_WORKSPACE", tempfile.mkdtemp(prefix="onnxkit-test-work-"))
os.environ.setdefault("PYTHONHASHSEED", "0")

# Running `python -m onnxkit` on import would parse pytest's own argv.
collect_ignore = ["onnxkit/__main__.py",
                  "onnxkit/bundled/serve.py"]  # imports its bundle's predict.py


def _defined_here(original):
    """Objects exported by onnxkit read ``onnxkit.X`` as ``__module__`` (their public home):
    doctest's finder would skip their docstrings in the module that defines them and run them
    again under the front door. The defining module is kept in ``__onnxkit_origin__``."""
    def from_module(self, module, obj):
        defines = inspect.isclass(obj) or inspect.isfunction(obj)
        origin = vars(obj).get("__onnxkit_origin__") if defines else None  # not inherited
        if origin is not None and module is not None:
            return origin == module.__name__
        return original(self, module, obj)
    return from_module


doctest.DocTestFinder._from_module = _defined_here(doctest.DocTestFinder._from_module)
