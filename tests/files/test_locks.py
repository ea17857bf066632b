"""The lock between processes that lets kernels started together compute a cache once."""
from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

from segkit.files.locks import computed_once, file_lock, modified_time, remove_lock


def _compute_in_process(folder: str) -> str:
    entry, count = Path(folder) / "entry.txt", Path(folder) / "computed.txt"

    def read():
        return entry.read_text() if entry.exists() else None

    def compute():
        with open(count, "a") as handle:
            handle.write("x")
        time.sleep(0.3)  # long enough for the other processes to wait on the lock
        entry.write_text("value")
        return "value"

    return computed_once(Path(folder) / "entry.lock", read, compute)


def test_processes_wanting_one_entry_at_once_compute_it_once(tmp_path):
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        results = pool.map(_compute_in_process, [str(tmp_path)] * 3)
    assert results == ["value"] * 3
    assert (tmp_path / "computed.txt").read_text() == "x"


def test_a_lock_no_one_holds_is_removed_and_a_held_one_is_left(tmp_path):
    lock = tmp_path / "entry.lock"
    with file_lock(lock):
        remove_lock(lock)
        assert lock.exists()  # held: left alone
    remove_lock(lock)
    assert not lock.exists()
    assert modified_time(lock) == 0.0  # gone: sorts as oldest, never raises
