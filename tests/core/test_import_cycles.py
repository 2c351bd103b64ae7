"""No import cycle among the core's packages, read from the source (not by importing it).

Every `import` and `from ... import` in `core/src/clientela` counts, at module level or
inside a function (a lazy import is still a dependency), except those under
`if TYPE_CHECKING:`, which never run. A module belongs to its top-level package
(`clientela.kpi.engine` -> `kpi`; a top-level module such as `clientela.plugins` is its
own node), except the plugin contracts, `clientela.<kind>.api`, which are a layer of their
own below everything: the registry and every package may import them, and they import
nothing that imports back. A cycle between two nodes fails the test with the modules whose
imports make it, so the fix can start there.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "core" / "src"
PACKAGE = "clientela"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def node_of(module: str) -> str | None:
    """The package a module belongs to for this check; None for the root package itself."""
    parts = module.split(".")
    if len(parts) < 2:
        return None
    if len(parts) >= 3 and parts[2] == "api":
        return f"{parts[1]}.api"
    return parts[1]


def _type_checking_only(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for found in ast.walk(tree):
        if isinstance(found, ast.If):
            test = found.test
            if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
                    isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"):
                skipped.update(id(child) for statement in found.body
                               for child in ast.walk(statement))
    return skipped


def imports_of(path: Path, root: Path) -> Iterator[str]:
    """The `clientela...` modules a file imports (a name imported from a package counts as
    its submodule when one exists)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_checking_only(tree)
    for found in ast.walk(tree):
        if id(found) in skipped:
            continue
        if isinstance(found, ast.Import):
            yield from (alias.name for alias in found.names)
        elif isinstance(found, ast.ImportFrom) and found.module and found.level == 0:
            for alias in found.names:
                sub = f"{found.module}.{alias.name}"
                as_path = root / sub.replace(".", "/")
                is_module = as_path.with_suffix(".py").exists() or (as_path / "__init__.py").exists()
                yield sub if is_module else found.module


def dependency_graph(root: Path, package: str) -> dict[str, dict[str, set[str]]]:
    """node -> node it imports -> modules whose imports make that edge."""
    graph: dict[str, dict[str, set[str]]] = {}
    for path in sorted((root / package).rglob("*.py")):
        module = module_name(path, root)
        source = node_of(module)
        for target in imports_of(path, root):
            if target != package and not target.startswith(package + "."):
                continue
            goal = node_of(target)
            if source is None or goal is None or goal == source:
                continue
            graph.setdefault(source, {}).setdefault(goal, set()).add(module)
    return graph


def cycles(graph: dict[str, dict[str, set[str]]]) -> list[list[str]]:
    """Strongly connected groups of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for goal in graph.get(node, {}):
            if goal not in index:
                visit(goal)
                low[node] = min(low[node], low[goal])
            elif goal in on_stack:
                low[node] = min(low[node], index[goal])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    nodes = sorted(set(graph) | {goal for edges in graph.values() for goal in edges})
    for node in nodes:
        if node not in index:
            visit(node)
    return found


def explain(graph: dict[str, dict[str, set[str]]], group: list[str]) -> str:
    return "; ".join(f"{a} -> {b} ({', '.join(sorted(graph[a][b]))})"
                     for a in group for b in sorted(graph.get(a, {})) if b in group)


def test_the_core_packages_import_each_other_without_a_cycle() -> None:
    graph = dependency_graph(ROOT, PACKAGE)
    assert {"kpi", "segments", "webhooks", "sources.api"} <= set(graph)  # the walk saw them
    found = cycles(graph)
    assert not found, "import cycles: " + " | ".join(explain(graph, g) for g in found)


def test_a_cycle_is_reported_with_the_modules_that_make_it(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    for name, body in {
        "__init__.py": "",
        "a/__init__.py": "",
        "a/one.py": "def f():\n    from pkg.b import two\n",
        "a/api.py": "from pkg.b import two\n",
        "b/__init__.py": "",
        "b/two.py": "from typing import TYPE_CHECKING\nimport pkg.a.api\n"
                    "if TYPE_CHECKING:\n    from pkg.c import three\n",
        "c/__init__.py": "",
        "c/three.py": "from pkg.a import one\n",
    }.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(body)
    graph = dependency_graph(tmp_path, "pkg")
    assert graph == {"a": {"b": {"pkg.a.one"}}, "a.api": {"b": {"pkg.a.api"}},
                     "b": {"a.api": {"pkg.b.two"}}, "c": {"a": {"pkg.c.three"}}}
    assert cycles(graph) == [["a.api", "b"]]
    assert explain(graph, ["a.api", "b"]) == "a.api -> b (pkg.a.api); b -> a.api (pkg.b.two)"
