"""optimize_pipeline: the chosen transforms in their one right order, each in the lineage;
what cannot apply is refused before any work."""

from __future__ import annotations

import pytest

import onnxkit
from onnxkit.errors import ParameterError


def test_steps_run_in_order_and_report_progress(tiny):
    seen = []
    model = onnxkit.optimize_pipeline(tiny, level="basic", fp16=True,
                                      on_step=lambda what, done, total: seen.append(
                                          (what, done, total)))
    assert [s.op for s in model.lineage[-2:]] == ["optimize", "to_fp16"]
    assert seen == [("optimizing the graph", 0, 2), ("converting to float16", 1, 2)]
    assert model.lineage[-2].call() == "optimize(level='basic', simplify=True)"
    assert "outputs verified" in model.lineage[-2].notes()


def test_what_cannot_apply_is_refused(tiny):
    with pytest.raises(ParameterError, match="no attention"):
        onnxkit.optimize_pipeline(tiny, fuse="bert")
    with pytest.raises(ParameterError, match="fuse"):
        onnxkit.optimize_pipeline(tiny, fuse="bret")
    with pytest.raises(ParameterError, match="nothing to do"):
        onnxkit.optimize_pipeline(tiny, level=None, simplify=False)
