"""segkit.live.folder_scan: which files of a log folder are read (settled, changed, copies told once)."""
from __future__ import annotations

import os
import time

import pandas as pd
import pytest
from live_files import append_csv, refreshed_live_log, write_settled

from segkit.ingest.logs import log_files
from segkit.live.feed import LiveFeed
from segkit.live.folder_scan import FolderScan
from segkit.live.live_log import LiveLog
from segkit.pipeline.workflow import load_customer_data


@pytest.mark.slow
def test_a_folder_log_equals_the_same_lines_in_one_file(tmp_path, sample_log, months):
    folder = tmp_path / "data"
    folder.mkdir()
    items = list(months.items())
    for i, (month, frame) in enumerate(items):
        write_settled(frame, folder / f"{month}.{('csv', 'parquet', 'xlsx')[i % 3] if i < 3 else 'csv'}")
    (folder / ".hidden.csv").write_text("junk")
    (folder / "next.csv.part").write_text("junk")
    (folder / "notes.txt").write_text("not a log")
    single = write_settled(sample_log, tmp_path / "all.parquet")

    assert [p.name for p in log_files(folder)] == sorted(f"{m}.{('csv', 'parquet', 'xlsx')[i % 3] if i < 3 else 'csv'}"
                                                         for i, (m, _) in enumerate(items))
    many, one = load_customer_data(folder), load_customer_data(single)
    pd.testing.assert_frame_equal(many.customers, one.customers)
    assert len(many.lines) == len(one.lines)
    assert many.transactions["SourceFile"].nunique() == len(items)
    assert many.source == f"data ({len(items)} files)"
    globbed = load_customer_data(str(folder / "2011-*.csv"))
    assert set(globbed.transactions["SourceFile"].unique()) == {p.name for p in folder.glob("2011-*.csv")}


def test_a_half_written_file_is_not_read(folder, months, saved_model):
    live = LiveLog(folder, saved_model, allow_short_window=True, settle=10)
    live.refresh()
    month, frame = list(months.items())[-2]
    path = folder / f"{month}.csv"
    frame.iloc[: len(frame) // 2].to_csv(path, index=False)  # being written: modified just now
    (folder / "next.parquet.part").write_bytes(b"PAR1 half")
    now = path.stat().st_mtime + 1
    update = live.refresh(now=now)
    assert update.waiting_files == [path.name] and not update.added_files
    assert path.name not in live.files and "still being written" in update.summary()
    frame.to_csv(path, index=False)  # the writer finishes
    update = live.refresh(now=path.stat().st_mtime + 2)
    assert update.waiting_files == [path.name]  # changed since the last check: still waiting
    update = live.refresh(now=path.stat().st_mtime + 3)  # unchanged across two checks: read, whole
    assert update.added_files == [path.name] and live.files[path.name].lines == len(frame)
    assert "next.parquet.part" not in live.files


def test_folder_scan_hashes_only_changed_files(folder, monkeypatch):
    import segkit.live.folder_scan as live

    scan = FolderScan(folder, settle=0)
    scan.check()
    calls = []
    monkeypatch.setattr(live, "file_digest", lambda p: calls.append(p) or "x")
    scan.check()
    assert calls == []


def test_a_copy_of_a_file_is_told_once(folder, saved_model):
    live = refreshed_live_log(folder, saved_model)
    first = sorted(folder.glob("*.csv"))[0]
    (folder / "copy.csv").write_bytes(first.read_bytes())
    os.utime(folder / "copy.csv", (time.time() - 3600,) * 2)
    assert "'copy.csv' has the same contents as" in live.refresh().summary()
    assert live.refresh().summary() == "No change."


@pytest.mark.slow
def test_a_growing_csv_is_hashed_once(tmp_path, months, saved_model, monkeypatch):
    """The scan hashes the grown file in one pass and takes its earlier bytes' digest on the
    way: they are not read again to check that the file only grew."""
    import segkit.live.folder_scan as live_module

    folder = tmp_path / "data"
    folder.mkdir()
    log = pd.concat(list(months.values()), ignore_index=True)
    path = write_settled(log.iloc[: len(log) // 2], folder / "sales.csv")
    feed = LiveFeed(folder, saved_model, allow_short_window=True, settle=0, folder=tmp_path / "snapshots")
    feed.check()
    append_csv(log.iloc[len(log) // 2:], path)
    reads = []
    for name in ("file_digest", "prefix_digest", "file_digests"):
        real = getattr(live_module, name)
        monkeypatch.setattr(live_module, name, lambda *a, real=real, name=name: reads.append(name) or real(*a))
    update = feed.check()
    assert update.changed_files == ["sales.csv"] and feed.files["sales.csv"].grew_from
    assert reads == ["file_digests"]
