"""A folder of files as one log, the live refresh, the shared snapshot and ``score --since``."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from segkit.ingest.logs import load_log, log_files
from segkit.live.feed import LiveFeed
from segkit.live.folder_scan import FolderScan
from segkit.live.live_log import LiveLog
from segkit.pipeline.workflow import load_customer_data


def _months(log: pd.DataFrame) -> dict[str, pd.DataFrame]:
    month = pd.to_datetime(log["InvoiceDate"]).dt.strftime("%Y-%m")
    return {m: log[month == m] for m in sorted(month.unique())}


def _write(frame: pd.DataFrame, path: Path, age: float = 3600) -> Path:
    """Write a log file and date it ``age`` seconds back (settled)."""
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix == ".xlsx":
        frame.to_excel(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    stamp = time.time() - age
    os.utime(path, (stamp, stamp))
    return path


@pytest.fixture(scope="module")
def months(sample_log) -> dict[str, pd.DataFrame]:
    return _months(sample_log)


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory, sample_data):
    """A model trained on the sample, saved and loaded back as a page loads it."""
    from segkit.pipeline.artifacts import load_artifacts, save_artifacts
    from segkit.pipeline.workflow import train_model

    folder = tmp_path_factory.mktemp("artifacts")
    model, _ = train_model(sample_data, k=3)
    save_artifacts(model, folder, sample_data.training_info())
    return load_artifacts(folder)


@pytest.fixture
def folder(tmp_path, months) -> Path:
    """The sample split into monthly files (csv and parquet), all but the last two months."""
    folder = tmp_path / "data"
    folder.mkdir()
    for i, (month, frame) in enumerate(list(months.items())[:-2]):
        _write(frame, folder / f"{month}.{'csv' if i % 2 else 'parquet'}")
    return folder


def _live(folder: Path, model, **kw) -> LiveLog:
    live = LiveLog(folder, model, allow_short_window=True, settle=0, **kw)
    live.refresh()
    return live


@pytest.mark.slow
def test_a_folder_log_equals_the_same_lines_in_one_file(tmp_path, sample_log, months):
    folder = tmp_path / "data"
    folder.mkdir()
    items = list(months.items())
    for i, (month, frame) in enumerate(items):
        _write(frame, folder / f"{month}.{('csv', 'parquet', 'xlsx')[i % 3] if i < 3 else 'csv'}")
    (folder / ".hidden.csv").write_text("junk")
    (folder / "next.csv.part").write_text("junk")
    (folder / "notes.txt").write_text("not a log")
    single = _write(sample_log, tmp_path / "all.parquet")

    assert [p.name for p in log_files(folder)] == sorted(f"{m}.{('csv', 'parquet', 'xlsx')[i % 3] if i < 3 else 'csv'}"
                                                         for i, (m, _) in enumerate(items))
    many, one = load_customer_data(folder), load_customer_data(single)
    pd.testing.assert_frame_equal(many.customers, one.customers)
    assert len(many.lines) == len(one.lines)
    assert many.transactions["SourceFile"].nunique() == len(items)
    assert many.source == f"data ({len(items)} files)"
    globbed = load_customer_data(str(folder / "2011-*.csv"))
    assert set(globbed.transactions["SourceFile"].unique()) == {p.name for p in folder.glob("2011-*.csv")}


def test_the_same_export_twice_is_read_once(tmp_path, months):
    frame = next(iter(months.values()))
    _write(frame, tmp_path / "a.csv")
    _write(frame, tmp_path / "b.csv")
    notes: list[str] = []
    log = load_log(tmp_path, notes=notes)
    assert len(log) == len(frame) and list(log["SourceFile"].unique()) == ["a.csv"]
    assert notes == ["'b.csv' has the same contents as 'a.csv'; it was read once."]


def test_an_empty_folder_is_refused_in_one_sentence(tmp_path):
    from segkit.errors import SegkitDataError

    with pytest.raises(SegkitDataError, match="holds no transaction file"):
        load_customer_data(tmp_path)


def test_config_resolves_a_folder_a_glob_and_the_refresh_interval(monkeypatch, tmp_path):
    from segkit import config

    monkeypatch.setenv("SEGKIT_DATA", str(tmp_path / "*.csv"))
    assert config.default_data_path() == tmp_path / "*.csv" and config.is_multi_file(config.default_data_path())
    monkeypatch.delenv("SEGKIT_DATA")
    monkeypatch.setattr(config, "DATA_DIR", tmp_path)
    (tmp_path / "a.csv").write_text("x")
    assert config.default_data_path() == tmp_path / "a.csv"  # one file: the file, as before
    (tmp_path / "b.parquet").write_text("x")
    (tmp_path / "c.csv.tmp").write_text("x")
    assert config.default_data_path() == tmp_path  # several: the folder is the log
    monkeypatch.delenv("SEGKIT_REFRESH_SECONDS", raising=False)
    assert config.refresh_seconds() == 60
    monkeypatch.setenv("SEGKIT_REFRESH_SECONDS", "15")
    assert config.refresh_seconds() == 15


@pytest.mark.slow
def test_a_new_files_customers_appear_and_the_result_equals_a_full_recompute(folder, months, saved_model):
    live = _live(folder, saved_model)
    before = set(live.customers.index)
    month, frame = list(months.items())[-2]
    _write(frame, folder / f"{month}.csv")
    update = live.refresh()
    assert update.how == "incremental" and update.added_files == [f"{month}.csv"]
    assert update.new_lines == len(frame)
    newcomers = set(frame["CustomerID"].dropna().astype("int64").astype(str)) - before
    assert newcomers and set(update.new_customers) == newcomers <= set(live.customers.index)
    assert update.last_purchase == pd.Timestamp(frame["InvoiceDate"].max())
    # Every customer's Recency moved with the new last day: the same table as reading it all again.
    full = load_customer_data(folder)
    pd.testing.assert_frame_equal(live.features.sort_index(), full.customers)
    pd.testing.assert_frame_equal(live.customers, saved_model.segment(full.customers))
    pd.testing.assert_frame_equal(live.report, full.report)
    assert update.header().startswith(f"data up to {update.last_purchase.day} {update.last_purchase:%b %Y}")
    assert "new lines from" in update.summary()


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


def test_a_cancellation_in_a_new_file_changes_the_older_customer(folder, months, saved_model):
    live = _live(folder, saved_model)
    customer = live.customers["TotalSpend"].idxmax()
    lines = live.lines[live.lines["CustomerID"] == customer]
    bought = lines.sort_values("InvoiceDate").iloc[0]
    cancel = pd.DataFrame([{
        "InvoiceNo": "C999001", "StockCode": bought["StockCode"], "Description": bought["Description"],
        "Quantity": -int(bought["Quantity"]), "InvoiceDate": live.last_purchase + pd.Timedelta(hours=1),
        "UnitPrice": bought["UnitPrice"], "CustomerID": customer, "Country": bought["Country"]}])
    spend = live.customers.loc[customer, "TotalSpend"]
    _write(cancel, folder / "returns.csv")
    update = live.refresh()
    assert update.new_lines == 1 and not update.new_customers
    assert live.customers.loc[customer, "TotalSpend"] == pytest.approx(spend - bought["TotalPrice"], abs=0.01)
    pd.testing.assert_frame_equal(live.features.sort_index(), load_customer_data(folder).customers)


def test_nothing_retrains(folder, months, saved_model, monkeypatch):
    from segkit.modeling.model import SegmentationModel

    version, pipeline = saved_model.version_, saved_model.pipeline_
    monkeypatch.setattr(SegmentationModel, "fit", lambda *a, **k: pytest.fail("the live refresh refitted the model"))
    live = _live(folder, saved_model)
    month, frame = list(months.items())[-2]
    _write(frame, folder / f"{month}.csv")
    live.refresh()
    assert live.model is saved_model and saved_model.version_ == version and saved_model.pipeline_ is pipeline


@pytest.mark.slow
def test_a_removed_file_is_dropped_with_a_notice(folder, months, saved_model):
    live = _live(folder, saved_model)
    gone = sorted(folder.iterdir())[-1]
    only_there = set(live.transactions.loc[live.transactions["SourceFile"] == gone.name, "CustomerID"].dropna()) - \
        set(live.transactions.loc[live.transactions["SourceFile"] != gone.name, "CustomerID"].dropna())
    only_there &= set(live.customers.index)  # some had no line left after cleaning
    gone.unlink()
    update = live.refresh()
    assert update.removed_files == [gone.name] and update.removed_lines > 0
    assert f"'{gone.name}' is no longer in the folder: its {update.removed_lines:,} lines" in update.summary()
    assert gone.name not in set(live.transactions["SourceFile"])
    assert only_there and set(update.gone_customers) == only_there and not only_there & set(live.customers.index)
    pd.testing.assert_frame_equal(live.features.sort_index(), load_customer_data(folder).customers)


@pytest.mark.slow
def test_a_changed_file_is_read_again(folder, saved_model):
    live = _live(folder, saved_model)
    path = sorted(folder.glob("*.csv"))[0]
    frame = pd.read_csv(path)
    _write(frame.iloc[:-10], path)
    update = live.refresh()
    assert update.changed_files == [path.name] and update.removed_lines - update.new_lines == 10
    pd.testing.assert_frame_equal(live.features.sort_index(), load_customer_data(folder).customers)


def test_a_short_log_is_refused_as_scoring_refuses_it(tmp_path, months, saved_model):
    from segkit.errors import SegkitDataError

    _write(next(iter(months.values())), tmp_path / "one-month.csv")
    with pytest.raises(SegkitDataError, match="covers .* days of purchases"):
        LiveLog(tmp_path, saved_model, settle=0).refresh()
    update = LiveLog(tmp_path, saved_model, settle=0, allow_short_window=True).refresh()
    assert "Scored anyway" in update.summary()


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
    _write(frame, folder / f"{month}.csv")
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
def test_score_since_writes_only_recent_customers(folder, saved_model, tmp_path, capsys):
    from segkit.cli import main

    out = tmp_path / "recent.csv"
    since = "2011-09-01"
    code = main(["score", "--data", str(folder), "--since", since, "--allow-short-window",
                 "--artifacts", str(_artifacts_of(saved_model, tmp_path)), "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    scored = pd.read_csv(out, dtype={"CustomerID": str}, parse_dates=["LastPurchase"])
    everyone = load_customer_data(folder).customers
    assert set(scored["CustomerID"]) == set(everyone.index[everyone["LastPurchase"] >= since])
    assert "purchases since 2011-09-01" in capsys.readouterr().out
    assert main(["score", "--data", str(folder), "--since", "soon", "--out", str(out)]) == 2
    assert "--since must be a date" in capsys.readouterr().err
    assert main(["score", "--data", str(folder), "--out", str(folder / "x.csv")]) == 2
    assert "inside the data folder" in capsys.readouterr().err
    assert main(["score", "--data", str(folder / "*.csv"), "--out", str(folder / "x.csv")]) == 2
    assert "inside the data folder" in capsys.readouterr().err


def _artifacts_of(model, tmp_path: Path) -> Path:
    from segkit.pipeline.artifacts import save_artifacts

    folder = tmp_path / "artifacts"
    save_artifacts(model, folder, model.card_.get("training_data"))
    return folder


def test_folder_scan_hashes_only_changed_files(folder, monkeypatch):
    import segkit.live.folder_scan as live

    scan = FolderScan(folder, settle=0)
    scan.check()
    calls = []
    monkeypatch.setattr(live, "file_digest", lambda p: calls.append(p) or "x")
    scan.check()
    assert calls == []


@pytest.mark.slow
@pytest.mark.real_data
def test_real_data_in_weekly_files_refreshes_to_the_full_result(real_parquet, tmp_path):
    """The real log in weekly files, the last two weeks added one at a time: the live
    table equals reading the whole folder again, and equals the single file's customers."""
    from segkit.pipeline.workflow import train_model

    log = pd.read_parquet(real_parquet)
    week = log["InvoiceDate"].dt.to_period("W").astype(str).str[:10]
    weeks = sorted(week.unique())
    folder = tmp_path / "weeks"
    folder.mkdir()
    for w in weeks[:-2]:
        _write(log[week == w], folder / f"{w}.parquet")
    model, _ = train_model(load_customer_data(folder), k=4)
    live = _live(folder, model)
    for w in weeks[-2:]:
        _write(log[week == w], folder / f"{w}.parquet")
        assert live.refresh().how == "incremental"
    full = load_customer_data(folder)
    pd.testing.assert_frame_equal(live.features.sort_index(), full.customers)
    pd.testing.assert_frame_equal(full.customers, load_customer_data(real_parquet).customers)
    assert len(full.customers) == 4324


def test_a_broken_file_is_skipped_with_a_notice_and_read_once_fixed(folder, months, saved_model):
    live = _live(folder, saved_model)
    month, frame = list(months.items())[-2]
    path = _write(frame, folder / f"{month}.csv")
    path.write_text("this is not a transaction log\n")
    os.utime(path, (time.time() - 3600,) * 2)
    update = live.refresh()
    assert not update.added_files and "read again once it changes" in update.summary()
    assert live.refresh().summary() == "No change."
    _write(frame, path)
    assert live.refresh().added_files == [path.name]


def test_a_copy_of_a_file_is_told_once(folder, saved_model):
    live = _live(folder, saved_model)
    first = sorted(folder.glob("*.csv"))[0]
    (folder / "copy.csv").write_bytes(first.read_bytes())
    os.utime(folder / "copy.csv", (time.time() - 3600,) * 2)
    assert "'copy.csv' has the same contents as" in live.refresh().summary()
    assert live.refresh().summary() == "No change."


def test_overlapping_exports_count_each_sale_once(tmp_path, saved_model):
    """b.csv repeats a.csv's lines (a partly cancelled purchase among them) and adds one:
    the folder reads as b.csv alone, also live, and dropping a.csv changes nothing."""
    header = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
    a = ("1001,22423,CAKESTAND,10,2011-01-03 10:00,2.0,17850,United Kingdom\n"
         "1002,85123A,HEART,5,2011-01-04 10:00,1.0,17850,United Kingdom\n"
         "C1003,22423,CAKESTAND,-4,2011-01-05 10:00,2.0,17850,United Kingdom\n")
    b = a + "1004,85123A,HEART,1,2011-01-06 10:00,1.0,17850,United Kingdom\n"
    folder = tmp_path / "exports"
    folder.mkdir()
    for name, text in (("a.csv", a), ("b.csv", b)):
        (folder / name).write_text(header + text)
    alone = tmp_path / "b-alone.csv"
    alone.write_text(header + b)
    expected = load_customer_data(alone).customers
    assert expected.loc["17850", "TotalQuantity"] == 12  # 10 - 4 + 5 + 1
    notes: list[str] = []
    assert len(load_log(folder, notes=notes)) == 4 and "3 lines appear in more than one file" in notes[0]
    data = load_customer_data(folder)
    pd.testing.assert_frame_equal(data.customers, expected)
    # The cleaning report (printed by `segkit train`) says so in its own row, cached or not.
    for report in (data.report, load_customer_data(folder).report):
        overlap = report.set_index("rule").loc["overlapping files (kept once)"]
        assert overlap["rows_removed"] == 3 and overlap["revenue_removed"] == 10 * 2.0 + 5 * 1.0 - 4 * 2.0
        assert report.iloc[0]["rows_left"] == 7 and report.iloc[1]["rows_left"] == 4

    (folder / "b.csv").unlink()
    live = LiveLog(folder, saved_model, allow_short_window=True, settle=0)
    live.refresh()
    (folder / "b.csv").write_text(header + b)
    live.refresh()
    pd.testing.assert_frame_equal(live.features, expected)
    (folder / "a.csv").unlink()
    update = live.refresh()
    assert update.removed_lines == 3 and not update.gone_customers
    pd.testing.assert_frame_equal(live.features, expected)


def test_a_refused_refresh_changes_nothing(folder, saved_model, tmp_path):
    from segkit.errors import SegkitDataError

    live = _live(folder, saved_model)
    before = (dict(live.files), live.customers.copy(), len(live.transactions))
    aside = tmp_path / "aside"
    aside.mkdir()
    for path in folder.iterdir():
        path.rename(aside / path.name)
    with pytest.raises(SegkitDataError, match="no usable lines"):
        live.refresh()
    assert live.files == before[0] and len(live.transactions) == before[2]
    pd.testing.assert_frame_equal(live.customers, before[1])
    for path in aside.iterdir():
        path.rename(folder / path.name)
    assert live.refresh().summary() == "No change."


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
            _write(months[name], tmp_path / side / f"{name}.parquet")
    _write(frame, tmp_path / "a" / f"{month}.csv")
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
        _write(months[name], tmp_path / "c" / f"{name}.parquet")
    third = LiveFeed(tmp_path / "c", saved_model, allow_short_window=True, settle=10, folder=shared)
    third.check()
    assert path.name not in third.files
    pd.testing.assert_frame_equal(third.customers, alone.customers)


def _halves(months) -> list[tuple[str, pd.DataFrame]]:
    """The last two months in four files (the folder fixture holds the months before)."""
    out = []
    for month, frame in list(months.items())[-2:]:
        day = pd.to_datetime(frame["InvoiceDate"]).dt.day
        out += [(f"{month}-a.parquet", frame[day <= 15]), (f"{month}-b.parquet", frame[day > 15])]
    return out


@pytest.mark.slow  # over 3.5 s on an idle machine: out of make test-fast
def test_old_snapshots_are_pruned_per_log_and_a_fresh_kernel_computes_from_the_chain(folder, months, saved_model,
                                                                                     tmp_path):
    shared = tmp_path / "snapshots"
    other = tmp_path / "other"
    other.mkdir()
    _write(list(months.values())[0], other / "first.parquet")
    LiveFeed(other, saved_model, allow_short_window=True, settle=0, folder=shared).check()
    feed = LiveFeed(folder, saved_model, allow_short_window=True, settle=0, folder=shared, keep=2)
    feed.check()
    for name, frame in _halves(months)[:3]:
        _write(frame, folder / name)
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
    name, frame = _halves(months)[3]
    _write(frame, folder / name)
    fresh = LiveFeed(folder, saved_model, allow_short_window=True, settle=0, folder=shared, keep=2)
    assert fresh.check().how == "incremental" and fresh.computed == 1
    alone = _live(folder, saved_model)
    pd.testing.assert_frame_equal(fresh.customers, alone.customers)
    pd.testing.assert_frame_equal(fresh._live.transactions.drop(columns="SourceFile").sort_values(
        list(alone.transactions.columns[:-1])).reset_index(drop=True),
        alone.transactions.drop(columns="SourceFile").sort_values(list(alone.transactions.columns[:-1]))
        .reset_index(drop=True), check_dtype=False)
    # The page that computed the previous snapshot reads this one.
    assert feed.check().how == "snapshot"
    pd.testing.assert_frame_equal(feed.customers, alone.customers)


def test_a_reader_whose_snapshot_is_removed_meanwhile_computes_it(folder, months, saved_model, tmp_path, monkeypatch):
    import segkit.live.snapshot_store as live_module

    shared = tmp_path / "snapshots"
    first = LiveFeed(folder, saved_model, allow_short_window=True, settle=0, folder=shared)
    second = LiveFeed(folder, saved_model, allow_short_window=True, settle=0, folder=shared)
    first.check()
    second.check()
    name, frame = _halves(months)[0]
    _write(frame, folder / name)
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


def _append_csv(frame: pd.DataFrame, path: Path, age: float = 3600) -> None:
    frame.to_csv(path, mode="a", header=False, index=False)
    stamp = time.time() - age
    os.utime(path, (stamp, stamp))


@pytest.mark.slow
def test_a_growing_csv_is_read_from_where_it_ended(tmp_path, months, saved_model, monkeypatch):
    """A shop appending to one CSV: only the new lines are read, and the result is exactly
    that of reading the whole file (a fresh feed on the same folder, computed from scratch)."""
    import segkit.live.live_log as live_module

    folder = tmp_path / "data"
    folder.mkdir()
    log = pd.concat(list(months.values()), ignore_index=True)
    parts = [log.iloc[: len(log) // 2], log.iloc[len(log) // 2: 3 * len(log) // 4], log.iloc[3 * len(log) // 4:]]
    path = _write(parts[0], folder / "sales.csv")
    feed = LiveFeed(folder, saved_model, allow_short_window=True, settle=0, folder=tmp_path / "snapshots")
    feed.check()
    whole_reads = []
    load = live_module.load_transactions
    monkeypatch.setattr(live_module, "load_transactions", lambda *a, **k: whole_reads.append(a[0]) or load(*a, **k))
    for i, part in enumerate(parts[1:]):
        _append_csv(part, path)
        update = feed.check()
        assert whole_reads == []  # the grown file is not read whole
        assert update.how == "incremental" and update.changed_files == ["sales.csv"]
        assert update.new_lines == len(part) and update.removed_lines == 0
        assert feed.files["sales.csv"].grew_from and feed.files["sales.csv"].plain is True
        assert feed.files["sales.csv"].lines == sum(len(p) for p in parts[: i + 2])
        fresh = LiveFeed(folder, saved_model, allow_short_window=True, settle=0, folder=tmp_path / f"fresh{i}")
        fresh.check()
        assert fresh.computed == 1 and not fresh.files["sales.csv"].grew_from
        pd.testing.assert_frame_equal(feed.customers, fresh.customers)
        assert len(feed.lines) == len(fresh.lines)
        whole_reads.clear()  # the fresh feed's own reading
    pd.testing.assert_frame_equal(feed._live.transactions.drop(columns="SourceFile"),
                                  fresh._live.transactions.drop(columns="SourceFile"))


@pytest.mark.slow  # over 3.5 s on an idle machine: out of make test-fast
def test_a_rewritten_csv_is_read_whole(tmp_path, months, saved_model):
    folder = tmp_path / "data"
    folder.mkdir()
    log = pd.concat(list(months.values()), ignore_index=True)
    path = _write(log.iloc[: len(log) // 2], folder / "sales.csv")
    live = _live(folder, saved_model)
    # Longer, but its first lines changed (a price corrected): not an append.
    changed = log.iloc[: 2 * len(log) // 3].copy()
    changed.loc[changed.index[0], "UnitPrice"] = 99.0
    _write(changed, path)
    update = live.refresh()
    assert update.changed_files == ["sales.csv"] and not live.files["sales.csv"].grew_from
    assert update.removed_lines == len(log) // 2 and update.new_lines == len(changed)
    pd.testing.assert_frame_equal(live.customers, _live(folder, saved_model).customers)
    # Grown, but the old end was cut mid-line: read whole too.
    cut = path.read_bytes()[:-5]
    path.write_bytes(cut)
    os.utime(path, (time.time() - 3600,) * 2)
    live.refresh()
    with open(path, "ab") as fh:
        fh.write(b"\n" + log.iloc[-3:].to_csv(index=False, header=False).encode())
    os.utime(path, (time.time() - 3600,) * 2)
    live.refresh()
    assert not live.files["sales.csv"].grew_from
    pd.testing.assert_frame_equal(live.customers, _live(folder, saved_model).customers)


def _with_a_line_break_in_country(frame: pd.DataFrame) -> str:
    """``frame`` as CSV lines whose last one has its Country quoted over two lines."""
    frame = frame.copy()
    frame.loc[frame.index[-1], "Country"] = "United\nKingdom"
    return frame.to_csv(index=False, header=False)


@pytest.mark.slow  # over 3.5 s on an idle machine: out of make test-fast
def test_a_csv_finished_between_the_scan_and_its_reading_is_read_on_from_a_whole_line(tmp_path, months, saved_model):
    """The writer finishes a line between the folder's scan and the file's reading (here a
    quoted field over two lines, the scan seeing only its first): the lines kept are those
    of the bytes scanned, so the next growth is read from the end of a whole line, not from
    inside the quoted field; the lines as read equal a fresh read of the whole file."""
    folder = tmp_path / "data"
    folder.mkdir()
    log = pd.concat(list(months.values()), ignore_index=True)
    n = len(log)
    path = _write(log.iloc[: n // 3], folder / "sales.csv")
    live = _live(folder, saved_model)
    _append_csv(log.iloc[n // 3: n // 2], path)
    live.refresh()  # grown once: its earlier lines are known to read alike alone
    assert live.files["sales.csv"].plain is True
    text = _with_a_line_break_in_country(log.iloc[n // 2: n // 2 + 20])
    cut = text.rindex("United\n") + len("United\n")  # inside the quotes of the last line
    stamp = time.time() - 3600
    with open(path, "a", newline="") as fh:
        fh.write(text[:cut])
    os.utime(path, (stamp, stamp))
    ready, waiting = live.scan.check()
    with open(path, "a", newline="") as fh:  # the writer finishes the line before it is read
        fh.write(text[cut:])
    os.utime(path, (stamp + 1, stamp + 1))
    update = live.apply(ready, waiting)
    assert update.waiting_files == ["sales.csv"] and live.files["sales.csv"].lines == n // 2
    _append_csv(log.iloc[n // 2 + 20: 3 * n // 4], path)
    live.refresh()
    fresh = _live(folder, saved_model)
    assert live.files["sales.csv"].lines == fresh.files["sales.csv"].lines == 3 * n // 4
    pd.testing.assert_frame_equal(live.transactions.drop(columns="SourceFile"),
                                  fresh.transactions.drop(columns="SourceFile"))
    pd.testing.assert_frame_equal(live.customers, fresh.customers)


@pytest.mark.slow
def test_a_growing_csv_is_hashed_once(tmp_path, months, saved_model, monkeypatch):
    """The scan hashes the grown file in one pass and takes its earlier bytes' digest on the
    way: they are not read again to check that the file only grew."""
    import segkit.live.folder_scan as live_module

    folder = tmp_path / "data"
    folder.mkdir()
    log = pd.concat(list(months.values()), ignore_index=True)
    path = _write(log.iloc[: len(log) // 2], folder / "sales.csv")
    feed = LiveFeed(folder, saved_model, allow_short_window=True, settle=0, folder=tmp_path / "snapshots")
    feed.check()
    _append_csv(log.iloc[len(log) // 2:], path)
    reads = []
    for name in ("file_digest", "prefix_digest", "file_digests"):
        real = getattr(live_module, name)
        monkeypatch.setattr(live_module, name, lambda *a, real=real, name=name: reads.append(name) or real(*a))
    update = feed.check()
    assert update.changed_files == ["sales.csv"] and feed.files["sales.csv"].grew_from
    assert reads == ["file_digests"]


def test_snapshots_of_an_earlier_segkit_are_removed_once_a_day_old(folder, saved_model, tmp_path):
    import json
    import os
    import time

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
