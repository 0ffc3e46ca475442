"""The server's latency percentiles use the definition bench and load_test use."""

from __future__ import annotations

from onnxkit.base import percentile
from onnxkit.bundled.serving.metrics import SECONDS_BUCKETS, Histogram


def test_server_percentiles_match_the_clients():
    histogram = Histogram(SECONDS_BUCKETS)
    values = [0.004, 0.001, 0.003, 0.002, 0.010]
    assert histogram.percentile(90) is None  # nothing observed yet
    for v in values:
        histogram.observe(v)
    for q in (50, 90, 99):
        assert histogram.percentile(q) == percentile(values, q)
    assert histogram.percentile(50) == 0.003 and histogram.count == 5
