"""onnxkit.quantize: real int8/int4 models, checked inputs, per-layer errors."""

from __future__ import annotations

import math
import warnings

import numpy as np
import onnx
import pytest
from graphs import relu_model, save

import onnxkit
from onnxkit import quantize
from onnxkit.errors import InputError, ParameterError, UnsupportedModelError


@pytest.fixture(scope="module")
def calib(digits):
    return digits.inputs["image"][:64]


@pytest.fixture(scope="module")
def static_qdq(digits, calib):
    return quantize.static(digits.model, calib)


def _ops(model):
    return {n.op_type for n in model.proto.graph.node}


def test_prepare_is_recorded_and_idempotent(transformer):
    prepared = quantize.prepare(transformer.model)
    assert prepared.name == "text_transformer.qprep"
    details = prepared.lineage[-1].details
    assert details["steps"][:3] == ["onnxslim", "ort basic optimization", "onnx shape inference"]
    assert quantize.prepare(prepared) is prepared


def test_static_qdq_keeps_accuracy(digits, static_qdq):
    # "-2"... when another test already wrote a different model under that name
    assert static_qdq.name.startswith("digits_cnn.uint8-static-qdq")
    assert {"QuantizeLinear", "DequantizeLinear"} <= _ops(static_qdq)
    assert [s.op for s in static_qdq.lineage][-2:] == ["quantize.prepare", "quantize.static"]
    assert static_qdq.lineage[-1].details["calibration_feeds"] == 4  # 64 rows in chunks of 16
    assert static_qdq.size_bytes < 0.4 * digits.model.size_bytes
    logits = onnxkit.run(static_qdq, digits.inputs)["logits"]
    assert digits.accuracy(logits) > 0.95


@pytest.mark.parametrize("method", ["entropy", "percentile"])
def test_methods_and_qoperator(digits, calib, method):
    q = quantize.static(digits.model, calib, method=method, format="QOperator", samples=32)
    assert "QLinearConv" in _ops(q) and q.lineage[-1].params["method"] == method
    assert q.lineage[-1].details["calibration_feeds"] == 2
    assert digits.accuracy(onnxkit.run(q, digits.inputs)["logits"]) > 0.9


def test_distribution_is_for_float8_and_says_so(digits, calib):
    with pytest.warns(UserWarning, match="float8"):
        q = quantize.static(digits.model, calib, method="distribution", samples=16)
    assert q.lineage[-1].params["method"] == "distribution"


def test_calibration_as_feed_dicts_and_reader(transformer):
    feeds = [{k: v[i:i + 8] for k, v in transformer.inputs.items()} for i in range(0, 32, 8)]
    q = quantize.static(transformer.model, feeds, per_channel=False)
    assert q.lineage[-1].details["calibration_feeds"] == 4
    out = onnxkit.run(q, transformer.inputs)["logits"]
    assert transformer.accuracy(out) > 0.75


def test_dynamic_on_the_transformer(transformer):
    q = quantize.dynamic(transformer.model)
    assert "DynamicQuantizeLinear" in _ops(q) or "MatMulInteger" in _ops(q)
    assert q.lineage[-1].details["size_ratio"] < 0.5
    agree = onnxkit.compare(transformer.model, q, transformer.inputs)
    assert agree.outputs[0].argmax_agreement > 0.97


def test_weight_only_int4(transformer):
    q = quantize.weight_only(transformer.model, bits=4, block_size=32)
    assert "MatMulNBits" in _ops(q)
    assert q.lineage[-1].details["quantized"] == q.lineage[-1].details["matmuls"] > 0
    out = onnxkit.run(q, transformer.inputs)["logits"]
    assert transformer.accuracy(out) > 0.8


def test_weight_only_takes_gemm_layers_and_lists_what_stays_float():
    import hf_models

    gpt2 = onnxkit.convert.from_torch(hf_models.gpt2(), hf_models.text_inputs(mask=False),
                                      exporter="dynamo", outputs=["logits"]).model
    assert "Gemm" in _ops(gpt2)  # transformers' Conv1D layers export as Gemm
    q = quantize.weight_only(gpt2)
    d = q.lineage[-1].details
    assert d["gemms_rewritten"] == 4 and d["quantized"] == 5  # + the (tied) LM head
    assert len(d["skipped"]) == 2 and all("activations" in why for why in d["skipped"].values())
    assert "Gemm" not in _ops(q) and q.size_bytes < gpt2.size_bytes  # embeddings stay float
    agree = onnxkit.compare(gpt2, q, hf_models.text_inputs(mask=False)).outputs[0]
    assert agree.argmax_agreement > 0.9


def test_quantizing_leaves_the_root_logger_as_it_was(transformer):
    import logging

    root = logging.getLogger()
    before = root.level, list(root.handlers)
    quantize.weight_only(transformer.model)
    assert (root.level, list(root.handlers)) == before


def test_debug_ranks_layers_and_exclusion_takes_names(digits, calib, static_qdq):
    errors = quantize.debug(digits.model, static_qdq, calib)
    sqnr = [x.sqnr_db for x in errors.layers]
    assert sqnr == sorted(sqnr) and len(sqnr) >= 5
    worst = errors.worst(2)
    assert len(worst) == 2 and all(worst)
    q = quantize.static(digits.model, calib, exclude=worst)
    assert q.lineage[-1].params["exclude"] == worst and "-static-qdq-excl2-" in q.name
    assert "<table" in errors._repr_html_() and errors.plot().data
    assert errors.to_dict()["layers"][0]["sqnr_db"] == sqnr[0]


def test_debug_of_a_transformer_is_finite_and_quiet(transformer):
    """Attention masks hold float32's minimum: the SQNR is taken in float64 over finite
    elements, so no overflow warning and no NaN in the ranking."""
    calib = {k: v[:16] for k, v in transformer.inputs.items()}
    quantized = quantize.static(transformer.model, calib)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        errors = quantize.debug(transformer.model, quantized, calib)
    assert errors.layers and not any(math.isnan(x.sqnr_db) for x in errors.layers)


def test_assess_side_by_side(digits, static_qdq):
    report = quantize.assess(digits.model, [static_qdq], digits.inputs, labels=digits.labels)
    base, q = report.rows
    assert base.max_abs_err == 0 and base.agreement == 1.0
    assert q.size_bytes < base.size_bytes and q.score > 0.95
    frame = report.table()
    assert list(frame.index) == [digits.model.name, static_qdq.name]
    assert frame.loc[static_qdq.name, "size_ratio"] < 0.4
    assert "<table" in report._repr_html_() and len(report.plot().data) == 2


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"method": "minmx"}, ParameterError, "did you mean 'minmax'"),
    ({"format": "qdk"}, ParameterError, "did you mean 'qdq'"),
    ({"exclude": ["nope"]}, ParameterError, "not in the prepared graph"),
    ({"samples": 0}, ParameterError, "positive integer"),
])
def test_bad_options_fail_before_work(digits, calib, kwargs, error, match):
    with pytest.raises(error, match=match):
        quantize.static(digits.model, calib, **kwargs)


def test_bad_calibration(digits, transformer):
    with pytest.raises(InputError, match="calibration sample 0.*expects float32"):
        quantize.static(digits.model, digits.inputs["image"].astype(np.float64))
    with pytest.raises(InputError, match="size 8 at axis 2"):
        quantize.static(digits.model, np.zeros((4, 1, 7, 8), np.float32))
    with pytest.raises(InputError, match="model has 2 inputs"):
        quantize.static(transformer.model, np.zeros((4, 32), np.int64))
    with pytest.raises(InputError, match="unknown input"):
        quantize.static(digits.model, [{"pixels": digits.inputs["image"][:4]}])
    with pytest.raises(InputError, match="empty"):
        quantize.static(digits.model, [])
    nan = np.full((16, 1, 8, 8), np.nan, np.float32)
    with pytest.raises(InputError, match=r"'image' has 1024 NaN or infinite value\(s\) of 1024 "
                                         r"\(all of them\)"):
        quantize.static(digits.model, nan)
    some_inf = digits.inputs["image"][:16].copy()
    some_inf[3, 0, 0, 0] = np.inf
    with pytest.raises(InputError, match="has 1 NaN or infinite"):
        quantize.static(digits.model, some_inf)
    with pytest.raises(ParameterError, match="CalibrationDataReader"):
        quantize.static(digits.model, "data.npz")
    uneven = [{"image": digits.inputs["image"][:8]}, {"image": digits.inputs["image"][:5]}]
    with pytest.raises(InputError, match="one batch size"):
        quantize.static(digits.model, uneven, method="entropy")


def test_histogram_methods_on_rows_that_do_not_divide_evenly(digits):
    q = quantize.static(digits.model, digits.inputs["image"][:200], method="entropy")
    assert q.lineage[-1].details["calibration_feeds"] == 12  # 192 rows in feeds of 16


def test_already_quantized_and_int4_without_matmul(digits, static_qdq, tmp_path):
    relu_only = save(relu_model(), tmp_path / "relu.onnx")
    with pytest.raises(UnsupportedModelError, match="already quantized"):
        quantize.dynamic(static_qdq)
    with pytest.raises(UnsupportedModelError, match="MatMul/Gemm layers with constant weights"):
        quantize.weight_only(relu_only)
    with pytest.raises(ParameterError, match="power of two"):
        quantize.weight_only(digits.model, block_size=24)
    with pytest.raises(UnsupportedModelError, match="QDQ"):
        quantize.debug(digits.model, quantize.dynamic(digits.model), digits.inputs["image"][:8])


def test_progress_callback_and_cancel(digits, calib):
    seen = []
    quantize.static(digits.model, calib, progress=lambda done, total: seen.append((done, total)))
    assert seen[0] == (0, 4) and seen[-1][1] == 4

    def cancel(done, total):
        if done == 2:
            raise quantize.Cancelled("stop")

    with pytest.raises(quantize.Cancelled):
        quantize.static(digits.model, calib, progress=cancel)


def test_source_model_untouched(digits, calib):
    before = digits.model.path.read_bytes()
    quantize.static(digits.model, calib)
    assert digits.model.path.read_bytes() == before
    assert onnx.load(str(digits.model.path)).graph.node[0].op_type == "Conv"


def test_layout_optimized_models_are_refused_with_the_way_out(digits):
    laid_out = onnxkit.optimize(digits.model, level="all")
    if not any(n.domain == "com.microsoft.nchwc" for n in laid_out.proto.graph.node):
        pytest.skip("this CPU got no NCHWc layout (no AVX2/AVX-512)")
    with pytest.raises(UnsupportedModelError, match="level='basic'"):
        quantize.static(laid_out, digits.inputs["image"][:32])
    portable = onnxkit.optimize(digits.model, level="basic")
    assert quantize.static(portable, digits.inputs["image"][:32]).path.exists()
