"""One way to validate parameters, one message shape; audited over the whole kernel."""

from __future__ import annotations

import ast
import builtins
from pathlib import Path

import pytest

from onnxkit.base import boolean, integer, names, number, one_of
from onnxkit.errors import ParameterError

PACKAGE = Path(__file__).resolve().parents[2] / "onnxkit"


@pytest.mark.parametrize(("call", "message"), [
    (lambda: integer(True, "sweep", "rounds"),
     r"^sweep\(rounds=...\) must be a positive integer; got True\.$"),
    (lambda: integer(7, "profile", "runs", high=5),
     r"^profile\(runs=...\) must be an integer in 1..5; got 7\.$"),
    (lambda: number(float("nan"), "compare", "rtol", low=0),
     r"^compare\(rtol=...\) must be a finite number >= 0; got nan\.$"),
    (lambda: boolean(1, "benchmark", "io_binding"),
     r"^benchmark\(io_binding=...\) must be True or False; got 1\.$"),
    (lambda: one_of("entrpy", ("minmax", "entropy"), "static", "method"),
     r"^static\(method=...\) must be one of 'minmax', 'entropy'; got 'entrpy'\. "
     r"Fix: did you mean 'entropy'\?$"),
    (lambda: names("a", "extract", "outputs"), r"^extract\(outputs=...\) must be a list"),
    (lambda: names(["a", "a"], "extract", "outputs"), r"each item once.*Fix: remove"),
])
def test_one_message_shape(call, message):
    with pytest.raises(ParameterError, match=message):
        call()


def test_checks_return_the_normalized_value():
    import numpy as np

    assert integer(np.int64(3), "f", "n") == 3 and type(integer(np.int64(3), "f", "n")) is int
    assert one_of("QDQ", ("qdq",), "static", "format", ignore_case=True) == "qdq"
    assert number(1, "f", "x") == 1.0


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)
            and getattr(n.func, "id", getattr(n.func, "attr", None)) == name]


def _leading_text(node: ast.AST) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    return ""


KERNEL = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", KERNEL, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_parameter_error_names_where(path):
    """``function(param=...)``, ``Class.method: ...``, ``Panel: ...`` or ``onnxkit cmd ...``."""
    for call in _calls(ast.parse(path.read_text()), "ParameterError"):
        if not call.args or not isinstance(call.args[0], (ast.Constant, ast.JoinedStr)):
            continue  # built by a helper (checks.message, the view's port message...)
        text = _leading_text(call.args[0]).replace("{}(", "where(", 1)
        assert text.startswith("onnxkit ") or \
            (head := text.split("(")[0].split(":")[0]).replace(".", "").replace("_", "") \
            .isalnum() and head and ("(" in text or ":" in text), \
            f"{path.name}:{call.lineno}: ParameterError should name its function: {text[:60]!r}"


def _handled(raise_node: ast.Raise, parents: dict[ast.AST, ast.AST], name: str) -> bool:
    node = raise_node
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.Try) and any(
                h.type is None or name in ast.unparse(h.type) or "Exception" in ast.unparse(h.type)
                for h in node.handlers):
            return True
    return False


@pytest.mark.parametrize("path", KERNEL, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_bare_builtin_error_escapes(path):
    """A caller gets an onnxkit.errors exception, never a bare ValueError/KeyError..."""
    tree = ast.parse(path.read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    # internal contracts, and the module __getattr__ protocol's AttributeError
    allowed = {"NotImplementedError", "AssertionError", "StopIteration", "AttributeError"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            name = getattr(node.exc.func, "id", "")
            builtin = isinstance(getattr(builtins, name, None), type) and \
                issubclass(getattr(builtins, name), BaseException)
            if builtin and name not in allowed:
                assert _handled(node, parents, name), \
                    f"{path.name}:{node.lineno} raises a bare {name}"
