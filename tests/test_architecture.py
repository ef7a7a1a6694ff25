"""The shape of the package, as docs/architecture.md's table draws it: each package imports
exactly what its row says it may (function-local and type-only imports included), nothing
imports in a cycle, and outside lab/platforms/ no module names a platform, reads a platform's
details or looks a platform's method up by name. The checker is shown to fail on each break it
exists to catch, planted in a copy of the tree."""

from __future__ import annotations

import ast
import functools
import json
import re
import shutil
from pathlib import Path

import pytest

from lab import platforms

ROOT = Path(__file__).resolve().parent.parent
NAMES = frozenset(platforms.PLATFORMS)
# Where naming a platform is a platform's own business: its package and the registry, and the
# configuration, which renders the settings only some platforms serve.
NAMING_ALLOWED = ("lab/platforms/", "lab/config/")

Rows = dict[str, tuple[frozenset[str], frozenset[str]]]  # first package: (members, may import)


def table(doc: Path) -> Rows:
    """The Packages table of docs/architecture.md: each row's packages and what they may import
    (backticked names; a bare one in the first cell, like `errors`, is a module of `lab`)."""
    text = doc.read_text().split("## Packages", 1)[1].split("\n## ", 1)[0]
    rows: Rows = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        members = [n if n.startswith("lab") else f"lab.{n}" for n in _ticked(cells[0])]
        allowed = [n for n in _ticked(cells[2]) if n.startswith("lab")]
        rows[members[0]] = (frozenset(members), frozenset(allowed))
    return rows


def _ticked(cell: str) -> list[str]:
    return re.findall(r"`([A-Za-z_.]+)`", cell)


@functools.cache
def _parsed(text: str) -> ast.Module:
    """Each text parsed once: a planted break changes one file of a copy, not the others."""
    return ast.parse(text)


def parse(path: Path) -> ast.Module:
    return _parsed(path.read_text())


def modules(lab: Path) -> dict[str, Path]:
    def name(path: Path) -> str:
        parts = path.relative_to(lab.parent).with_suffix("").parts
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    return {name(p): p for p in lab.rglob("*.py")}


def imports(name: str, found_in: dict[str, Path]) -> set[str]:
    """Every lab module `name` imports, anywhere in the file (functions, TYPE_CHECKING too)."""
    package = name if found_in[name].name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for base, alias in _imported(found_in[name].read_text(), package):
        # `from lab.x import y` imports the module lab.x.y when there is one.
        found.add(f"{base}.{alias}" if alias and f"{base}.{alias}" in found_in else base)
    return {m for m in found if m in found_in and m != name}


@functools.cache
def _imported(text: str, package: str) -> tuple[tuple[str, str], ...]:
    """(module, name imported from it, or "") of every import statement in `text`."""
    found: list[tuple[str, str]] = []
    for node in ast.walk(_parsed(text)):
        if isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            found += [(base, alias.name) for alias in node.names]
    return tuple(found)


def graph(lab: Path) -> dict[str, set[str]]:
    found_in = modules(lab)
    return {name: imports(name, found_in) for name in found_in}


def row_of(name: str, rows: Rows) -> str | None:
    """The row whose package holds module `name` (`lab` itself holds only lab/__init__.py)."""
    best = ""
    for key, (members, _) in rows.items():
        for member in members:
            inside = name == member or (member != "lab" and name.startswith(member + "."))
            if inside and len(member) > len(best):
                best, found = member, key
    return found if best else None


def table_problems(root: Path, edges: dict[str, set[str]]) -> list[str]:
    """Imports the table does not allow, and permissions it gives that nothing uses."""
    rows = table(root / "docs" / "architecture.md")
    wrong = [f"{name} is in no row of docs/architecture.md" for name in edges
             if row_of(name, rows) is None]  # fmt: skip
    used: dict[str, set[str]] = {key: set() for key in rows}
    for name, targets in edges.items():
        mine = row_of(name, rows)
        for target in targets:
            theirs = row_of(target, rows)
            if mine is None or theirs is None or theirs == mine:
                continue
            used[mine].add(theirs)
            if theirs not in rows[mine][1]:
                wrong.append(f"{name} imports {target}: not in {mine}'s may-import list")
    for key, (_, allowed) in rows.items():
        if unused := sorted(allowed - used[key]):
            wrong.append(f"{key} may import {unused} by the table, and does not: out of date")
    return wrong


def cycle_problems(edges: dict[str, set[str]]) -> list[str]:
    done: set[str] = set()
    path: list[str] = []
    found: list[str] = []

    def visit(name: str) -> None:
        if name in path:
            found.append("import cycle: " + " -> ".join([*path[path.index(name) :], name]))
            return
        if name in done:
            return
        path.append(name)
        for target in sorted(edges[name]):
            visit(target)
        path.pop()
        done.add(name)

    for name in sorted(edges):
        visit(name)
    return found


@functools.cache  # by tree: one per text (_parsed)
def platform_names(tree: ast.Module) -> list[int]:
    """Lines where a platform's name is a string used as a value: compared, listed, passed,
    assigned; not a dict key or subscript (a scenario's "kind" is not the kind platform)."""
    keys: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            keys.update(id(k) for k in node.keys if k is not None)
        elif isinstance(node, ast.Subscript):
            keys.add(id(node.slice))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and node.value in NAMES and id(node) not in keys
    ]


def _outside_platforms(root: Path) -> list[tuple[str, ast.Module]]:
    files = sorted((root / "lab").rglob("*.py"))
    return [
        (str(path.relative_to(root)), parse(path))
        for path in files
        if not str(path.relative_to(root)).startswith("lab/platforms/")
    ]


def naming_problems(root: Path) -> list[str]:
    return [
        f"{where}:{line}: names a platform; ask lab.platforms (a capability) instead"
        for where, tree in _outside_platforms(root)
        if not where.startswith(NAMING_ALLOWED)
        for line in platform_names(tree)
    ]


def details_problems(root: Path) -> list[str]:
    """`state.details[...]` or `.details.get(...)` outside lab/platforms: a platform's facts
    are read through lab.platforms.details, typed."""
    wrong = []
    for where, tree in _outside_platforms(root):
        if where == "lab/stack/state.py":  # the state file itself carries them
            continue
        wrong += [f"{where}:{line}: reads a platform's details untyped" for line in _reads(tree)]
    return wrong


@functools.cache
def _reads(tree: ast.Module) -> list[int]:
    found = []
    for node in ast.walk(tree):
        read = isinstance(node, ast.Subscript) and _is_details(node.value)
        got = isinstance(node, ast.Attribute) and node.attr in ("get", "setdefault")
        if read or (got and _is_details(node.value)):  # type: ignore[attr-defined]
            found.append(node.lineno)
    return found


def _is_details(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "details"


def lookup_problems(root: Path) -> list[str]:
    """getattr or hasattr naming a platform's method outside lab/platforms: what a platform
    offers is the Platform protocol (or a declared capability), not found by name."""
    methods = {
        name
        for path in (root / "lab" / "platforms").rglob("*.py")
        for name in _methods(parse(path))
    }
    return [
        f"{where}:{line}: {how} finds a platform's {name} by name"
        for where, tree in _outside_platforms(root)
        for line, how, name in _lookups(tree)
        if name in methods
    ]


@functools.cache
def _methods(tree: ast.Module) -> set[str]:
    return {
        item.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        for item in node.body
        if isinstance(item, ast.FunctionDef) and not item.name.startswith("_")
    }


@functools.cache
def _lookups(tree: ast.Module) -> list[tuple[int, str, object]]:
    """(line, getattr or hasattr, the name) of each lookup by a literal name."""
    return [
        (node.lineno, node.func.id, node.args[1].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        and node.func.id in ("getattr", "hasattr") and len(node.args) > 1
        and isinstance(node.args[1], ast.Constant)
    ]  # fmt: skip


def problems(root: Path) -> list[str]:
    edges = graph(root / "lab")
    return [
        *table_problems(root, edges),
        *cycle_problems(edges),
        *naming_problems(root),
        *details_problems(root),
        *lookup_problems(root),
    ]


def test_the_tree_keeps_the_architecture_the_doc_draws() -> None:
    assert problems(ROOT) == []


def test_the_checker_sees_local_and_type_only_imports() -> None:
    """The rules are only as good as the graph: a function-local import must be in it."""
    edges = graph(ROOT / "lab")
    assert "lab.load.lifecycle" in edges["lab.commands.stack"]  # inside _up
    assert "lab.platforms.plan" in edges["lab.platforms.protocol"]  # under TYPE_CHECKING


def test_each_platform_package_has_its_own_row() -> None:
    rows = table(ROOT / "docs" / "architecture.md")
    packages = {p.parent.name for p in (ROOT / "lab" / "platforms").glob("*/__init__.py")}
    assert {f"lab.platforms.{name}" for name in packages} <= set(rows)
    for name in packages:
        assert f"lab.platforms.{name}" in rows["lab.platforms"][1]  # the registry reads it


# Each break the architecture once had (issue #35), as an edit of a copy of the tree: (file,
# text there, text it becomes, what the checker says).
BREAKS = {
    "load imports a platform's package": (
        "lab/load/lifecycle.py", "from lab.platforms import Plan, Platform\n",
        "from lab.platforms import Plan, Platform\nfrom lab.platforms.kube import loadgen\n",
        "lab.load.lifecycle imports lab.platforms.kube.loadgen",
    ),
    "monitor imports kube's port-forward": (
        "lab/monitor.py", "from lab.stack import state\n",
        "from lab.platforms.kube import portforward\nfrom lab.stack import state\n",
        "lab.monitor imports lab.platforms.kube.portforward",
    ),
    "monitor reads kube's details keys": (
        "lab/monitor.py", "    endpoints = current.require_endpoints()\n",
        "    endpoints = current.require_endpoints()\n    print(current.details['namespace'])\n",
        "lab/monitor.py:",
    ),
    "cli imports compose's images": (
        "lab/commands/stack.py", "    platforms.build_images(args.names, dry_run=args.dry_run)\n",
        "    from lab.platforms.compose import images\n\n    images.build(args.names)\n",
        "lab.commands.stack imports lab.platforms.compose.images",
    ),
    "resilience reads details['drains']": (
        "lab/load/resilience.py", "platforms.details(current).drains",
        'current.details.get("drains", [])', "lab/load/resilience.py:",
    ),
    "lifecycle branches on the local platform": (
        "lab/load/lifecycle.py", "platforms.can(existing.platform, ONLY_PROCESSES)",
        'existing.platform == "local"', ": names a platform; ask lab.platforms",
    ),
    "restart_router found with getattr": (
        "lab/load/lifecycle.py", "platforms.get(current.platform).restart_router(",
        'getattr(platforms.get(current.platform), "restart_router")(',
        "getattr finds a platform's restart_router by name",
    ),
    "a list of platform names copied": (
        "lab/load/levels.py", "def processes(",
        'ENGINES_HERE = ("local", "compose", "kind", "minikube")\n\n\ndef processes(',
        "lab/load/levels.py:",
    ),
    "a package importing one its row does not list": (
        "lab/compare/pick.py", "from __future__ import annotations\n",
        "from __future__ import annotations\n\nfrom lab.stack import state\n",
        "lab.compare.pick imports lab.stack.state: not in lab.compare's may-import list",
    ),
    "a platform importing a sibling": (
        "lab/platforms/kube/loadgen.py", "from lab.config import values\n",
        "from lab.config import values\nfrom lab.platforms.compose import images\n",
        "lab.platforms.kube.loadgen imports lab.platforms.compose.images",
    ),
    "a permission nothing uses": (
        "docs/architecture.md", "| `lab`, `lab.stack`, `lab.platforms` |",
        "| `lab`, `lab.stack`, `lab.platforms`, `lab.results` |", "and does not: out of date",
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", BREAKS)
def test_the_checker_fails_on_each_break_planted_in_a_copy(tmp_path: Path, name: str) -> None:
    where, before, after, said = BREAKS[name]
    shutil.copytree(ROOT / "lab", tmp_path / "lab", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "docs").mkdir()
    shutil.copy(ROOT / "docs" / "architecture.md", tmp_path / "docs")
    assert problems(tmp_path) == []  # the copy is as good as the tree
    file = tmp_path / where
    assert file.read_text().count(before) == 1, f"{where} no longer holds {before!r}"
    file.write_text(file.read_text().replace(before, after))
    found = problems(tmp_path)
    assert any(said in problem for problem in found), found


# Every file that names a platform (as a value; a tool of the same name counts too). A new
# platform adds its package's files under lab/platforms/, one entry in the registry
# (lab/platforms/__init__.py) and its name in the schemas' enums: nothing else here changes.
NAMING = {
    "lab/config/values.py",
    "lab/platforms/__init__.py",
    "lab/platforms/attach/__init__.py",
    "lab/platforms/attach/platform.py",
    "lab/platforms/compose/__init__.py",
    "lab/platforms/compose/composefile.py",
    "lab/platforms/compose/details.py",
    "lab/platforms/compose/images.py",
    "lab/platforms/compose/platform.py",
    "lab/platforms/kube/__init__.py",
    "lab/platforms/kube/existing.py",
    "lab/platforms/kube/gpu.py",
    "lab/platforms/kube/kind.py",
    "lab/platforms/kube/loadgen.py",
    "lab/platforms/kube/minikube.py",
    "lab/platforms/kube/prereqs.py",
    "lab/platforms/local/__init__.py",
    "lab/platforms/local/platform.py",
    "schemas/lab-profile.schema.json",
    "schemas/lab-state.schema.json",
    "schemas/run-manifest.schema.json",
}


def test_the_files_that_name_a_platform_are_these() -> None:
    found = {
        str(path.relative_to(ROOT))
        for path in (ROOT / "lab").rglob("*.py")
        if platform_names(parse(path))
    }
    found |= {
        str(path.relative_to(ROOT))
        for path in (ROOT / "schemas").glob("*.json")
        if _enums_name_a_platform(json.loads(path.read_text()))
    }
    assert found == NAMING


def _enums_name_a_platform(node: object) -> bool:
    if isinstance(node, dict):
        enum = node.get("enum")
        if isinstance(enum, list) and len(NAMES & set(enum)) > 1:  # ("local" alone: a source)
            return True
        return any(_enums_name_a_platform(value) for value in node.values())
    if isinstance(node, list):
        return any(_enums_name_a_platform(value) for value in node)
    return False


def test_every_capability_a_platform_declares_has_what_stands_behind_it() -> None:
    from lab.platforms import protocol as facts

    hooks = {
        facts.CLUSTER_WORKERS: ("worker_problems", "workers"),
        facts.MONITORING: ("monitor",),
        facts.IMAGES: ("build_images",),
    }
    for entry in platforms.DECLARED:
        for capability, needed in hooks.items():
            present = [getattr(entry.hooks, hook) is not None for hook in needed]
            assert all(present) == (capability in entry.capabilities), (entry.name, capability)
            assert any(present) == all(present), (entry.name, capability)
