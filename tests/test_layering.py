"""No import cycles inside brushwork, deferred imports (inside functions, TYPE_CHECKING) included.

Every module under src/brushwork is parsed with `ast` (nothing is imported), each import of a
brushwork module is resolved (relative imports too; `from pkg import name` counts as importing
`pkg.name` when that is a module, else `pkg`), and the module graph must have no cycle.
`from . import x` is an edge to the submodule `x` when there is one, else to the package's
`__init__` (whose names it takes): a package that imports a submodule which takes names from
the package is a cycle. The implicit import of the packages a module sits in (Python runs
`brushwork/__init__` before `brushwork.fast.train`) is not counted: only what the code names.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "brushwork"


def module_files() -> dict[str, Path]:
    """{dotted module name: file} for every module of the package."""
    found = {}
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The brushwork modules `module` imports anywhere in its file."""
    is_package = path.name == "__init__.py"
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    targets.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, is_package, node)
            if base.split(".")[0] != PACKAGE:
                continue
            for alias in node.names:
                child = f"{base}.{alias.name}"
                targets.add(child if child in modules else base)
    # The nearest enclosing module that exists (`import brushwork.fast.train` names a module;
    # an attribute import resolves to its module above).
    resolved = set()
    for target in targets:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        if target and target != module:
            resolved.add(target)
    return resolved


def import_graph() -> dict[str, set[str]]:
    modules = module_files()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def find_components(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One shortest cycle through each strongly connected component."""
    components = find_components(graph)
    return [_one_cycle(graph, set(component)) for component in components]


def describe(graph: dict[str, set[str]], cycle: list[str]) -> str:
    """`a -> b -> a`, plus the other modules tangled in with it, if any."""
    line = " -> ".join(cycle)
    tangled = [c for c in find_components(graph) if cycle[0] in c and len(c) > len(set(cycle))]
    return line + (f"  (all tied together: {', '.join(tangled[0])})" if tangled else "")


def _one_cycle(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest cycle through the component's first module, as [a, b, ..., a]."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for other in sorted(graph[node] & component):
                if other == start:
                    return paths[node] + [start]
                if other not in paths:
                    paths[other] = paths[node] + [other]
                    following.append(other)
        frontier = following
    return sorted(component)


def test_the_graph_sees_deferred_and_relative_imports():
    graph = import_graph()
    assert "brushwork.fast.train" in graph
    # a deferred relative import inside a function: the CLI loads the engine only when it runs
    assert any(target.startswith("brushwork.") for target in graph["brushwork.cli"])


def test_no_import_cycles():
    graph = import_graph()
    cycles = find_cycles(graph)
    assert not cycles, "import cycles in src/brushwork:\n" + "\n".join(describe(graph, c) for c in cycles)


def test_the_cycle_finder_reports_cycles_and_only_cycles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(graph) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []
