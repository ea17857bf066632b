"""segkit.live.snapshot_pruning: old snapshots removed per log, a fresh kernel still computes."""
from __future__ import annotations

import os
import time

import pandas as pd
import pytest
from live_files import halves, refreshed_live_log, write_settled

from segkit.live.feed import LiveFeed


@pytest.mark.slow  # over 3.5 s on an idle machine: out of make test-fast
def test_old_snapshots_are_pruned_per_log_and_a_fresh_kernel_computes_from_the_chain(folder, months, saved_model,
                                                                                     tmp_path):
    shared = tmp_path / "snapshots"
    other = tmp_path / "other"
    other.mkdir()
    write_settled(list(months.values())[0], other / "first.parquet")
    LiveFeed(other, saved_model, allow_short_window=True, settle=0, folder=shared).check()
    feed = LiveFeed(folder, saved_model, allow_short_window=True, settle=0, folder=shared, keep=2)
    feed.check()
    for name, frame in halves(months)[:3]:
        write_settled(frame, folder / name)
        assert feed.check().how == "incremental"
    import json

    metas = [json.loads(p.read_text()) for p in shared.glob("*.json")]
    family = feed.snapshot_key({})
    mine = [m for m in metas if m["family"] == family]
    assert len(mine) == 2 and feed.key in {m["key"] for m in mine}
    assert len(metas) == 3  # the other folder's snapshot stays
    listed = {part for m in metas for part in m["raw_parts"]}
    assert {p.name.split(".")[0] for p in shared.glob("*.raw.parquet")} == listed  # no raw part left unlisted
    assert len(list(shared.glob("*.customers.arrow"))) == 3 and len(list(shared.glob("*.lock"))) <= 3 + 2
    assert len(list(shared.glob("*.hashes.npz"))) == 3
    newest = next(m for m in mine if m["key"] == feed.key)
    assert len(newest["raw_parts"]) == 4  # the whole log, then one part per added file
    # A kernel without state computes the next snapshot from that chain: as from scratch.
    name, frame = halves(months)[3]
    write_settled(frame, folder / name)
    fresh = LiveFeed(folder, saved_model, allow_short_window=True, settle=0, folder=shared, keep=2)
    assert fresh.check().how == "incremental" and fresh.computed == 1
    alone = refreshed_live_log(folder, saved_model)
    pd.testing.assert_frame_equal(fresh.customers, alone.customers)
    pd.testing.assert_frame_equal(fresh._live.transactions.drop(columns="SourceFile").sort_values(
        list(alone.transactions.columns[:-1])).reset_index(drop=True),
        alone.transactions.drop(columns="SourceFile").sort_values(list(alone.transactions.columns[:-1]))
        .reset_index(drop=True), check_dtype=False)
    # The page that computed the previous snapshot reads this one.
    assert feed.check().how == "snapshot"
    pd.testing.assert_frame_equal(feed.customers, alone.customers)


def test_snapshots_of_an_earlier_segkit_are_removed_once_a_day_old(folder, saved_model, tmp_path):
    import json

    from segkit.live.snapshot_pruning import OTHER_VERSION_SECONDS

    shared = tmp_path / "snapshots"
    shared.mkdir()

    def earlier(key: str, age: float) -> None:  # as segkit wrote them before the JSON held its version
        (shared / f"{key}.json").write_text(json.dumps({"key": key, "family": "f-old", "raw_parts": [key]}))
        for part in ("lines.arrow", "customers.arrow", "hashes.npz", "raw.parquet"):
            (shared / f"{key}.{part}").write_bytes(b"old")
        stamp = time.time() - age
        for path in shared.glob(f"{key}.*"):
            os.utime(path, (stamp, stamp))

    earlier("old", OTHER_VERSION_SECONDS + 3600)
    earlier("young", 3600)
    feed = LiveFeed(folder, saved_model, allow_short_window=True, settle=0, folder=shared)
    feed.check()
    assert not list(shared.glob("old.*"))  # the JSON and every part
    assert len(list(shared.glob("young.*"))) == 5  # an earlier segkit may still be reading it
    assert json.loads((shared / f"{feed.key}.json").read_text())["version"] >= 4
    assert (shared / f"{feed.key}.customers.arrow").is_file()
