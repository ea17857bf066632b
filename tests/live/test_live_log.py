"""segkit.live.live_log: a folder log refreshed in place equals a full recompute."""
from __future__ import annotations

import os
import time

import pandas as pd
import pytest
from live_files import append_csv, refreshed_live_log, with_a_line_break_in_country, write_settled

from segkit.ingest.logs import load_log
from segkit.live.feed import LiveFeed
from segkit.live.live_log import LiveLog
from segkit.pipeline.workflow import load_customer_data


@pytest.mark.slow
def test_a_new_files_customers_appear_and_the_result_equals_a_full_recompute(folder, months, saved_model):
    live = refreshed_live_log(folder, saved_model)
    before = set(live.customers.index)
    month, frame = list(months.items())[-2]
    write_settled(frame, folder / f"{month}.csv")
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


def test_a_cancellation_in_a_new_file_changes_the_older_customer(folder, months, saved_model):
    live = refreshed_live_log(folder, saved_model)
    customer = live.customers["TotalSpend"].idxmax()
    lines = live.lines[live.lines["CustomerID"] == customer]
    bought = lines.sort_values("InvoiceDate").iloc[0]
    cancel = pd.DataFrame([{
        "InvoiceNo": "C999001", "StockCode": bought["StockCode"], "Description": bought["Description"],
        "Quantity": -int(bought["Quantity"]), "InvoiceDate": live.last_purchase + pd.Timedelta(hours=1),
        "UnitPrice": bought["UnitPrice"], "CustomerID": customer, "Country": bought["Country"]}])
    spend = live.customers.loc[customer, "TotalSpend"]
    write_settled(cancel, folder / "returns.csv")
    update = live.refresh()
    assert update.new_lines == 1 and not update.new_customers
    assert live.customers.loc[customer, "TotalSpend"] == pytest.approx(spend - bought["TotalPrice"], abs=0.01)
    pd.testing.assert_frame_equal(live.features.sort_index(), load_customer_data(folder).customers)


def test_nothing_retrains(folder, months, saved_model, monkeypatch):
    from segkit.modeling.model import SegmentationModel

    version, pipeline = saved_model.version_, saved_model.pipeline_
    monkeypatch.setattr(SegmentationModel, "fit", lambda *a, **k: pytest.fail("the live refresh refitted the model"))
    live = refreshed_live_log(folder, saved_model)
    month, frame = list(months.items())[-2]
    write_settled(frame, folder / f"{month}.csv")
    live.refresh()
    assert live.model is saved_model and saved_model.version_ == version and saved_model.pipeline_ is pipeline


@pytest.mark.slow
def test_a_removed_file_is_dropped_with_a_notice(folder, months, saved_model):
    live = refreshed_live_log(folder, saved_model)
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
    live = refreshed_live_log(folder, saved_model)
    path = sorted(folder.glob("*.csv"))[0]
    frame = pd.read_csv(path)
    write_settled(frame.iloc[:-10], path)
    update = live.refresh()
    assert update.changed_files == [path.name] and update.removed_lines - update.new_lines == 10
    pd.testing.assert_frame_equal(live.features.sort_index(), load_customer_data(folder).customers)


def test_a_short_log_is_refused_as_scoring_refuses_it(tmp_path, months, saved_model):
    from segkit.errors import SegkitDataError

    write_settled(next(iter(months.values())), tmp_path / "one-month.csv")
    with pytest.raises(SegkitDataError, match="covers .* days of purchases"):
        LiveLog(tmp_path, saved_model, settle=0).refresh()
    update = LiveLog(tmp_path, saved_model, settle=0, allow_short_window=True).refresh()
    assert "Scored anyway" in update.summary()


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
        write_settled(log[week == w], folder / f"{w}.parquet")
    model, _ = train_model(load_customer_data(folder), k=4)
    live = refreshed_live_log(folder, model)
    for w in weeks[-2:]:
        write_settled(log[week == w], folder / f"{w}.parquet")
        assert live.refresh().how == "incremental"
    full = load_customer_data(folder)
    pd.testing.assert_frame_equal(live.features.sort_index(), full.customers)
    pd.testing.assert_frame_equal(full.customers, load_customer_data(real_parquet).customers)
    assert len(full.customers) == 4324


def test_a_broken_file_is_skipped_with_a_notice_and_read_once_fixed(folder, months, saved_model):
    live = refreshed_live_log(folder, saved_model)
    month, frame = list(months.items())[-2]
    path = write_settled(frame, folder / f"{month}.csv")
    path.write_text("this is not a transaction log\n")
    os.utime(path, (time.time() - 3600,) * 2)
    update = live.refresh()
    assert not update.added_files and "read again once it changes" in update.summary()
    assert live.refresh().summary() == "No change."
    write_settled(frame, path)
    assert live.refresh().added_files == [path.name]


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

    live = refreshed_live_log(folder, saved_model)
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
def test_a_growing_csv_is_read_from_where_it_ended(tmp_path, months, saved_model, monkeypatch):
    """A shop appending to one CSV: only the new lines are read, and the result is exactly
    that of reading the whole file (a fresh feed on the same folder, computed from scratch)."""
    import segkit.live.live_log as live_module

    folder = tmp_path / "data"
    folder.mkdir()
    log = pd.concat(list(months.values()), ignore_index=True)
    parts = [log.iloc[: len(log) // 2], log.iloc[len(log) // 2: 3 * len(log) // 4], log.iloc[3 * len(log) // 4:]]
    path = write_settled(parts[0], folder / "sales.csv")
    feed = LiveFeed(folder, saved_model, allow_short_window=True, settle=0, folder=tmp_path / "snapshots")
    feed.check()
    whole_reads = []
    load = live_module.load_transactions
    monkeypatch.setattr(live_module, "load_transactions", lambda *a, **k: whole_reads.append(a[0]) or load(*a, **k))
    for i, part in enumerate(parts[1:]):
        append_csv(part, path)
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
    path = write_settled(log.iloc[: len(log) // 2], folder / "sales.csv")
    live = refreshed_live_log(folder, saved_model)
    # Longer, but its first lines changed (a price corrected): not an append.
    changed = log.iloc[: 2 * len(log) // 3].copy()
    changed.loc[changed.index[0], "UnitPrice"] = 99.0
    write_settled(changed, path)
    update = live.refresh()
    assert update.changed_files == ["sales.csv"] and not live.files["sales.csv"].grew_from
    assert update.removed_lines == len(log) // 2 and update.new_lines == len(changed)
    pd.testing.assert_frame_equal(live.customers, refreshed_live_log(folder, saved_model).customers)
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
    pd.testing.assert_frame_equal(live.customers, refreshed_live_log(folder, saved_model).customers)


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
    path = write_settled(log.iloc[: n // 3], folder / "sales.csv")
    live = refreshed_live_log(folder, saved_model)
    append_csv(log.iloc[n // 3: n // 2], path)
    live.refresh()  # grown once: its earlier lines are known to read alike alone
    assert live.files["sales.csv"].plain is True
    text = with_a_line_break_in_country(log.iloc[n // 2: n // 2 + 20])
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
    append_csv(log.iloc[n // 2 + 20: 3 * n // 4], path)
    live.refresh()
    fresh = refreshed_live_log(folder, saved_model)
    assert live.files["sales.csv"].lines == fresh.files["sales.csv"].lines == 3 * n // 4
    pd.testing.assert_frame_equal(live.transactions.drop(columns="SourceFile"),
                                  fresh.transactions.drop(columns="SourceFile"))
    pd.testing.assert_frame_equal(live.customers, fresh.customers)
