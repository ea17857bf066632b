"""Date and category filters of a log aggregated out of core (``segkit.page.large_log``):
the engine's window activity equals ``state.date_range_activity`` on the same log in memory."""
from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from segkit.config import Settings
from segkit.views.tables import ALL

VIEWER = Settings(analyst=False)


@pytest.fixture(scope="module")
def large_and_in_memory(tmp_path_factory):
    """A generated log of 60,000 lines (cancellations, duplicates, guest orders) read twice:
    out of core by the dashboard (threshold 50,000 lines) and in memory."""
    from segkit.dashboard import OutOfCoreData, load_dashboard_data
    from segkit.ingest.sample import write_large_log
    from segkit.pipeline.workflow import load_customer_data

    folder = tmp_path_factory.mktemp("large-log")
    log = write_large_log(folder / "log.parquet", 60_000, seed=3)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEGKIT_CACHE", str(folder / "cache"))
        patch.setenv("SEGKIT_LARGE_LOG_LINES", "50000")
        large = load_dashboard_data(log)
        assert isinstance(large, OutOfCoreData) and large.lines.empty
        in_memory = load_customer_data(log)
        lines = in_memory.lines
    yield folder, large, in_memory, lines


def _windows(lines: pd.DataFrame) -> list[tuple]:
    first, last = lines["InvoiceDate"].min(), lines["InvoiceDate"].max()
    middle = (first + (last - first) / 2).date()
    return [
        (date(middle.year, middle.month, 1), middle, ALL),  # a date range
        (None, None, "Christmas"),  # a category
        (middle, None, "Kitchen"),  # both
        (first.date(), first.date(), ALL),  # the first day alone
        (None, middle, "Other"),  # lines without a known category word, missing descriptions
        (middle, first.date(), ALL),  # start after end: nobody
    ]


@pytest.mark.slow
def test_window_activity_out_of_core_equals_in_memory(large_and_in_memory, monkeypatch):
    from segkit.dashboard.state import date_range_activity
    from segkit.page.data import large_log_date_ranges
    from segkit.views.tables import line_categories

    folder, large, in_memory, lines = large_and_in_memory
    monkeypatch.setenv("SEGKIT_CACHE", str(folder / "cache"))
    windows = large_log_date_ranges(large)
    categories = line_categories(lines)
    assert windows.category_names == sorted(str(c) for c in categories.cat.categories)
    told = []
    for start, end, category in _windows(lines):
        expected = date_range_activity(lines, categories, start, end, category)
        got = windows.activity(start, end, category, progress=told.append)
        pd.testing.assert_frame_equal(got, expected, check_exact=True, obj=f"{start}..{end} {category}")
    assert len(expected) == 0  # start after end
    assert told[0].startswith("Computing the date filter over 60,000 lines of log.parquet with DuckDB")
    assert told[1] == "" and all(t == "" for t in told[1::2]) and len(told) == 2 * len(_windows(lines))
    assert list((folder / "cache").glob("windows-log-*/part-*.parquet"))
    # the whole period and every category narrow nothing, as in memory
    assert windows.activity(lines["InvoiceDate"].min().date(), lines["InvoiceDate"].max().date()) is None
    # a filter seen before comes from memory: nothing computed, nothing said
    told.clear()
    start, end, category = _windows(lines)[0]
    assert windows.activity(start, end, category, progress=told.append) is windows.activity(start, end, category)
    assert told == []


def test_a_new_kernel_reads_the_window_table_of_the_first(large_and_in_memory, monkeypatch):
    from segkit.page import large_log
    from segkit.page.data import large_log_date_ranges

    folder, large, _, lines = large_and_in_memory
    monkeypatch.setenv("SEGKIT_CACHE", str(folder / "cache"))
    large_log_date_ranges(large).activity(None, None, "Christmas")
    monkeypatch.setattr(large_log, "write_date_range_table", lambda *a, **k: pytest.fail("computed again"))
    again = large_log_date_ranges(large)
    assert again.activity(None, None, "Christmas") is not None and again.category_names


@pytest.mark.slow
def test_out_of_core_page_filters_by_date_and_category(large_and_in_memory, monkeypatch):
    from segkit.dashboard import Dashboard
    from segkit.dashboard.state import date_range_activity
    from segkit.views.tables import line_categories

    folder, large, in_memory, lines = large_and_in_memory
    monkeypatch.setenv("SEGKIT_CACHE", str(folder / "cache"))
    dash = Dashboard(large, artifacts=folder / "artifacts", settings=VIEWER, query="")
    assert dash.state.can_filter_dates and not dash.filters.date_start.disabled
    assert not dash.filters.category_filter.disabled and "Christmas" in dash.filters.category_filter.options
    assert "DuckDB computes each window" in dash.filters.widget.children[-2].value
    shown = []
    dash.state.observe(lambda change: shown.append(dash.header.progress.value), names="progress")
    everyone = len(dash.state.selection)
    dash.filters.date_start.value = "01/09/2011"
    assert dash.state.message == ""
    assert "Computing the date filter over 60,000 lines" in shown[0] and "seg-busy" in shown[0]
    assert dash.header.progress.value == ""
    expected = date_range_activity(lines, line_categories(lines), date(2011, 9, 1), None, ALL)
    assert len(dash.state.selection) == len(expected) < everyone
    table = dash.state.table_frame()
    assert {"PurchasesInWindow", "SpendInWindow"} <= set(table.columns)
    dash.filters.category_filter.value = "Christmas"
    expected = date_range_activity(lines, line_categories(lines), date(2011, 9, 1), None, "Christmas")
    assert len(dash.state.selection) == len(expected)
    dash.filters.reset_filters.click()
    assert len(dash.state.selection) == everyone


@pytest.mark.real_data
def test_real_data_out_of_core_windows_equal_in_memory(real_parquet, real_data, tmp_path, monkeypatch):
    """The real log (541,909 lines; prices with three decimals, descriptions missing or
    odd) forced out of core: every window to the cent, as in memory."""
    from segkit.dashboard import OutOfCoreData, load_dashboard_data
    from segkit.dashboard.state import date_range_activity
    from segkit.page.data import large_log_date_ranges
    from segkit.views.tables import line_categories

    monkeypatch.setenv("SEGKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SEGKIT_LARGE_LOG_LINES", "100000")
    large = load_dashboard_data(real_parquet)
    assert isinstance(large, OutOfCoreData) and len(large.customers) == len(real_data.customers)
    windows = large_log_date_ranges(large)
    lines = real_data.lines
    categories = line_categories(lines)
    assert windows.category_names == sorted(str(c) for c in categories.cat.categories)
    for start, end, category in _windows(lines) + [(None, None, name) for name in windows.category_names]:
        expected = date_range_activity(lines, categories, start, end, category)
        got = windows.activity(start, end, category)
        pd.testing.assert_frame_equal(got, expected, check_exact=True, obj=f"{start}..{end} {category}")


@pytest.mark.slow
def test_window_table_in_customer_buckets_gives_the_same_windows(large_and_in_memory, tmp_path, monkeypatch):
    """A log too large for one pass is cleaned per bucket of customers (as the customer
    table is): the windows stay those of the lines in memory."""
    import segkit.engines.outofcore
    from segkit.dashboard.state import date_range_activity
    from segkit.page.data import large_log_date_ranges
    from segkit.views.tables import line_categories

    _, large, _, lines = large_and_in_memory
    monkeypatch.setenv("SEGKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(segkit.engines.outofcore, "ROWS_PER_GB", 10_000)  # 60,000 lines: 6 buckets at 1 GB
    windows = large_log_date_ranges(large)
    categories = line_categories(lines)
    for start, end, category in _windows(lines):
        expected = date_range_activity(lines, categories, start, end, category)
        pd.testing.assert_frame_equal(windows.activity(start, end, category), expected, check_exact=True)
    assert len(list(windows.table_folder.glob("part-*.parquet"))) == 6


@pytest.mark.slow
def test_serving_prepares_the_window_table_before_any_visitor(tmp_path):
    """``segkit.server.serve`` opens the page before Voilà starts; for a log aggregated out of core
    that includes the filters' window table, so the first visitor's date change does not
    read and clean the whole log while the page waits."""
    import os

    from segkit.ingest.sample import write_large_log
    from segkit.server.serve import prepare_page

    log = write_large_log(tmp_path / "log.parquet", 60_000, seed=5)
    env = dict(os.environ, SEGKIT_CACHE=str(tmp_path / "cache"), SEGKIT_LARGE_LOG_LINES="50000",
               SEGKIT_DATA=str(log), SEGKIT_ARTIFACTS=str(tmp_path / "artifacts"))
    assert not list(tmp_path.glob("cache/windows-log-*"))
    prepare_page(env)
    assert list(tmp_path.glob("cache/windows-log-*/part-*.parquet")), "no window table before serving"
    assert list(tmp_path.glob("cache/categories-log-*.parquet"))
