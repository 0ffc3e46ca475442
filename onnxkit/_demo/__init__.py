"""The headless demo: the whole path on the digits sample (convert, optimize, quantize,
compare, bundle) written up as one self-contained HTML report. A private folder name, because
``onnxkit.demo`` is the public function.

May import every kernel stage before it; only the CLI and the panels come after.
"""

from onnxkit._demo._report import DemoReport, Stage
from onnxkit._demo._run import demo
from onnxkit.base import front_door_names, publish

__all__ = ["DemoReport", "Stage", "demo"]

publish(globals(), "onnxkit", front_door_names(__name__))
