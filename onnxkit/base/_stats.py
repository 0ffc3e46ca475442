"""One percentile for every latency onnxkit reports (benchmark, measure, load tests, a
server's metrics), so their p50 and p90 mean the same thing: numpy's default, linear
interpolation between the closest ranks (what pandas and most tools report)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, interpolated linearly.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 50), percentile([1.0, 2.0, 3.0, 4.0], 90)
    (2.5, 3.7)
    """
    return float(np.percentile(np.asarray(values, dtype=float), q))
