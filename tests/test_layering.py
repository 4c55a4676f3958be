"""The package's layering (issue 13), read from the source: every import, lazy ones inside
functions included, parsed with ``ast``.

    core <- designs <- {networks, peers, explore, latency, analysis, spaces} <- {validation, report} <- cli

No import cycles; nothing outside ``costmodel/cli/`` imports the CLI; a design file imports only
the core (and outside libraries).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "costmodel"


def _module_name(path: Path) -> str:
    parts = ("costmodel",) + path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in ROOT.rglob("*.py")}


def _owner(name: str) -> str | None:
    """The module of ours that ``name`` (a module or module.attribute) lives in."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str) -> set[str]:
    """Every module of ours that ``module`` imports, at any depth of its code."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    tree = ast.parse(path.read_text())
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and getattr(block.test, "id", None) == "TYPE_CHECKING" for n in ast.walk(block)}
    for node in ast.walk(tree):
        if id(node) in typing_only:  # `if TYPE_CHECKING:` imports never run
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            owner = _owner(target) if target.split(".")[0] == "costmodel" else None
            if owner and owner != module:
                found.add(owner)
    # "from costmodel.x import y" names both costmodel.x and (if it is a module) costmodel.x.y;
    # the package itself is only imported when nothing deeper matched
    return {m for m in found if not any(o.startswith(m + ".") for o in found) or m == "costmodel.cli"}


GRAPH = {m: imports_of(m) for m in MODULES}


def _cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in GRAPH:
        if v not in index:
            visit(v)
    return out


def test_the_parser_sees_lazy_and_relative_imports():
    # core/spec.py imports .fields at the top; cli/designs.py imports ..validation inside a function
    assert "costmodel.core.fields" in GRAPH["costmodel.core.spec"]
    assert "costmodel.validation" in GRAPH["costmodel.cli.designs"]


def test_no_import_cycles():
    assert _cycles() == []


def test_only_the_cli_imports_the_cli():
    offenders = {m: sorted(t for t in deps if t == "costmodel.cli" or t.startswith("costmodel.cli."))
                 for m, deps in GRAPH.items() if not (m == "costmodel.cli" or m.startswith("costmodel.cli."))
                 and m != "costmodel.__main__"}
    assert {m: d for m, d in offenders.items() if d} == {}


@pytest.mark.parametrize("design_file", sorted(m for m in MODULES if m.startswith("costmodel.designs.")))
def test_a_design_file_imports_only_the_core(design_file):
    beyond = sorted(d for d in GRAPH[design_file] if not d.startswith("costmodel.core"))
    assert beyond == [], f"{design_file} imports {beyond}"


def test_the_core_imports_nothing_above_it():
    for module, deps in GRAPH.items():
        if module.startswith("costmodel.core"):
            assert all(d.startswith("costmodel.core") for d in deps), (module, deps)


TIERS = {"core": 0, "designs": 1, "networks": 2, "peers": 2, "analysis": 2, "explore": 2, "latency": 2,
         "spaces": 2, "validation": 3, "papers": 3, "htmlreport": 3, "cli": 4}
"""The dependency rule of the module docstring as tiers: a module imports only its own tier and below
(the package's ``__init__`` and ``__main__`` sit on top)."""


def _tier(module: str) -> int:
    parts = module.split(".")
    return TIERS.get(parts[1], 5) if len(parts) > 1 else 5


def test_every_package_has_a_tier():
    tops = {m.split(".")[1] for m in MODULES if m.count(".")} - {"__main__"}
    assert tops <= set(TIERS), sorted(tops - set(TIERS))


def test_nothing_imports_upward():
    upward = sorted((m, d) for m, deps in GRAPH.items() for d in deps if _tier(d) > _tier(m))
    assert upward == []
