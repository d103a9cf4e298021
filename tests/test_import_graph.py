"""No import cycles anywhere in fixtures/: the import graph, read with ``ast``, is acyclic.

Every import counts, including those inside functions: a lazy import still ties two modules
together, it only hides the cycle until the day someone moves it to the top.
"""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def module_name(root: Path, path: Path) -> str:
    """``fixtures/report/model.py`` -> ``fixtures.report.model`` (a package is its ``__init__``)."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: Path) -> dict[str, set[str]]:
    """Module -> the modules of ``package`` it imports (directly, at any depth in its body)."""
    files = {module_name(package, p): p for p in sorted(package.rglob("*.py"))}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: resolve against this module's package
                    anchor = name.split(".")[: len(name.split(".")) - node.level + (1 if is_package else 0)]
                    base = ".".join(anchor + ([base] if base else []))
                # "from pkg import mod" imports the submodule mod when there is one
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base
                           for alias in node.names]
            for target in targets:
                while target and target not in files:  # fixtures.x.Thing -> fixtures.x
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every elementary cycle found by a depth-first search (each reported once, as a path)."""
    cycles: list[list[str]] = []
    seen: set[frozenset[str]] = set()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt]
                if frozenset(cycle) not in seen:
                    seen.add(frozenset(cycle))
                    cycles.append(cycle)
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return cycles


def test_fixtures_has_no_import_cycle() -> None:
    graph = import_graph(REPO / "fixtures")
    assert "fixtures.plugin" in graph and graph["fixtures.plugin"], "the graph reader found no imports"
    assert find_cycles(graph) == []


def _package(root: Path, modules: dict[str, str]) -> Path:
    package = root / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    for relative, text in modules.items():
        (package / relative).write_text(text)
    return package


def test_the_checker_catches_a_planted_cycle(tmp_path: Path) -> None:
    package = _package(tmp_path, {
        "a.py": "from pkg import b\n",
        "b.py": "from pkg.sub.c import thing\n",
        "sub/c.py": "def thing():\n    from ..a import x  # lazy, still a cycle\n",
        "d.py": "import pkg.a\n",
    })
    graph = import_graph(package)
    assert graph["pkg.a"] == {"pkg.b"} and graph["pkg.sub.c"] == {"pkg.a"}
    assert find_cycles(graph) == [["pkg.a", "pkg.b", "pkg.sub.c", "pkg.a"]]


def test_the_checker_passes_an_acyclic_package(tmp_path: Path) -> None:
    package = _package(tmp_path, {"a.py": "from pkg import b\n", "b.py": "import json\n"})
    assert find_cycles(import_graph(package)) == []
