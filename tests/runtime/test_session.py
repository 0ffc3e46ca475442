"""session() and run(): real models, exact outputs, feeds checked before ORT sees them."""

from __future__ import annotations

import os

import numpy as np
import onnxruntime as ort
import pytest
from graphs import make_model, save
from onnx import TensorProto, helper

import onnxkit
from onnxkit.errors import InputError, ParameterError, SessionError


def _mixed_module(torch):
    """Float, int64 and bool inputs; two outputs; symbolic batch and length."""

    class Mixed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(20, 6)
            self.proj = torch.nn.Linear(6, 4)

        def forward(self, x, ids, keep):
            h = self.embed(ids) * keep.unsqueeze(-1).float() + x
            return self.proj(h).sum(1), (ids * 2).sum(1)

    return Mixed().eval()


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    # Only the tests using this model need torch: the provider environments have none.
    torch = pytest.importorskip("torch")
    path = tmp_path_factory.mktemp("mixed") / "mixed.onnx"
    torch.manual_seed(0)
    args = (torch.randn(2, 5, 6), torch.randint(0, 20, (2, 5)), torch.ones(2, 5, dtype=torch.bool))
    dyn = {n: {0: "batch", 1: "length"} for n in ("x", "ids", "keep")}
    torch.onnx.export(_mixed_module(torch), args, str(path), input_names=["x", "ids", "keep"],
                      output_names=["scores", "total"], dynamic_axes=dyn, opset_version=17,
                      dynamo=False)
    return onnxkit.load(path)


def _bare(model, feeds):
    sess = ort.InferenceSession(str(model.path), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))


def test_run_equals_a_bare_session_exactly(transformer, digits):
    cases = [(transformer.model, transformer.inputs), (digits.model, digits.inputs)]
    for model, feeds in cases:
        ours, bare = onnxkit.run(model, feeds), _bare(model, feeds)
        assert list(ours) == list(bare)
        for name in bare:
            assert ours[name].dtype == bare[name].dtype
            assert np.array_equal(ours[name], bare[name])


def test_run_of_mixed_dtypes_equals_a_bare_session(mixed):
    feeds = onnxkit.random_inputs(mixed, batch=3, dims={"length": 7})
    ours, bare = onnxkit.run(mixed, feeds), _bare(mixed, feeds)
    assert list(ours) == list(bare)
    assert all(np.array_equal(ours[k], bare[k]) and ours[k].dtype == bare[k].dtype for k in bare)


def test_mixed_dtypes_and_symbolic_dims(mixed):
    feeds = onnxkit.random_inputs(mixed, batch=2, dims={"length": 4})
    assert {k: v.dtype.name for k, v in feeds.items()} == {"x": "float32", "ids": "int64",
                                                           "keep": "bool"}
    out = onnxkit.run(mixed, feeds)
    assert out["scores"].shape == (2, 4) and out["total"].dtype == np.int64
    assert np.array_equal(out["total"], feeds["ids"].sum(1) * 2)


def test_sessions_are_cached_per_file_and_options(digits, tmp_path):
    a = onnxkit.session(digits.model, providers="cpu")
    assert onnxkit.session(digits.model, providers="CPUExecutionProvider") is a
    assert onnxkit.session(digits.model, threads=1) is not a
    assert onnxkit.session(digits.model, opt_level="basic") is not a
    copy = tmp_path / "copy.onnx"
    copy.write_bytes(digits.model.path.read_bytes())
    first = onnxkit.session(copy)
    os.utime(copy, ns=(1, 1))  # as if the file had been rewritten
    assert onnxkit.session(copy) is not first


def test_session_options(digits):
    sess = onnxkit.session(digits.model, threads=1, opt_level="disable",
                           options={"execution_mode": "parallel", "enable_mem_pattern": False,
                                    "session.intra_op.allow_spinning": "0"})
    assert sess.get_session_options().intra_op_num_threads == 1
    assert sess.get_session_options().enable_mem_pattern is False
    assert sess.get_session_options().execution_mode == ort.ExecutionMode.ORT_PARALLEL


def test_cpu_arena_option_becomes_the_session_option(tiny):
    # ORT's Python binding ignores CPU provider options; the arena is a SessionOptions flag.
    for use_arena in (False, True):
        sess = onnxkit.session(tiny, providers=("cpu", {"use_arena": use_arena}))
        assert sess.get_session_options().enable_cpu_mem_arena is use_arena


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"threads": 0}, r"session\(threads=...\) must be a positive integer; got 0"),
    ({"opt_level": "max"}, r"session\(opt_level=...\) must be one of 'disable'"),
    ({"options": {"bogus": 1}}, "not a SessionOptions setting"),
    ({"options": {"execution_mode": "fast"}}, "sequential"),
])
def test_bad_session_arguments(tiny, kwargs, match):
    with pytest.raises(ParameterError, match=match):
        onnxkit.session(tiny, **kwargs)


@pytest.mark.parametrize(("feeds", "match"), [
    ({"x": np.zeros((2, 5, 6), np.float32), "ids": np.zeros((2, 5), np.int64)},
     "missing input.*keep: bool\\[batch, length\\]"),
    ({"x": np.zeros((2, 5, 6), np.float32), "idz": 1, "keep": 1, "ids": 1}, "Did you mean 'ids'"),
    ({"x": np.zeros((2, 5, 6)), "ids": np.zeros((2, 5), np.int64),
      "keep": np.ones((2, 5), bool)}, "expects float32; got float64"),
    ({"x": np.zeros((2, 5), np.float32), "ids": np.zeros((2, 5), np.int64),
      "keep": np.ones((2, 5), bool)}, "expects rank 3"),
    ({"x": np.zeros((2, 5, 7), np.float32), "ids": np.zeros((2, 5), np.int64),
      "keep": np.ones((2, 5), bool)}, "size 6 at axis 2"),
    ({"x": np.zeros((2, 5, 6), np.float32), "ids": np.zeros((2, 4), np.int64),
      "keep": np.ones((2, 5), bool)}, "dim 'length' is 5 in input 'x' but 4"),
    ([1, 2, 3], "must be a dict"),
])
def test_bad_feeds_are_named(mixed, feeds, match):
    with pytest.raises(InputError, match=match):
        onnxkit.run(mixed, feeds)


def test_lists_are_converted_and_bare_arrays_accepted(tiny):
    out = onnxkit.run(tiny, {"x": [[1.0, 2.0, 3.0, 4.0]]})
    assert np.array_equal(out["y"], onnxkit.run(tiny, np.array([[1, 2, 3, 4]], np.float32))["y"])


def test_nan_outputs_pass_through(tiny):
    out = onnxkit.run(tiny, {"x": np.full((1, 4), np.nan, np.float32)})
    assert np.isnan(out["y"]).all()


def test_a_model_ort_refuses_is_a_session_error(tmp_path):
    bad = make_model([helper.make_node("Foo", ["x"], ["y"], domain="com.acme")],
                     [("x", TensorProto.FLOAT, [1])], [("y", TensorProto.FLOAT, [1])],
                     domains=["com.acme"])
    with pytest.raises(SessionError, match="could not create a session.*Foo"):
        onnxkit.session(save(bad, tmp_path / "bad.onnx"))


def test_a_failure_inside_the_graph_is_a_session_error(tmp_path):
    # Reshape to a size the data cannot have: only found while running.
    model = make_model([helper.make_node("Reshape", ["x", "s"], ["y"])],
                       [("x", TensorProto.FLOAT, ["n"]), ("s", TensorProto.INT64, [1])],
                       [("y", TensorProto.FLOAT, ["m"])])
    path = save(model, tmp_path / "reshape.onnx")
    with pytest.raises(SessionError, match="running 'reshape' failed"):
        onnxkit.run(path, {"x": np.zeros(6, np.float32), "s": np.array([4])})
