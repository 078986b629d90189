"""The catalog is the top of the import graph: only the entry points import it.

``followthrough/catalog.py`` imports every process; a foundation or a process that imported it
back would close a circle through the whole package (before: one strongly connected component
of 40 modules, api ↔ catalog ↔ processes ↔ commands). The scan reads every module's source (an
import inside a function or under ``if TYPE_CHECKING:`` counts too) and builds the graph of the
package's own imports.
"""

from __future__ import annotations

import ast
from pathlib import Path

import followthrough

PACKAGE = Path(followthrough.__file__).parent
ROOT = "followthrough.catalog"
#: The entry points, and why each may import the catalog.
ENTRY_POINTS = {
    "followthrough.cli": "the `followthrough` command: its groups and the workflow types",
    "followthrough.serve": "`dev`, `worker` and `api`: the product's app and worker",
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(source: str, module: str, is_package: bool) -> set[str]:
    """The package's own modules ``source`` names in an ``import`` or ``from`` (absolute or
    relative, at any depth)."""
    package = module if is_package else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in names if name == "followthrough" or name.startswith("followthrough.")}


def import_graph() -> dict[str, set[str]]:
    sources = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for module, path in sources.items():
        names = imported(path.read_text(), module, path.name == "__init__.py")
        graph[module] = {name for name in names if name in sources and name != module}
    return graph


def reaching(graph: dict[str, set[str]], target: str) -> set[str]:
    """Every module from which ``target`` is reachable by imports."""
    found: set[str] = set()
    frontier = [m for m, deps in graph.items() if target in deps]
    while frontier:
        module = frontier.pop()
        if module not in found:
            found.add(module)
            frontier.extend(m for m, deps in graph.items() if module in deps)
    return found


def test_only_the_entry_points_import_the_catalog() -> None:
    graph = import_graph()
    importers = {module for module, deps in graph.items() if ROOT in deps}
    assert importers <= set(ENTRY_POINTS), sorted(importers - set(ENTRY_POINTS))


def test_nothing_the_catalog_imports_leads_back_to_it() -> None:
    graph = import_graph()
    assert ROOT not in reaching(graph, ROOT)
    # Everything the catalog lists lies below it: no process module reaches the catalog.
    listed = {m for m in graph[ROOT] if m.startswith("followthrough.processes.")}
    assert listed, "the scan found none of the catalog's imports"
    assert not listed & reaching(graph, ROOT)


def test_the_scan_sees_an_import_inside_a_function() -> None:
    source = "def f():\n    from followthrough.catalog import catalog\n"
    assert ROOT in imported(source, "followthrough.api.app", is_package=False)
    relative = "from ..catalog import catalog\n"
    assert ROOT in imported(relative, "followthrough.api.app", is_package=False)


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan's, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        while work:
            module, deps = work[-1]
            for dep in deps:
                if dep not in index:
                    index[dep] = low[dep] = len(index)
                    stack.append(dep)
                    work.append((dep, iter(sorted(graph[dep]))))
                    break
                if dep in stack:
                    low[module] = min(low[module], index[dep])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[module])
                if low[module] == index[module]:
                    component = set()
                    while True:
                        member = stack.pop()
                        component.add(member)
                        if member == module:
                            break
                    if len(component) > 1:
                        found.append(component)
    return found


def test_no_module_imports_one_that_imports_it_back() -> None:
    """A package's ``__init__`` that imports its pages and a page that imports the package (for a
    sibling module: ``from followthrough.web import funnel``) were the last circle."""
    assert cycles(import_graph()) == []


def test_the_cycle_scan_finds_a_planted_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [{"a", "b", "c"}]
