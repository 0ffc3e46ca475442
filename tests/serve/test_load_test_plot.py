"""The load-test chart reads: axes from zero, the legend clear of the right axis."""

from onnxkit.serve import LoadLevel, LoadTest


def test_axes_start_at_zero_and_the_legend_is_below():
    levels = tuple(LoadLevel(clients=c, requests=100, errors=0, seconds=1.0, throughput=t,
                             p50_ms=0.4 * c, p90_ms=0.5 * c, p99_ms=0.6 * c)
                   for c, t in ((1, 800.0), (8, 1100.0), (32, 1900.0)))
    fig = LoadTest(url="http://127.0.0.1:1/", model="digits", rows=1, levels=levels).plot()
    assert fig.layout.yaxis.rangemode == fig.layout.yaxis2.rangemode == "tozero"
    assert fig.layout.yaxis2.side == "right" and fig.layout.legend.orientation == "h"
    assert fig.layout.legend.y < 0  # below the plot area, not beside the right axis
    assert [t.name for t in fig.data] == ["requests/s", "p50 ms", "p90 ms"]
