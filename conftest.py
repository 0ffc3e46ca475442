"""Test-session setup shared by unit tests, doctests and notebooks (nbval).

Every derived model and sample goes to one temporary workspace for the whole run: the source
tree stays clean, and the samples are built once and shared by tests and notebook kernels
(the kernels inherit ONNXKIT_WORKSPACE from this process).
"""

import os
import tempfile

os.environ.setdefault("ONNXKIT_WORKSPACE", tempfile.mkdtemp(prefix="onnxkit-test-work-"))
os.environ.setdefault("PYTHONHASHSEED", "0")

# Running `python -m onnxkit` on import would parse pytest's own argv.
collect_ignore = ["onnxkit/__main__.py"]
