"""segkit's layers: every import (top level or inside a function) points down, never in a circle.

The layers, bottom up. A module may import from its own subpackage and from any lower
layer; siblings on one layer (``clean`` and ``features``) do not import each other.
"""
from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

import segkit

PACKAGE = Path(segkit.__file__).resolve().parent

LAYERS: list[tuple[str, ...]] = [
    ("errors", "schema"),     # leaves: what a log is, what can go wrong
    ("config",),              # where things live
    ("files",),               # atomic writes, locks, the cache key
    ("ingest",),              # reading files, folders, downloads, the sample
    ("rules",),               # the rules, once, as ibis expressions; the feature registry
    ("engines",),             # running the rules: DuckDB, out of core, Spark
    ("clean", "features"),    # clean lines, customer features
    ("modeling",),            # scaling, clustering, naming segments
    ("value",),               # lifetime value, movement
    ("pipeline",),            # train, score, save and reload
    ("views",),               # tables, figures and words, no widgets
    ("page",),                # the page's data, no widgets
    ("live",),                # feeds and the refresher, no widgets
    ("server",),              # Voila settings and kernels
    ("dashboard",),           # the widgets
    ("cli",),                 # the command line
]
RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_module(node: ast.ImportFrom, package: str) -> str:
    """The module a ``from ... import`` in ``package`` reads, relative imports resolved."""
    if not node.level:
        return node.module or ""
    base = package.split(".")[: len(package.split(".")) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def segkit_imports(root: Path) -> dict[str, set[str]]:
    """Every module of the package under ``root`` -> the segkit modules it imports anywhere in its code."""
    modules = {module_name(p, root): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                source = imported_module(node, package)
                if not source.startswith(root.name):
                    continue
                for alias in node.names:  # `from segkit.views import tables` names a module
                    candidate = f"{source}.{alias.name}"
                    targets.add(candidate if candidate in modules else source)
            elif isinstance(node, ast.Import):
                targets.update(a.name for a in node.names if a.name.startswith(root.name))
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def unit_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None  # None: the package's face, segkit/__init__.py


def upward_arrows(graph: dict[str, set[str]]) -> list[str]:
    wrong = []
    for source, targets in graph.items():
        here = unit_of(source)
        for target in targets:
            there = unit_of(target)
            if here is None or here == there:
                continue
            if there is None:
                wrong.append(f"{source} -> {target}: only the package's face imports from it")
            elif here not in RANK or there not in RANK:
                wrong.append(f"{source} -> {target}: {here if here not in RANK else there} has no layer")
            elif RANK[there] >= RANK[here]:
                wrong.append(f"{source} -> {target}: layer {RANK[there]} is not below layer {RANK[here]}")
    return sorted(wrong)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_every_unit_of_the_package_has_a_layer():
    units = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
             if (p.suffix == ".py" and p.name != "__init__.py") or (p / "__init__.py").exists()}
    assert units - set(RANK) == set()


def test_imports_point_down_and_never_circle():
    graph = segkit_imports(PACKAGE)
    assert upward_arrows(graph) == []
    assert cycles(graph) == []


@pytest.mark.parametrize("planted, finds", [
    # an upward arrow inside a function, as the old hidden cycles were written
    ("segkit/schema.py", "upward"),
    # a circle inside one subpackage
    ("segkit/views/wording.py", "cycle"),
])
def test_a_planted_fault_is_found(tmp_path, planted, finds):
    copy = tmp_path / "segkit"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "jupyter"))
    target = tmp_path / planted
    if finds == "upward":
        target.write_text(target.read_text() + "\n\ndef _planted():\n    from segkit.pipeline.workflow import train_model\n")
    else:
        target.write_text(target.read_text() + "\n\ndef _planted():\n    from segkit.views import tables\n")
    graph = segkit_imports(copy)
    if finds == "upward":
        assert any(a.startswith("segkit.schema -> segkit.pipeline.workflow") for a in upward_arrows(graph))
    else:
        assert any("segkit.views.wording" in c and "segkit.views.tables" in c for c in cycles(graph))
