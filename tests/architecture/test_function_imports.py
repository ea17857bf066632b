"""An import inside a function says why it is not at the top of its module.

Only two reasons hold: the package is an optional extra (``# optional: <extra>``), or
importing it at the top costs a start-up someone measured (``# start-up: <what it saves>``).
The comment stands on the import's line or on the line above it; one comment above a run
of imports (no blank line between them) covers the run. Avoiding an import cycle is no
reason: the layers (``test_layering``) make it unnecessary.
"""
from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

from test_layering import module_name

import segkit

PACKAGE = Path(segkit.__file__).resolve().parent

REASON = re.compile(r"#\s*(optional|start-up):\s*\S")


def _imports_in_functions(tree: ast.AST) -> list[tuple[ast.stmt, ast.stmt | None]]:
    """Each import inside a function with the statement just before it in the same block."""
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for field in ("body", "orelse", "finalbody", "handlers"):
            block = getattr(node, field, None)
            if not isinstance(block, list):
                continue
            previous = None
            for statement in block:
                if in_function and isinstance(statement, (ast.Import, ast.ImportFrom)):
                    found.append((statement, previous))
                previous = statement
        for child in ast.iter_child_nodes(node):
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))

    visit(tree, False)
    return found


def undocumented_function_imports(root: Path) -> list[str]:
    """``module:line: import`` for every import inside a function of the package under
    ``root`` without an ``# optional:`` or ``# start-up:`` comment."""
    missing = []
    for path in sorted(root.rglob("*.py")):
        lines = path.read_text().splitlines()
        tree = ast.parse("\n".join(lines), str(path))
        documented: set[int] = set()  # id() of the imports that carry their reason
        for node, previous in _imports_in_functions(tree):
            own = lines[node.lineno - 1: node.end_lineno]
            above = lines[node.lineno - 2] if node.lineno > 1 else ""
            in_run = (isinstance(previous, (ast.Import, ast.ImportFrom)) and previous.end_lineno == node.lineno - 1
                      and id(previous) in documented)
            above_says = above.lstrip().startswith("#") and REASON.search(above)
            if any(REASON.search(line) for line in own) or above_says or in_run:
                documented.add(id(node))
            else:
                missing.append(f"{module_name(path, root)}:{node.lineno}: {ast.unparse(node)}")
    return missing


def test_every_import_inside_a_function_says_why():
    assert undocumented_function_imports(PACKAGE) == []


def test_a_planted_import_without_a_reason_is_found(tmp_path):
    copy = tmp_path / "segkit"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "jupyter"))
    target = copy / "schema.py"
    target.write_text(target.read_text()
                      + "\n\ndef _planted():\n    import json\n\n    return json\n"
                      + "\n\ndef _planted_with_reason():\n    # start-up: nothing, for the test\n    import json\n"
                      + "    import time\n\n    return json, time\n")
    assert undocumented_function_imports(copy) == [f"segkit.schema:{_line_of(target, 'import json')}: import json"]


def _line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if line.strip() == text)
