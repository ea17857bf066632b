"""Cleaning rules, in order, with the cancellation netting and the seed rules."""
from __future__ import annotations

import pandas as pd
import pytest

from segkit.clean import clean_transactions
from segkit.ingest.load import standardise_columns


def _lines(rows):
    frame = pd.DataFrame(rows, columns=["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate",
                                        "UnitPrice", "CustomerID", "Country"])
    return standardise_columns(frame)


def test_cancellation_nets_the_latest_earlier_purchase_of_the_same_product():
    lines = _lines([
        ["1", "A", "x", 10, "2011-01-01", 2.0, 1, "UK"],
        ["2", "A", "x", 5, "2011-02-01", 2.0, 1, "UK"],
        ["C3", "A", "x", -7, "2011-02-02", 2.0, 1, "UK"],
        ["4", "A", "x", 4, "2011-03-01", 2.0, 1, "UK"],  # after the cancellation: untouched
    ])
    clean, report = clean_transactions(lines)
    assert clean.sort_values("InvoiceDate")["Quantity"].tolist() == [8, 4]
    row = report.set_index("rule").loc["cancellations"]
    assert row["rows_removed"] == 2  # the C line and invoice 2, netted to zero
    assert row["revenue_removed"] == pytest.approx(14.0)


def test_giant_order_cancelled_the_same_day_leaves_nothing_behind():
    lines = _lines([
        ["581483", "23843", "PAPER CRAFT", 80995, "2011-12-09 09:15", 2.08, 16446, "UK"],
        ["C581484", "23843", "PAPER CRAFT", -80995, "2011-12-09 09:27", 2.08, 16446, "UK"],
        ["5", "85099B", "y", 1, "2011-12-01", 1.0, 99, "UK"],
    ])
    clean, _ = clean_transactions(lines)
    assert clean["CustomerID"].tolist() == ["99"]


def test_rules_apply_in_order_and_report_adds_up():
    lines = _lines([
        ["1", "A", "x", 1, "2011-01-01", 2.0, None, "UK"],
        ["2", "A", "x", 1, "2011-01-01", 0.0, 1, "UK"],
        ["3", "POST", "POSTAGE", 1, "2011-01-01", 18.0, 1, "UK"],
        ["4", "A", "x", 2, "2011-01-01", 3.0, 1, "UK"],
        ["4", "A", "x", 2, "2011-01-01", 3.0, 1, "UK"],
    ])
    clean, report = clean_transactions(lines)
    assert report["rule"].tolist() == ["loaded", "missing customer", "missing date", "outlier dates",
                                       "missing quantity", "missing price", "cancellations", "non-positive price",
                                       "non-product codes", "duplicate lines"]
    assert report["rows_removed"].tolist() == [0, 1, 0, 0, 0, 0, 0, 1, 1, 1]
    assert report["rows_left"].iloc[-1] == len(clean) == 1
    assert report["revenue_removed"].iloc[1:].sum() + report["revenue_left"].iloc[-1] == pytest.approx(report["revenue_left"].iloc[0])


def test_seed_rules_drop_missing_customer_and_non_positive_quantity_only():
    lines = _lines([
        ["1", "POST", "POSTAGE", 1, "2011-01-01", 18.0, 1, "UK"],
        ["C2", "A", "x", -1, "2011-01-02", 2.0, 1, "UK"],
        ["3", "A", "x", 1, "2011-01-03", 2.0, None, "UK"],
    ])
    clean, report = clean_transactions(lines, rules="seed")
    assert clean["StockCode"].tolist() == ["POST"]
    assert clean["TotalPrice"].tolist() == [18.0]
    assert report["rule"].tolist() == ["loaded", "missing customer", "missing date", "outlier dates",
                                       "missing quantity", "missing price", "quantity <= 0"]


def test_non_product_codes_are_configurable():
    codes = ["POST", "85123A", "gift_0001_20", "TEST001", "M", "m", "BANK CHARGES"]
    lines = _lines([[str(i), code, "x", 1, "2011-01-01", 2.0, 1, "UK"] for i, code in enumerate(codes)])
    kept = clean_transactions(lines).lines["StockCode"].tolist()
    assert kept == ["85123A"]
    kept = clean_transactions(lines, non_product_codes=["85123A"], non_product_prefixes=[]).lines["StockCode"].tolist()
    assert kept == [c for c in codes if c != "85123A"]


def test_sample_cleaning_removes_the_built_in_traps(sample_data):
    report = sample_data.report.set_index("rule")
    for rule in ("missing customer", "cancellations", "non-product codes", "duplicate lines"):
        assert report.loc[rule, "rows_removed"] > 0, rule
    assert not sample_data.lines["InvoiceNo"].str.startswith("C").any()
    assert (sample_data.lines["Quantity"] > 0).all()


def _dated_lines(n: int = 400) -> list[list]:
    days = pd.date_range("2010-12-01", "2011-12-09", periods=n).strftime("%Y-%m-%d %H:%M")
    return [[str(i), "A", "x", 1, day, 2.0, i % 20, "UK"] for i, day in enumerate(days)]


def test_outlier_dates_are_excluded_with_a_report_row():
    rows = _dated_lines() + [["900", "A", "x", 1, "2099-01-01", 2.0, 1, "UK"],
                             ["901", "A", "x", 1, "1900-01-01", 2.0, 2, "UK"]]
    clean, report = clean_transactions(_lines(rows))
    row = report.set_index("rule").loc["outlier dates"]
    assert row["rows_removed"] == 2 and row["revenue_removed"] == pytest.approx(4.0)
    assert clean["InvoiceDate"].between("2010-12-01", "2011-12-10").all()


def test_date_window_is_the_bulk_plus_a_year_and_never_the_future():
    from segkit.clean import date_bounds

    dates = pd.Series(pd.date_range("2010-12-01", "2011-12-09", periods=1000))
    first, last = date_bounds(dates, now=pd.Timestamp("2030-01-01"))
    # 0.5th and 99.5th percentiles, lower value: positions 4 and 994 of 1000
    assert first == dates.iloc[4] - pd.Timedelta(days=365) and last == dates.iloc[994] + pd.Timedelta(days=365)
    _, last = date_bounds(dates, now=pd.Timestamp("2011-12-31"))
    assert last == pd.Timestamp("2012-01-01")  # tomorrow caps the window


def test_blank_quantities_prices_and_dates_get_their_own_rows():
    rows = _dated_lines(40)
    rows[0][3] = None       # blank quantity
    rows[1][3] = "#N/A"     # Excel's missing marker
    rows[2][5] = "NaN"      # a NaN price: not "non-positive price"
    rows[3][4] = ""         # blank date (a "Grand Total" row)
    clean, report = clean_transactions(_lines(rows))
    removed = report.set_index("rule")["rows_removed"]
    assert removed["missing quantity"] == 2 and removed["missing price"] == 1 and removed["missing date"] == 1
    assert removed["non-positive price"] == 0
    assert len(clean) == 36 and clean["TotalPrice"].notna().all()
