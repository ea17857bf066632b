"""No module of segkit uses another module's private names (``_name``): what one module
needs from another is public there (in its ``__all__``-worthy API), or it moves."""
from __future__ import annotations

import ast
import shutil
from pathlib import Path

from test_layering import imported_module, module_name

import segkit

PACKAGE = Path(segkit.__file__).resolve().parent


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_names_used_across_modules(root: Path) -> list[str]:
    """``module: line: what`` for every ``from segkit.x import _name`` (an alias does not
    hide it) and every ``x._name`` where ``x`` is a segkit module imported by ``import`` or
    ``from segkit import x``, anywhere in the code (inside functions too)."""
    found = []
    for path in sorted(root.rglob("*.py")):
        here = module_name(path, root)
        package = here if path.name == "__init__.py" else here.rpartition(".")[0]
        tree = ast.parse(path.read_text(), str(path))
        modules: dict[str, str] = {}  # local name -> segkit module
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                source = imported_module(node, package)
                if source.split(".")[0] != root.name or source == here:
                    continue
                for alias in node.names:
                    if _private(alias.name):
                        found.append(f"{here}:{node.lineno}: from {source} import {alias.name}")
                    modules[alias.asname or alias.name] = f"{source}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == root.name:
                        modules[alias.asname or alias.name] = alias.name
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and _private(node.attr):
                chain, value = [], node.value
                while isinstance(value, ast.Attribute):
                    chain.append(value.attr)
                    value = value.value
                if isinstance(value, ast.Name) and value.id in modules:
                    owner = ".".join([modules[value.id], *reversed(chain)])
                    file = root.parent / owner.replace(".", "/")
                    if owner != here and (file.with_suffix(".py").exists() or (file / "__init__.py").exists()):
                        found.append(f"{here}:{node.lineno}: {owner}.{node.attr}")
    return found


def test_no_module_uses_another_modules_private_names():
    assert private_names_used_across_modules(PACKAGE) == []


def test_a_planted_private_import_is_found(tmp_path):
    copy = tmp_path / "segkit"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "jupyter"))
    target = copy / "views" / "wording.py"
    target.write_text(target.read_text() + "\n\ndef planted():\n    from segkit.schema import _hidden as visible\n"
                      "    import segkit.config as settings_module\n    return visible, settings_module._hidden\n")
    found = private_names_used_across_modules(copy)
    assert any(f.startswith("segkit.views.wording:") and f.endswith("from segkit.schema import _hidden") for f in found)
    assert any(f.startswith("segkit.views.wording:") and f.endswith("segkit.config._hidden") for f in found)
