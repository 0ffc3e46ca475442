"""The front door: the public names are a contract (both ways), and importing onnxkit stays
cheap (after onnx-ir's public-API test)."""

from __future__ import annotations

import importlib
import inspect
import json
import subprocess
import sys
import types

import pytest

import onnxkit

# Grows with each capability; a name may only leave through a deprecation alias.
PUBLIC = {
    "load", "Model", "ModelLike", "Step", "summarize", "ModelSummary", "TensorInfo", "check",
    "CheckReport", "Problem", "random_inputs", "workspace", "set_workspace", "Workspace",
    "errors", "samples", "widgets", "results", "__version__",
    "providers", "session", "run", "placement", "NodePlacement", "compare", "Comparison",
    "benchmark", "BenchResult", "profile", "OpProfile", "optimize", "fuse_transformer", "to_fp16",
    "fix_dims", "make_dynamic", "infer_shapes", "extract", "has_attention", "quantize",
    "convert", "view", "graph_view", "NetronView", "GraphView", "stop_views",
    "Study", "Variant", "Choice", "sweep", "SweepResult", "provider_options", "OptionSpec",
    "deploy", "serve", "cluster", "prune", "evaluate", "Evaluation", "demo", "DemoReport",
    "OPT_LEVELS", "EXECUTION_MODES", "OPTIMIZE_LEVELS", "FUSION_MODEL_TYPES",
}
QUANTIZE = {"dynamic", "static", "weight_only", "debug", "LayerErrors", "prepare", "assess",
            "QuantAssessment", "Cancelled", "METHODS", "FORMATS", "MODES", "tune", "TuningResult",
            "Candidate", "preflight", "Preflight"}
# Every public package and the home its names read as.
PACKAGES = ["onnxkit", "onnxkit.convert", "onnxkit.quantize", "onnxkit.deploy",
            "onnxkit.widgets", "onnxkit.errors", "onnxkit.results", "onnxkit.samples",
            "onnxkit.serve", "onnxkit.cluster", "onnxkit.prune", "onnxkit.llm"]


def _public_objects(package: str) -> list[tuple[str, object]]:
    module = importlib.import_module(package)
    return [(name, getattr(module, name)) for name in module.__all__]


def test_the_contract_names_are_exported():
    assert PUBLIC <= set(onnxkit.__all__)
    assert QUANTIZE <= set(onnxkit.quantize.__all__)


@pytest.mark.parametrize("package", PACKAGES)
def test_every_listed_name_exists_and_is_documented(package):
    for name, obj in _public_objects(package):
        if inspect.isclass(obj) or inspect.isfunction(obj) or isinstance(obj, types.ModuleType):
            assert (obj.__doc__ or "").strip(), f"{package}.{name} has no docstring"


@pytest.mark.parametrize("package", PACKAGES)
def test_no_public_name_leaks_unlisted(package):
    module = importlib.import_module(package)
    for name, _ in _public_objects(package):  # load every lazy name first
        assert hasattr(module, name)
    unlisted = [name for name in dir(module) if not name.startswith("_")
                and name not in module.__all__
                and not _is_submodule(getattr(module, name), package)]
    assert not unlisted, f"{package} shows names its __all__ does not list: {unlisted}"


def _is_submodule(obj: object, package: str) -> bool:
    return isinstance(obj, types.ModuleType) and obj.__name__.startswith(package + ".")


@pytest.mark.parametrize("package", PACKAGES)
def test_public_objects_read_as_their_public_home(package):
    """``onnxkit.Model``, not ``onnxkit.models._handle.Model``: the module an object reads as
    is a public package that exports it (errors re-exported elsewhere stay errors')."""
    for name, obj in _public_objects(package):
        if inspect.isclass(obj) or inspect.isfunction(obj):
            home = obj.__module__
            assert home in PACKAGES and name in importlib.import_module(home).__all__, \
                f"{package}.{name} reads as {home}"


def test_public_objects_pickle_by_their_public_name():
    import pickle

    assert pickle.loads(pickle.dumps(onnxkit.Model)) is onnxkit.Model
    assert pickle.loads(pickle.dumps(onnxkit.convert.from_torch)) is onnxkit.convert.from_torch


def test_error_names_are_exported():
    for name in onnxkit.errors.__all__:
        assert issubclass(getattr(onnxkit.errors, name), onnxkit.errors.OnnxkitError)


HEAVY = ["torch", "tensorflow", "plotly", "ipywidgets", "pandas", "skl2onnx",
         "onnxruntime.quantization", "onnxruntime.transformers", "sklearn", "ray",
         "transformers"]


def test_import_is_cheap():
    code = ("import sys, json, onnxkit; "
            f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_the_kernel_stages_stay_cheap_too():
    """Touching the kernel (every stage a panel uses) still imports no framework."""
    code = ("import sys, json, onnxkit; onnxkit.Study; onnxkit.view; onnxkit.convert; "
            "onnxkit.quantize; onnxkit.deploy; "
            f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_thing"):
        onnxkit.no_such_thing  # noqa: B018


def test_type_checkers_see_every_lazy_name():
    """The TYPE_CHECKING imports in onnxkit/__init__.py list exactly the lazy exports."""
    import ast
    from pathlib import Path

    tree = ast.parse(Path(onnxkit.__file__).read_text())
    block = next(n for n in tree.body if isinstance(n, ast.If)
                 and "TYPE_CHECKING" in ast.unparse(n.test))
    seen = {(node.module, a.name) for node in ast.walk(block)
            if isinstance(node, ast.ImportFrom) for a in node.names}
    expected = {(f"onnxkit.{stage}", name) for name, stage in onnxkit._EXPORTS.items()}
    expected |= {("onnxkit", name) for name in onnxkit._SUBMODULES}
    assert seen == expected
