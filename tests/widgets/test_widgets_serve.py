"""ServePanel: start, send, load-test and stop, driven from Python; its code runs as printed."""

from __future__ import annotations

import urllib.request

import numpy as np
import pytest
from panel_helpers import click, run_code

import onnxkit
from onnxkit.errors import ParameterError
from onnxkit.widgets import Panel, ServePanel


def test_start_send_load_test_and_stop(digits):
    panel = ServePanel(digits.model)
    assert isinstance(panel, Panel) and panel.send_button.disabled
    panel.max_batch, panel.clients, panel.requests = 8, "1, 4", 20
    server = panel.run()
    try:
        assert urllib.request.urlopen(server.url + "/v2/health/ready").status == 200
        assert server.url in panel.url.value and not panel.send_button.disabled
        outputs = panel.send()
        assert outputs["logits"].shape == (1, 10)
        click(panel, panel.load_button)
        load = panel.result
        assert panel.error == "" and [lvl.clients for lvl in load.levels] == [1, 4]
        assert all(lvl.errors == 0 and lvl.requests == 20 for lvl in load.levels)
        kinds = [set(o["data"]) for o in panel.output.outputs]
        assert "application/vnd.plotly.v1+json" in kinds[1]
        code = panel.to_code()
        assert "server = onnxkit.serve.start(" in code and "max_batch=8" in code
        assert "load = server.load_test(clients=[1, 4], requests=20)" in code
    finally:
        click(panel, panel.stop_button)
        stats = panel.result
    assert stats["ok"] >= 1 + 40 and not server.running and panel.server is None
    shown = panel.output.outputs[0]["data"]["text/plain"]  # the stats in words, not a dict
    assert "max batch rows seen: " in shown and "running: no" in shown and "{" not in shown
    assert panel.url.value == "not serving" and panel.send_button.disabled
    namespace = run_code(panel.to_code())
    assert not namespace["server"].running  # the printed code stops its server too


def test_bad_clients_and_no_server_are_explained(tiny):
    panel = ServePanel(tiny)
    with pytest.raises(ParameterError, match="no server is running"):
        panel.send()
    panel.clients = "one, two"
    panel.run()
    try:
        click(panel, panel.load_button)
        assert "not a list of numbers" in panel.error and not panel.busy
    finally:
        panel.stop()


def test_a_new_start_stops_the_previous_server(tiny):
    panel = ServePanel(tiny)
    first = panel.run()
    second = panel.run()
    try:
        assert not first.running and second.running
        assert np.asarray(panel.send()["y"]).shape == (1, 3)
    finally:
        panel.close()
    assert not second.running and onnxkit.serve.Server is type(second)
