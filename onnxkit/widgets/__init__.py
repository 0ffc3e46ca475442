"""ipywidgets panels over the kernel (conversion, quantization, providers...).

Panels hold state and wiring only; every action is one kernel call. None exist yet: they
arrive with the capabilities they drive.
"""

from __future__ import annotations

__all__: list[str] = []
