"""The import rules of the package, checked on its source with ``ast`` (no module is imported, so it is fast):

- no import cycle between modules of ``fcodec/`` (an import inside a function counts: it runs sooner or later;
  one under ``if TYPE_CHECKING:`` does not: it never runs);
- no upward import: ``fcodec.models``, ``fcodec.data`` and ``fcodec.utils`` import nothing of ``fcodec.train``,
  ``fcodec.infer``, ``fcodec.metrics`` or ``fcodec.bin``; ``fcodec.layout`` (the experiment layout, which decoding
  and scoring both ask) none of these either; ``fcodec.infer`` nothing of ``fcodec.metrics``.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "fcodec"

# (importing package, packages it must not import)
FORBIDDEN: List[Tuple[str, Tuple[str, ...]]] = [
    (low, ("fcodec.train", "fcodec.infer", "fcodec.metrics", "fcodec.bin"))
    for low in ("fcodec.models", "fcodec.data", "fcodec.utils", "fcodec.layout")
] + [("fcodec.infer", ("fcodec.metrics",))]


def module_files(package_dir: Path) -> Dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` under ``package_dir`` (a package is its ``__init__``)."""
    root = package_dir.parent
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_nodes(tree: ast.AST):
    """Every node of ``tree`` except those under ``if TYPE_CHECKING:`` (imports for annotations only)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))


def imported_modules(name: str, path: Path, known: Set[str]) -> List[Tuple[str, int]]:
    """The modules of ``known`` that module ``name`` (file ``path``) imports, anywhere in it, with the line.

    ``from a.b import c`` is an import of ``a.b.c`` when that is a module, else of ``a.b``; relative imports are
    resolved against the module's package."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in runtime_nodes(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for target in targets:
            # "import a.b.c" of a name that is not a module (rare): its nearest enclosing module
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.append((target, node.lineno))
    return found


def import_graph(package_dir: Path) -> Tuple[Dict[str, Path], Dict[str, Dict[str, int]]]:
    """(modules, module -> {imported module: first line})."""
    modules = module_files(package_dir)
    graph: Dict[str, Dict[str, int]] = {}
    for name, path in modules.items():
        edges: Dict[str, int] = {}
        for target, line in imported_modules(name, path, set(modules)):
            edges.setdefault(target, line)
        graph[name] = edges
    return modules, graph


def cycles(graph: Dict[str, Dict[str, int]]) -> List[List[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative), each sorted."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, {})))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def upward_imports(modules: Dict[str, Path], graph: Dict[str, Dict[str, int]]) -> List[str]:
    """``file:line: a imports b`` for every import that ``FORBIDDEN`` rules out."""
    problems = []
    for name, edges in sorted(graph.items()):
        for low_package, high_packages in FORBIDDEN:
            if not within(name, low_package):
                continue
            for target, line in sorted(edges.items()):
                if any(within(target, high) for high in high_packages):
                    problems.append(f"{modules[name]}:{line}: {name} imports {target}")
    return problems


def describe_cycles(graph: Dict[str, Dict[str, int]]) -> List[str]:
    return [" <-> ".join(component) for component in cycles(graph)]


def test_no_import_cycle_in_the_package():
    _, graph = import_graph(PACKAGE_DIR)
    assert len(graph) > 100  # the whole package was read
    assert describe_cycles(graph) == []


def test_no_upward_import_in_the_package():
    modules, graph = import_graph(PACKAGE_DIR)
    assert upward_imports(modules, graph) == []


@pytest.fixture
def bad_package(tmp_path: Path) -> Path:
    """A package with a cycle through a function-level import, two upward imports (one relative), and imports
    under ``if TYPE_CHECKING:`` that would make another cycle and another upward import if they ran."""
    files = {
        "__init__.py": "",
        "utils/__init__.py": "",
        "utils/io.py": "def f():\n    from fcodec.metrics import report\n",
        "metrics/__init__.py": "",
        "metrics/report.py": "from fcodec.metrics.plot import draw\nfrom fcodec.metrics import summaries\n",
        # annotations only: neither a cycle nor an upward import
        "metrics/summaries.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from fcodec.metrics.report import x\n",
        "train/__init__.py": "",
        "train/loop.py": "",
        "utils/names.py": "import typing\nif typing.TYPE_CHECKING:\n    from fcodec.train import loop\nelse:\n    import os\n",
        "metrics/plot.py": "def draw():\n    from . import report\n",
        "infer/__init__.py": "",
        "infer/decode.py": "import os\nfrom ..metrics import plot\n",
    }
    for relative, text in files.items():
        path = tmp_path / "fcodec" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path / "fcodec"


def test_the_checks_find_a_cycle_and_upward_imports(bad_package):
    modules, graph = import_graph(bad_package)
    assert describe_cycles(graph) == ["fcodec.metrics.plot <-> fcodec.metrics.report"]
    problems = upward_imports(modules, graph)
    assert [p.split(": ", 1)[1] for p in problems] == [
        "fcodec.infer.decode imports fcodec.metrics.plot",
        "fcodec.utils.io imports fcodec.metrics.report",
    ]
    assert problems[0].startswith(f"{bad_package / 'infer' / 'decode.py'}:2:")
