"""The package has no import cycle, counting imports inside functions (lazy imports) too."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _modules(package: Path) -> dict[str, Path]:
    """Every module of the package at ``package``, by dotted name."""
    out = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imported(node: ast.AST, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The package's modules an ``import`` or ``from ... import`` node of ``module`` names."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in known}
    if not isinstance(node, ast.ImportFrom):
        return set()
    base = node.module or ""
    if node.level:
        parts = module.split(".")
        parent = parts if is_package else parts[:-1]
        parent = parent[: len(parent) - (node.level - 1)]
        base = ".".join([*parent, base] if base else parent)
    found = set()
    for alias in node.names:
        submodule = f"{base}.{alias.name}"
        if submodule in known:
            found.add(submodule)
        elif base in known:
            found.add(base)
    return found


def import_graph(package: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports anywhere in its body (functions included)."""
    modules = _modules(package)
    known = set(modules)
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        is_package = path.name == "__init__.py"
        graph[name] = {
            target
            for node in ast.walk(tree)
            for target in _imported(node, name, is_package, known)
            if target != name
        }
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as ``[a, b, ..., a]``, or None when there is none."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return path[path.index(node):] + [node]
        if node in done:
            return None
        for target in sorted(graph[node]):
            cycle = visit(target, [*path, node])
            if cycle:
                return cycle
        done.add(node)
        return None

    for start in sorted(graph):
        cycle = visit(start, [])
        if cycle:
            return cycle
    return None


def package_graph(graph: dict[str, set[str]], depth: int = 2) -> dict[str, set[str]]:
    """``graph`` between packages: every module counted as its dotted name's first ``depth``
    parts (``repro.meta.unroll`` as ``repro.meta``)."""
    def package(module: str) -> str:
        return ".".join(module.split(".")[:depth])

    out: dict[str, set[str]] = {}
    for module, targets in graph.items():
        out.setdefault(package(module), set()).update(
            package(t) for t in targets if package(t) != package(module))
    return out


def test_no_two_subpackages_import_each_other_even_through_other_modules():
    graph = package_graph(import_graph(ROOT / "repro"))
    assert "repro.optimizees" in graph["repro.meta"]
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_the_package_level_checker_finds_a_cycle_no_module_cycle_shows(tmp_path):
    package = tmp_path / "pkg"
    for sub in ("a", "b"):
        (package / sub).mkdir(parents=True)
        (package / sub / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "a" / "x.py").write_text("from pkg.b import y\n")
    (package / "b" / "y.py").write_text("")
    (package / "b" / "z.py").write_text("def f():\n    from pkg.a import w\n")
    (package / "a" / "w.py").write_text("")
    graph = import_graph(package)
    assert find_cycle(graph) is None
    assert find_cycle(package_graph(graph)) == ["pkg.a", "pkg.b", "pkg.a"]


def test_the_package_has_no_import_cycle():
    graph = import_graph(ROOT / "repro")
    assert "repro.optimizers.phi_file" in graph["repro.meta.learned"]
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_the_checker_finds_a_cycle_through_a_lazy_and_a_relative_import(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.sub import b\n")
    (package / "sub" / "b.py").write_text("def f():\n    from .c import g\n    return g\n")
    (package / "sub" / "c.py").write_text("import os\n\n\ndef g():\n    import pkg.a\n")
    graph = import_graph(package)
    assert graph["pkg.a"] == {"pkg.sub.b"}
    assert find_cycle(graph) == ["pkg.a", "pkg.sub.b", "pkg.sub.c", "pkg.a"]
    (package / "sub" / "c.py").write_text("import os\n")
    assert find_cycle(import_graph(package)) is None
