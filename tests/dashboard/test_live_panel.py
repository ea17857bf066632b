"""The live page without a browser (``segkit.dashboard.live_panel``): a dashboard on a folder of
files follows it, with the saved model; what an update says; the customer filter."""
from __future__ import annotations

import asyncio
import html
import shutil
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from live_files import write_settled

from segkit.dashboard.live_panel import (
    MoveGroup,
    move_groups,
    notice_lines,
    status_text,
)
from segkit.live.refresh_changes import LiveUpdate, order_moves
from segkit.views.tables import Filters, filter_mask

HELD_BACK = 3  # the sample's last days, dropped into the folder by the tests



def in_fresh_thread(call):
    """``call()`` in a thread of its own, as in a kernel's worker: the browser tests' sync
    Playwright keeps an event loop running in the main thread, and ``asyncio.run`` refuses
    to nest in it."""
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(call).result()


class SampleFolder:
    """The built-in sample as a folder: monthly files up to ten days before its end, daily
    files after that, the last ``HELD_BACK`` days in ``coming`` (day -> lines)."""

    def __init__(self, path: Path, log: pd.DataFrame):
        self.path = path
        path.mkdir(parents=True)
        day = log["InvoiceDate"].dt.strftime("%Y-%m-%d")
        month = log["InvoiceDate"].dt.strftime("%Y-%m")
        days = sorted(day.unique())
        history = day < days[-10]
        for m in sorted(month[history].unique()):
            write_settled(log[history & (month == m)], path / f"{m}.parquet")
        for d in days[-10:-HELD_BACK]:
            write_settled(log[day == d], path / f"{d}.parquet")
        self.coming = {d: log[day == d] for d in days[-HELD_BACK:]}

    def customers(self) -> pd.DataFrame:
        """The folder's customers read from scratch (what the page must show)."""
        from segkit.pipeline.workflow import load_customer_data

        return load_customer_data(self.path, use_cache=False).customers


@pytest.fixture(scope="module")
def trained(tmp_path_factory, sample_log):
    """A folder and a model trained on it, saved: ``(folder, artifacts)``."""
    from segkit.pipeline.artifacts import save_artifacts
    from segkit.pipeline.workflow import load_customer_data, train_model

    root = tmp_path_factory.mktemp("live-page")
    folder = SampleFolder(root / "data", sample_log)
    data = load_customer_data(folder.path)
    model, _ = train_model(data, 4)
    save_artifacts(model, root / "artifacts", data.training_info())
    return folder, root / "artifacts"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A cache folder of the test's own: live snapshots are shared by every page of the
    same model, and a test's folder must not start from another test's snapshot."""
    monkeypatch.setenv("SEGKIT_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def page(tmp_path, trained, cache):
    """A dashboard on a fresh copy of the folder: ``(dashboard, folder)``."""
    from segkit.dashboard import Dashboard

    source, artifacts = trained
    folder = SampleFolder.__new__(SampleFolder)
    folder.path, folder.coming = tmp_path / "data", source.coming
    shutil.copytree(source.path, folder.path)
    # Built in a thread without an event loop, like the page in a kernel before its timer
    # starts (the browser tests' Playwright runs a loop in this one).
    return in_fresh_thread(lambda: Dashboard(folder.path, artifacts, query="")), folder


# ------------------------------------------------------------------ what an update says

def test_move_groups_put_the_moves_that_matter_first():
    old = pd.Series({"a": "Regular", "b": "VIP", "c": "Budget", "d": "Loyal", "e": "Lost", "f": "VIP"})
    new = pd.Series({"a": "Loyal", "b": "At risk", "c": "At risk", "d": "Lost", "e": "Regular", "f": "At risk"})
    spend = pd.Series({"a": 10.0, "b": 50.0, "c": 5.0, "d": 70.0, "e": 1.0, "f": 900.0})
    groups = move_groups(order_moves(old, new, spend))
    assert [(g.source, g.target) for g in groups] == [
        ("VIP", "At risk"), ("Loyal", "Lost"), ("Budget", "At risk"), ("Lost", "Regular"), ("Regular", "Loyal")]
    assert groups[0] == MoveGroup("VIP", "At risk", ("f", "b"), True)  # the larger spender first
    assert [g.matters for g in groups] == [True, True, False, False, False]
    assert groups[0].label == "2 VIP → At risk" and "the 2 customers who moved VIP → At risk" == groups[0].description
    assert move_groups(order_moves(old, old)) == []


def test_the_notice_says_what_changed_in_plain_sentences():
    moves = order_moves(pd.Series({"a": "Loyal", "b": "Budget"}), pd.Series({"a": "Lost", "b": "Regular"}))
    update = LiveUpdate(added_files=["2011-12-09.csv"], removed_files=["2011-11.parquet"], waiting_files=["next.csv"],
                        new_lines=1234, removed_lines=5678, new_customers=["x", "y"], moves=moves,
                        last_purchase=pd.Timestamp("2011-12-09 12:50"), updated=pd.Timestamp("2026-01-02 14:03"))
    lines = notice_lines(update)
    assert lines == [
        "1,234 new lines from '2011-12-09.csv'.",
        "'2011-11.parquet' is no longer in the folder: its 5,678 lines were dropped.",
        "2 new customers.",
        "2 customers moved segment, 1 from VIP or Loyal to Lost: choose a move to see those customers "
        "in the table.",
        "'next.csv' still being written; read at a later check.",
    ]
    assert notice_lines(LiveUpdate()) == ["No change in the customers."]
    assert status_text(update, 60) == ("Data up to 9 Dec 2011 12:50, updated 14:03 UTC · new files are checked for "
                                       "every 60 s")


def test_the_customer_filter_keeps_only_those_customers(sample_data):
    customers = sample_data.customers.assign(Segment="A")
    chosen = tuple(str(c) for c in customers.index[[3, 1, 7]])
    mask = filter_mask(customers, Filters(customers=chosen))
    assert set(customers.index[mask].astype(str)) == set(chosen)
    assert filter_mask(customers, Filters(customers=())).sum() == 0
    assert filter_mask(customers, Filters()).all()


# ------------------------------------------------------------------ the page

def _kpi_customers(dashboard) -> int:
    return len(dashboard.state.selection)


@pytest.mark.slow
def test_a_folder_page_takes_new_files_and_keeps_the_view(page):
    dashboard, folder = page
    state, live = dashboard.state, dashboard.live
    model = state.model
    assert live.feed is not None and state.saved and "Using the saved model" in state.status.text
    assert "new files are scored with it, never trained on" in state.status.text
    first = len(state.data.customers)
    # The viewer's view: UK customers, sorted by purchases ascending, page 2.
    state.filters = replace(state.filters, country="United Kingdom")
    dashboard.table.sort_by.value, dashboard.table.sort_order.value = "NumPurchases", "Ascending"
    dashboard.table._turn(+1)
    assert dashboard.table.page == 2
    before_status = live.status.value
    assert live.check() is None  # nothing new: nothing redrawn

    day, frame = next(iter(folder.coming.items()))
    write_settled(frame, folder.path / f"{day}.parquet")
    update = live.check()
    expected = folder.customers()
    assert update is not None and update.added_files == [f"{day}.parquet"]
    pd.testing.assert_frame_equal(state.data.customers, expected, check_dtype=False)
    assert len(state.data.customers) == first + len(update.new_customers) and update.new_customers
    assert state.data_version == 1 and state.model is model and state.model_version == 0  # nothing retrained
    # The view stays as the viewer set it.
    assert state.filters.country == ("United Kingdom",) and dashboard.filters.country_filter.value == ("United Kingdom",)
    assert (dashboard.table.sort_by.value, dashboard.table.sort_order.value, dashboard.table.page) == (
        "NumPurchases", "Ascending", 2)
    assert _kpi_customers(dashboard) == int((expected["Country"] == "United Kingdom").sum())
    # Header, data line and notice follow the new data.
    last = expected["LastPurchase"].max()
    assert live.status.value != before_status and f"Data up to {last.day} {last:%b %Y %H:%M}" in live.status.value
    assert f"{len(expected):,} customers" in dashboard.header.source.value
    assert live.notice.layout.display == "" and f"new lines from &#x27;{day}.parquet&#x27;" in live.notice_text.value
    assert state.message == ""


@pytest.mark.slow
def test_a_move_button_filters_the_table_to_those_customers(page):
    dashboard, folder = page
    state, live = dashboard.state, dashboard.live
    for day, frame in folder.coming.items():
        write_settled(frame, folder.path / f"{day}.parquet")
    update = live.check()
    groups = move_groups(update.moves)
    assert groups, "three more days move some customers"
    buttons = [b for b in live.moves.children if "seg-live-move" in b._dom_classes]
    assert [b.description for b in buttons] == [g.label for g in groups][:len(buttons)]
    matters = [b for b in buttons if "seg-live-move-matters" in b._dom_classes]
    assert len(matters) == sum(g.matters for g in groups[:len(buttons)])
    assert buttons and live.filter_chip.layout.display == "none"

    buttons[0].click()
    shown = set(state.selection.shown.index.astype(str))
    assert shown == set(groups[0].customers) and dashboard.table.n_rows == len(groups[0].customers)
    assert live.filter_chip.layout.display == "" and groups[0].description in live.filter_text.value
    live.clear_filter.click()
    assert state.filters.customers is None and live.filter_chip.layout.display == "none"
    assert len(state.selection) == len(state.data.customers)

    new = [b for b in live.moves.children if "seg-live-new" in b._dom_classes]
    assert len(new) == 1
    new[0].click()
    assert set(state.selection.shown.index.astype(str)) == set(update.new_customers)
    dashboard.filters.reset_filters.click()  # "Reset filters" clears it too
    assert state.filters == Filters() and live.filter_chip.layout.display == "none"


def test_a_file_still_being_written_is_not_read(page, monkeypatch):
    dashboard, folder = page
    live = dashboard.live
    day, frame = next(iter(folder.coming.items()))
    path = folder.path / f"{day}.csv"
    half = len(frame) // 2
    frame.iloc[:half].to_csv(path, index=False)  # written just now, still growing
    now = time.time()
    assert live.check(now) is None and dashboard.state.data_version == 0
    frame.to_csv(path, index=False)  # the rest of it
    assert live.check(time.time()) is None  # changed since the last check: still being written
    update = live.check(time.time() + live.feed.scan.settle + 1)  # left alone long enough
    assert update is not None and update.added_files == [path.name] and update.new_lines == len(frame)
    pd.testing.assert_frame_equal(dashboard.state.data.customers, folder.customers(), check_dtype=False)


@pytest.mark.slow
def test_a_file_being_written_when_the_page_opens_is_said_and_read_later(tmp_path, trained, cache):
    from segkit.dashboard import Dashboard

    source, artifacts = trained
    shutil.copytree(source.path, tmp_path / "data")
    day, frame = next(iter(source.coming.items()))
    frame.to_csv(tmp_path / "data" / f"{day}.csv", index=False)  # written just now
    dashboard = Dashboard(tmp_path / "data", artifacts, query="")
    live = dashboard.live
    assert live.notice.layout.display == "" and "About the data." in live.notice_text.value
    assert f"&#x27;{day}.csv&#x27; still being written" in live.notice_text.value
    assert [b for b in live.moves.children if "seg-live-dismiss" not in b._dom_classes] == []
    update = live.check(time.time() + live.feed.scan.settle + 1)
    assert update.added_files == [f"{day}.csv"] and "New data." in live.notice_text.value


@pytest.mark.slow
def test_a_removed_file_is_dropped_with_a_notice(page):
    dashboard, folder = page
    gone = sorted(folder.path.glob("*.parquet"))[-1]
    gone.unlink()
    update = dashboard.live.check()
    assert update.removed_files == [gone.name]
    assert f"&#x27;{gone.name}&#x27; is no longer in the folder" in dashboard.live.notice_text.value
    pd.testing.assert_frame_equal(dashboard.state.data.customers, folder.customers(), check_dtype=False)


def test_the_timer_checks_on_the_event_loop(page):
    """``start()`` in a running event loop (as in a kernel): the check runs in a worker
    thread, the update is applied on the loop."""
    dashboard, folder = page
    live = dashboard.live
    assert in_fresh_thread(live.start) is False  # no event loop there: no timer
    day, frame = next(iter(folder.coming.items()))

    async def follow():
        live.interval = 0.05
        assert live.start() is True
        write_settled(frame, folder.path / f"{day}.parquet")
        await asyncio.sleep(0.5)
        assert live.checks == 0  # not shown in a browser yet (a pre-heated kernel): no check
        live.page_opened()
        for _ in range(400):
            await asyncio.sleep(0.05)
            if live.updates:
                break
        await asyncio.sleep(0.3)  # more checks, nothing new
        live.stop()

    in_fresh_thread(lambda: asyncio.run(follow()))
    assert live.updates == 1 and dashboard.state.data_version == 1 and len(live.check_seconds) == 1
    assert live.checks > 1
    assert f"{day}.parquet" in live.notice_text.value


def test_a_failed_check_is_said_and_the_page_keeps_its_data(page):
    from segkit.errors import SegkitDataError

    dashboard, _ = page
    live = dashboard.live
    data = dashboard.state.data
    live._check_failed(SegkitDataError("'x.csv' has no column for the customer id."))
    assert "failed ('x.csv' has no column for the customer id.)" in html.unescape(live.status.value)
    assert "Data up to" in live.status.value and dashboard.state.data is data
    assert live.check() is None and "failed" not in live.status.value  # a good check clears it


@pytest.mark.slow
def test_without_a_saved_model_a_folder_page_says_it_does_not_follow(trained, tmp_path, cache):
    from segkit.dashboard import Dashboard

    folder, _ = trained
    dashboard = Dashboard(folder.path, tmp_path / "no-artifacts", query="")
    assert dashboard.live.feed is None and not dashboard.state.saved
    assert "it does not follow new files (no saved model)" in dashboard.live.status.value
    assert str(tmp_path) not in dashboard.live.status.value  # the folders are for the server's log


def test_a_single_file_page_has_no_live_part(sample_data, tmp_path):
    from segkit.dashboard import Dashboard

    dashboard = Dashboard(sample_data, tmp_path / "artifacts", query="")
    assert dashboard.live.feed is None and dashboard.live.status.value == ""


def test_an_open_page_takes_a_model_saved_after_it_opened(sample_data, tmp_path):
    """Every page (not only a folder's) checks each interval whether a newer model was
    saved, and says that it now uses it; a page without an event loop checks when asked."""
    from segkit.dashboard import Dashboard
    from segkit.pipeline.artifacts import read_model_card, save_artifacts
    from segkit.pipeline.workflow import train_model

    first, _ = train_model(sample_data, 4)
    save_artifacts(first, tmp_path / "artifacts", sample_data.training_info())
    dashboard = in_fresh_thread(lambda: Dashboard(sample_data, tmp_path / "artifacts", query=""))
    state, live = dashboard.state, dashboard.live
    assert state.saved and live.check_model() is False  # nothing newer yet
    second, _ = train_model(sample_data, 3)
    save_artifacts(second, tmp_path / "artifacts", sample_data.training_info())

    async def follow():
        live.interval = 0.05
        assert live.start() is True
        live.page_opened()
        for _ in range(200):
            await asyncio.sleep(0.05)
            if state.model_version:
                break
        live.stop()

    in_fresh_thread(lambda: asyncio.run(follow()))
    assert state.model_version == 1 and state.card["created"] == read_model_card(tmp_path / "artifacts")["created"]
    assert "now uses the model saved" in state.notice
    assert len(state.segment_names) == len(second.segment_names_)


@pytest.mark.slow
def test_a_live_page_cleans_new_files_as_the_saved_model_was_trained(tmp_path, sample_log, cache):
    """A model trained on seed-cleaned lines: the folder page and its refreshes use the seed
    rules, so the customers it shows are the seed rules' customers, before and after a new day."""
    from segkit.dashboard import Dashboard
    from segkit.pipeline.artifacts import save_artifacts
    from segkit.pipeline.workflow import load_customer_data, train_model

    folder = SampleFolder(tmp_path / "data", sample_log)
    seed = load_customer_data(folder.path, rules="seed", use_cache=False)
    model, _ = train_model(seed, 4)
    save_artifacts(model, tmp_path / "artifacts", seed.training_info())
    dash = in_fresh_thread(lambda: Dashboard(folder.path, tmp_path / "artifacts", query=""))
    assert dash.state.data.rules == "seed"

    def same_as_a_fresh_seed_read():
        fresh = load_customer_data(folder.path, rules="seed", use_cache=False).customers
        pd.testing.assert_frame_equal(dash.state.data.customers, fresh, check_dtype=False)

    same_as_a_fresh_seed_read()
    day, lines = next(iter(folder.coming.items()))
    write_settled(lines, folder.path / f"{day}.parquet")
    update = dash.live.check()
    assert update is not None and update.added_files == [f"{day}.parquet"]
    same_as_a_fresh_seed_read()
