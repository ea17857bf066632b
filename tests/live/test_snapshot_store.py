"""segkit.live.snapshot_store: the refreshed state shared between kernels."""
from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
from live_files import halves, write_settled

from segkit.live.feed import LiveFeed
from segkit.live.live_log import LiveLog
from segkit.pipeline.workflow import load_customer_data


@pytest.mark.slow
def test_the_snapshot_is_shared(folder, months, saved_model, tmp_path):
    shared = tmp_path / "snapshots"
    first = LiveFeed(folder, saved_model, allow_short_window=True, settle=0, folder=shared)
    second = LiveFeed(folder, saved_model, allow_short_window=True, settle=0, folder=shared, with_report=True)
    assert first.check().how == "full" and first.computed == 1
    update = second.check()
    assert update.how == "snapshot" and second.computed == 0
    pd.testing.assert_frame_equal(second.customers, first.customers)
    assert len(second.lines) == len(first.lines)
    assert first.check() is None and second.check() is None  # nothing new

    month, frame = list(months.items())[-2]
    write_settled(frame, folder / f"{month}.csv")
    assert second.check().how == "incremental" and second.computed == 1  # from the first snapshot's state
    update = first.check()
    assert update.how == "snapshot" and first.computed == 1 and update.added_files == [f"{month}.csv"]
    pd.testing.assert_frame_equal(first.customers, second.customers)
    assert len(list(shared.glob("*.json"))) == 2
    pd.testing.assert_frame_equal(first.report, load_customer_data(folder).report, check_dtype=False)


@pytest.mark.slow
def test_two_kernels_at_once_compute_the_snapshot_once(folder, saved_model, tmp_path):
    from segkit.pipeline.artifacts import save_artifacts

    artifacts = tmp_path / "artifacts"
    save_artifacts(saved_model, artifacts, saved_model.card_.get("training_data"))
    code = ("import sys; from segkit.pipeline.artifacts import load_artifacts; from segkit.live.feed import LiveFeed; "
            "f = LiveFeed(sys.argv[1], load_artifacts(sys.argv[2]), allow_short_window=True, settle=0, folder=sys.argv[3]); "
            "f.check(); print(f.computed)")
    args = [sys.executable, "-c", code, str(folder), str(artifacts), str(tmp_path / "snapshots")]
    kernels = [subprocess.Popen(args, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    computed = [int(k.communicate(timeout=120)[0].strip()) for k in kernels]
    assert sorted(computed) == [0, 1]


@pytest.mark.slow
def test_a_snapshot_never_carries_another_folders_file(tmp_path, months, saved_model):
    """Two folders with the same files but one more, still being written, in the second: the
    second folder's log must not take the first folder's version of that file."""
    shared = tmp_path / "snapshots"
    names = list(months)[:-2]
    month, frame = list(months.items())[-2]
    for side in ("a", "b"):
        (tmp_path / side).mkdir()
        for name in names:
            write_settled(months[name], tmp_path / side / f"{name}.parquet")
    write_settled(frame, tmp_path / "a" / f"{month}.csv")
    first = LiveFeed(tmp_path / "a", saved_model, allow_short_window=True, settle=10, folder=shared)
    assert f"{month}.csv" in first.check().added_files
    path = tmp_path / "b" / f"{month}.csv"
    frame.iloc[: len(frame) // 2].to_csv(path, index=False)  # being written in the second folder
    second = LiveFeed(tmp_path / "b", saved_model, allow_short_window=True, settle=10, folder=shared)
    update = second.check(now=path.stat().st_mtime + 1)
    assert update.waiting_files == [path.name]
    assert path.name not in second.files
    alone = LiveLog(tmp_path / "b", saved_model, allow_short_window=True, settle=10)
    alone.refresh(now=path.stat().st_mtime + 1)
    pd.testing.assert_frame_equal(second.customers, alone.customers)
    # A third folder holding only the settled files reads nothing of the others' files either.
    (tmp_path / "c").mkdir()
    for name in names:
        write_settled(months[name], tmp_path / "c" / f"{name}.parquet")
    third = LiveFeed(tmp_path / "c", saved_model, allow_short_window=True, settle=10, folder=shared)
    third.check()
    assert path.name not in third.files
    pd.testing.assert_frame_equal(third.customers, alone.customers)


def test_a_reader_whose_snapshot_is_removed_meanwhile_computes_it(folder, months, saved_model, tmp_path, monkeypatch):
    import segkit.live.snapshot_store as live_module

    shared = tmp_path / "snapshots"
    first = LiveFeed(folder, saved_model, allow_short_window=True, settle=0, folder=shared)
    second = LiveFeed(folder, saved_model, allow_short_window=True, settle=0, folder=shared)
    first.check()
    second.check()
    name, frame = halves(months)[0]
    write_settled(frame, folder / name)
    first.check()
    read = live_module.read_part
    calls = []

    def pruned_meanwhile(path):
        if not calls:  # the snapshot is removed between its JSON and its parts, as the pruning does
            calls.append(path)
            for part in shared.glob(f"{first.key}.*"):
                if part.suffix != ".lock":
                    part.unlink()
        return read(path)

    monkeypatch.setattr(live_module, "read_part", pruned_meanwhile)
    update = second.check()
    assert calls and update is not None and update.added_files == [name] and second.computed == 1
    pd.testing.assert_frame_equal(second.customers, first.customers)
