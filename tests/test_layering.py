"""The tree reads like the course: each stage imports only the stages before it.

Read from the source (nothing is imported): every ``import`` of an onnxkit module, where it
stands and what it reaches. Panels and the CLI use the public API only; no import circles; no
onnxkit import hidden inside a function except of a module that pulls in a heavy framework.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "onnxkit"
# The stages in course order; a module may import its own stage and the ones before it.
TIERS: list[set[str]] = [
    {"errors", "_version", "_publish"},
    {"results"},
    {"base"},
    {"models"},
    {"inspect"},
    {"runtime"},  # run: providers, sessions, feeds
    {"bench"},  # measure: benchmark, measure, sweep, profile, compare, evaluate
    {"bundled"},  # the runtime a bundle carries: written by deploy, run by serve
    {"transforms"},
    {"compose"},  # the whole pipeline in one graph (pre-/post-processing, chains, ensembles)
    {"prune"},
    {"convert", "quantize"},
    {"llm"},  # decoders with a KV cache, int4, generation
    {"samples"},
    {"deploy"},  # bundles, their checks on other platforms: what study(platforms=) runs
    {"study", "_view"},
    {"serve", "cluster"},
    {"_demo", "cli"},
    {"widgets", "__main__"},
]
# What panels and the CLI may import: the front door, its public subpackages, the widget base.
PUBLIC = {"onnxkit", "onnxkit.errors", "onnxkit.results", "onnxkit.convert", "onnxkit.quantize",
          "onnxkit.deploy", "onnxkit.samples", "onnxkit.serve", "onnxkit.cluster",
          "onnxkit.prune", "onnxkit.llm", "onnxkit.compose", "onnxkit.widgets._base",
          "onnxkit._version"}
HEAVY = ("torch", "tensorflow", "keras", "ray", "sklearn", "transformers",
         "starlette")
# A package may name what moved to a later stage, read lazily in a module __getattr__ (so the
# names users type keep working): (package, the stage it forwards to).
FORWARDS = {("onnxkit.quantize", "onnxkit.study")}
MAX_LINES = 420  # "about 400": one concern per module


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None  # None: the front door itself


def _rank(module: str) -> int:
    stage = _stage(module)
    return next(i for i, tier in enumerate(TIERS) if stage in tier)


def _imports(module: str) -> list[tuple[str, bool, bool]]:
    """(imported onnxkit module, inside a function, under TYPE_CHECKING) for each import."""
    tree = ast.parse(MODULES[module].read_text())
    found: list[tuple[str, bool, bool]] = []

    def visit(node: ast.AST, in_function: bool, typing_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ImportFrom) and child.level == 0 and child.module and \
                    child.module.split(".")[0] == "onnxkit":
                for alias in child.names:  # `from onnxkit.x import y`: y may be a module
                    name = f"{child.module}.{alias.name}"
                    found.append((name if name in MODULES else child.module, in_function,
                                  typing_only))
            elif isinstance(child, ast.Import):
                found.extend((a.name, in_function, typing_only) for a in child.names
                             if a.name.split(".")[0] == "onnxkit")
            typing = typing_only or (isinstance(child, ast.If) and "TYPE_CHECKING" in
                                     ast.unparse(child.test))
            visit(child, in_function or isinstance(
                child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)), typing)

    visit(tree, False, False)
    return found


def _imports_heavy_framework(module: str) -> bool:
    tree = ast.parse(MODULES[module].read_text())
    names = [a.name for n in tree.body if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in tree.body if isinstance(n, ast.ImportFrom)]
    return any(name.split(".")[0] in HEAVY for name in names)


def test_every_module_belongs_to_a_stage():
    stages = {s for tier in TIERS for s in tier}
    assert {_stage(m) for m in MODULES} - {None} <= stages


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_to_earlier_stages_only(module):
    if _stage(module) is None:
        return  # the front door names every stage, lazily
    upward = [(target, _stage(target)) for target, _, typing_only in _imports(module)
              if not typing_only and _stage(target) is not None
              and _rank(target) > _rank(module) and (module, target) not in FORWARDS]
    assert not upward, f"{module} imports later stages: {upward}"
    sideways = [target for target, _, typing_only in _imports(module)
                if not typing_only and _stage(target) not in (None, _stage(module))
                and _rank(target) == _rank(module)]
    assert not sideways, f"{module} imports a stage of its own tier: {sideways}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_kernel_import_hides_in_a_function(module):
    hidden = [target for target, in_function, _ in _imports(module) if in_function
              and not (target in MODULES and _imports_heavy_framework(target))
              and (module, target) not in FORWARDS]
    assert not hidden, (f"{module} imports {hidden} inside a function: import at the top (a "
                        "circle means a shared piece belongs in an earlier module)")


def test_no_import_circles():
    graph: dict[str, set[str]] = defaultdict(set)
    for module in MODULES:
        for target, _, typing_only in _imports(module):
            if not typing_only and target in MODULES and target != module \
                    and (module, target) not in FORWARDS:  # lazy: read on first use only
                graph[module].add(target)
    state: dict[str, int] = {}  # 1 on the path, 2 done

    def walk(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path + [node, nxt]
            if nxt not in state and (cycle := walk(nxt, path + [node])):
                return cycle
        state[node] = 2
        return None

    for module in sorted(MODULES):
        cycle = walk(module, []) if module not in state else None
        assert cycle is None, f"import circle: {' -> '.join(cycle or [])}"


@pytest.mark.parametrize("module", [m for m in sorted(MODULES)
                                    if _stage(m) in ("widgets", "cli") or m == "onnxkit.cli"])
def test_panels_and_cli_use_the_public_api(module):
    own = _stage(module)
    allowed = PUBLIC | ({"onnxkit.base"} if module == "onnxkit.widgets" else set())
    private = [target for target, _, _ in _imports(module)  # the package gives its panels
               if target not in allowed and _stage(target) != own]  # their home (publish)
    assert not private, f"{module} imports private kernel modules: {private}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_stay_small(module):
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines: split it by concern"


# Cross-stage imports of private modules that remain, each to be removed (never added to).
PRIVATE_DEBT: set[tuple[str, str]] = set()


def _private(target: str) -> bool:
    return any(part.startswith("_") and part != "__init__" for part in target.split(".")[2:])


def test_no_stage_imports_another_stages_private_modules():
    found = {(module, target) for module in MODULES for target, _, _ in _imports(module)
             if _stage(target) not in (None, _stage(module)) and _private(target)
             and target in MODULES}
    assert found <= PRIVATE_DEBT, sorted(found - PRIVATE_DEBT)
    assert not PRIVATE_DEBT - found, f"paid off, remove from PRIVATE_DEBT: {PRIVATE_DEBT - found}"
