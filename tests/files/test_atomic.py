"""All-or-nothing writes: a reader sees the old file or the whole new one, never half, and
a failed write leaves no hidden temporary file behind."""
from __future__ import annotations

import pytest

from segkit.files.atomic import replaced_atomically, write_text_atomically


def test_a_failed_write_keeps_the_old_file_and_leaves_nothing_behind(tmp_path):
    target = tmp_path / "model.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with replaced_atomically(target) as temporary:
            temporary.write_text("half of the new")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json"]


def test_a_finished_write_replaces_the_file_whole(tmp_path):
    target = tmp_path / "sub" / "notes.txt"  # the folder is made
    write_text_atomically("first", target)
    write_text_atomically("second, longer", target, durable=True)
    assert target.read_text() == "second, longer"
    assert oct(target.stat().st_mode & 0o777) == oct(0o644)
    assert sorted(p.name for p in target.parent.iterdir()) == ["notes.txt"]
