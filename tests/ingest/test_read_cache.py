"""segkit.ingest.read_cache: the parquet copy of what was read, keyed by the file's contents."""
from __future__ import annotations

import os
import time

from uci_rows import UCI_ROWS

from segkit.ingest.load import load_transactions


def test_second_load_uses_the_parquet_cache_and_a_changed_file_is_read_again(tmp_path, uci_csv, monkeypatch):
    monkeypatch.setenv("SEGKIT_CACHE", str(tmp_path / "cache"))
    load_transactions(uci_csv)
    assert len(list((tmp_path / "cache").glob("*.parquet"))) == 1
    changed = UCI_ROWS.assign(Quantity=[7, 6, -2, 1])
    time.sleep(0.01)
    changed.to_csv(uci_csv, index=False)
    os.utime(uci_csv, ns=(time.time_ns(), time.time_ns()))
    assert load_transactions(uci_csv)["Quantity"].iloc[0] == 7


def test_cache_is_keyed_by_content_not_size_and_mtime(tmp_path, uci_csv, monkeypatch):
    monkeypatch.setenv("SEGKIT_CACHE", str(tmp_path / "cache"))
    stat = uci_csv.stat()
    assert load_transactions(uci_csv)["Quantity"].iloc[0] == 6
    UCI_ROWS.assign(Quantity=[7, 6, -2, 1]).to_csv(uci_csv, index=False)  # same size
    os.utime(uci_csv, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # mtime restored
    assert uci_csv.stat().st_size == stat.st_size
    assert load_transactions(uci_csv)["Quantity"].iloc[0] == 7
    assert len(list((tmp_path / "cache").glob("*.parquet"))) == 2  # one copy per content
