"""The cache key every disk cache shares must change with any module of the package,
subpackages included (a stale cache would show numbers the current code does not compute)."""
from __future__ import annotations

import shutil

import segkit.files.code_fingerprint as fingerprint


def test_a_change_in_any_subpackage_changes_the_fingerprint(tmp_path, monkeypatch):
    copy = tmp_path / "segkit"
    shutil.copytree(fingerprint.PACKAGE_ROOT, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(fingerprint, "PACKAGE_ROOT", copy)
    before = fingerprint.code_fingerprint()
    assert before == fingerprint.code_fingerprint() and len(before) == 16
    deep = copy / "dashboard" / "changes_panel.py"
    deep.write_text(deep.read_text() + "\n# one more line\n")
    changed = fingerprint.code_fingerprint()
    assert changed != before
    (copy / "dashboard" / "changes_panel.py").rename(copy / "dashboard" / "renamed_panel.py")
    assert fingerprint.code_fingerprint() not in (before, changed)  # a moved module counts too
