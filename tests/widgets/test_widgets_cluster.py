"""ClusterPanel on a local Ray: connect, the nodes table, an evaluation; its code runs."""

from __future__ import annotations

import pytest
from panel_helpers import click, run_code

from onnxkit.errors import ParameterError
from onnxkit.widgets import ClusterPanel

ray = pytest.importorskip("ray")


def test_connect_nodes_and_evaluate(digits):
    images, labels = digits.inputs["image"][:128], digits.labels[:128]
    panel = ClusterPanel(digits.model, data=images, labels=labels)
    assert panel.nodes_button.disabled and panel.evaluate_button.disabled
    panel.batch = 32
    connection = panel.run()
    try:
        assert connection.started_here and not panel.evaluate_button.disabled
        click(panel, panel.nodes_button)
        assert panel.error == "" and len(panel.result.nodes) == 1
        click(panel, panel.evaluate_button)
        evaluation = panel.result
        assert panel.error == "" and evaluation.rows == 128 and evaluation.batches == 4
        assert evaluation.where.startswith("ray") and evaluation.score > 0.9
        panel.on = "tpu"
        click(panel, panel.nodes_button)
        assert "no node matches on='tpu'" in panel.error
        namespace = run_code(panel.to_code().replace("cluster.nodes()\n", ""))
        assert namespace["evaluation"].score == evaluation.score
    finally:
        connection.shutdown()


def test_labels_need_data(tiny):
    with pytest.raises(ParameterError, match="data=None"):
        ClusterPanel(tiny, labels=[0, 1])


CONNECT_BY_CLICKS = """
import threading, time, onnxkit
from onnxkit.widgets import ClusterPanel
panel = ClusterPanel(onnxkit.samples.tiny_model())
panel.start(panel._connect); panel.wait()
assert panel.error == "", panel.error
time.sleep(2)  # the action's thread is gone: Ray's processes must not have followed it
panel.start(panel._nodes); panel.wait()
assert panel.error == "" and len(panel.result.nodes) == 1, panel.error
import ray; ray.shutdown()
print("alive")
"""


def test_ray_started_by_a_click_outlives_the_action_thread():
    """Connect clicked (a short-lived thread starts Ray), then Nodes: the process lives on.
    In a child process: a regression ends the process Ray-style, a minute later."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", CONNECT_BY_CLICKS], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0 and "alive" in done.stdout, done.stderr[-2000:]
