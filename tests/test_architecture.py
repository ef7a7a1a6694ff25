"""The shape of the package, as docs/architecture.md draws it: data flows one way, so no import
cycle (function-local and type-only imports included), no platform importing a sibling, and
each package importing only the layers below it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LAB = Path(__file__).resolve().parent.parent / "lab"

# Lowest first. A module may import anything in its own layer (cycles are refused apart) or a
# lower one. The foundation (errors, console, paths, runner, the version) is below everything.
LAYERS = [
    ("lab", "lab.errors", "lab.console", "lab.paths", "lab.runner"),
    ("lab.sim",),
    ("lab.config",),
    ("lab.inproc",),
    ("lab.stack",),
    ("lab.platforms",),
    ("lab.results",),
    ("lab.load",),
    ("lab.compare",),
    ("lab.monitor", "lab.cli", "lab.clidoc", "lab.__main__"),
]
# The simulated engine is a test and benchmark double: it stands alone.
ALONE = {"lab.sim"}
PLATFORMS = ("lab.platforms.local", "lab.platforms.compose", "lab.platforms.kube")


def module_name(path: Path) -> str:
    parts = path.relative_to(LAB.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in LAB.rglob("*.py")}


def imports(name: str) -> set[str]:
    """Every lab module `name` imports, anywhere in the file (functions, TYPE_CHECKING too)."""
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            for alias in node.names:
                # `from lab.x import y` imports the module lab.x.y when there is one.
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: imports(name) for name in MODULES}


def layer(name: str) -> int:
    best = (-1, -1)  # (length of the matching prefix, layer index)
    for index, members in enumerate(LAYERS):
        for member in members:
            if (name == member or name.startswith(member + ".")) and len(member) > best[0]:
                best = (len(member), index)
    assert best[1] >= 0, f"{name} is in no layer of tests/test_architecture.py"
    return best[1]


def owner(name: str) -> str:
    """The package a module belongs to for the layer rules (its layer's matching member)."""
    members = [m for group in LAYERS for m in group]
    return max((m for m in members if name == m or name.startswith(m + ".")), key=len)


def test_there_is_no_import_cycle() -> None:
    done: set[str] = set()
    path: list[str] = []

    def visit(name: str) -> None:
        if name in path:
            cycle = [*path[path.index(name) :], name]
            pytest.fail("import cycle: " + " -> ".join(cycle))
        if name in done:
            return
        path.append(name)
        for target in sorted(GRAPH[name]):
            visit(target)
        path.pop()
        done.add(name)

    for name in sorted(GRAPH):
        visit(name)


def test_no_platform_imports_a_sibling_platform() -> None:
    wrong = [
        f"{name} imports {target}"
        for name, targets in GRAPH.items()
        for target in targets
        for mine in PLATFORMS
        for other in PLATFORMS
        if mine != other and name.startswith(mine) and target.startswith(other)
    ]
    assert not wrong


def test_each_package_imports_only_layers_below_it() -> None:
    wrong = []
    for name, targets in GRAPH.items():
        for target in targets:
            if owner(target) == owner(name) or owner(target) == "lab":
                continue
            if owner(target) in ALONE or owner(name) in ALONE or layer(target) > layer(name):
                wrong.append(f"{name} imports {target}")
    assert not wrong, "\n".join(sorted(wrong))


def test_the_checker_sees_local_and_type_only_imports() -> None:
    """The rules are only as good as the graph: a function-local import must be in it."""
    assert "lab.platforms.local.platform" in GRAPH["lab.platforms"]
