"""Customer features: the definitions users read in the docs, and pandas == DuckDB."""
from __future__ import annotations

import pandas as pd
import pytest

from segkit.clean import clean_transactions
from segkit.features.customers import customer_features
from segkit.ingest.load import standardise_columns
from segkit.rules.registry import product_category


@pytest.fixture
def lines():
    frame = pd.DataFrame({
        "InvoiceNo": ["1", "1", "2", "3", "4"],
        "StockCode": ["A", "22B", "A", "A", "C"],
        "Description": ["CHRISTMAS BAUBLE", "LUNCH BAG", "CHRISTMAS BAUBLE", "CHRISTMAS BAUBLE", "PINK MUG"],
        "Quantity": [2, 1, 3, 10, 1],
        "InvoiceDate": ["2011-01-01 10:00", "2011-01-01 10:00", "2011-03-01 12:00", "2011-02-01 09:00", "2011-12-09 12:00"],
        "UnitPrice": [1.5, 4.0, 1.5, 1.0, 2.0],
        "CustomerID": [1, 1, 1, 2, 2],
        "Country": ["France", "France", "United Kingdom", "Germany", "Germany"],
    })
    return clean_transactions(standardise_columns(frame)).lines


def test_one_row_per_customer_with_documented_definitions(lines):
    table = customer_features(lines)
    assert table.index.tolist() == ["1", "2"]
    one = table.loc["1"]
    assert one["NumPurchases"] == 2 and one["TotalQuantity"] == 6
    assert one["TotalSpend"] == pytest.approx(2 * 1.5 + 4.0 + 3 * 1.5)
    assert one["AvgOrderValue"] == pytest.approx(11.5 / 2)
    assert one["DistinctProducts"] == 2
    assert one["Country"] == "France"  # most frequent
    assert one["Tenure"] == 59  # 2011-01-01 10:00 -> 2011-03-01 12:00
    # Snapshot: day after the last invoice (2011-12-10 00:00).
    assert one["Recency"] == (pd.Timestamp("2011-12-10") - pd.Timestamp("2011-03-01 12:00")).days
    assert table.loc["2", "Recency"] == 0


def test_snapshot_date_can_be_given(lines):
    table = customer_features(lines, snapshot_date="2012-01-01")
    assert table.loc["2", "Recency"] == 22


def test_duckdb_gives_the_same_numbers_as_pandas(sample_data, tmp_path):
    pandas_table = sample_data.customers
    pd.testing.assert_frame_equal(customer_features(sample_data.lines, engine="duckdb"), pandas_table)
    sample_data.lines.to_parquet(tmp_path / "lines.parquet")
    pd.testing.assert_frame_equal(customer_features(tmp_path / "lines.parquet", engine="duckdb"), pandas_table)


def test_product_categories_from_descriptions():
    descriptions = pd.Series(["PAPER CHRISTMAS BAUBLE", "JUMBO BAG RED RETROSPOT", "WHITE MUGS", "ZZZ", None])
    assert product_category(descriptions).tolist() == ["Christmas", "Bags", "Kitchen", "Other", "Other"]


def test_zoned_lines_give_utc_days_on_both_engines(lines):
    zoned = lines.assign(InvoiceDate=lines["InvoiceDate"].dt.tz_localize("Asia/Tokyo"))
    pandas_table = customer_features(zoned)
    duck_table = customer_features(zoned, engine="duckdb")
    pd.testing.assert_frame_equal(duck_table, pandas_table, check_exact=False, atol=0.01)
    # 2011-01-01 10:00 in Tokyo is 01:00 UTC:
    assert pandas_table.loc["1", "FirstPurchase"] == pd.Timestamp("2011-01-01 01:00")


def test_customer_features_as_of_equals_the_table_of_each_date(sample_data):
    """One pass over the lines gives, at every date, the table ``customer_features`` gives
    for the lines before it (the "what changed" chart scores 13 months from it); spend and
    purchases also checked against a pandas groupby."""
    from segkit.features.customers import customer_features_as_of

    lines = sample_data.lines
    dates = [pd.Timestamp("2010-11-01"), pd.Timestamp("2011-01-01"), pd.Timestamp("2011-06-15 12:00"),
             pd.Timestamp("2011-12-10")]
    tables = customer_features_as_of(lines, dates)
    assert list(tables) == dates[1:]  # no customer before the first purchase: no table
    for date, table in tables.items():
        before = lines[lines["InvoiceDate"] < date]
        pd.testing.assert_frame_equal(table, customer_features(before, snapshot_date=date), check_exact=False)
        by_pandas = before.assign(Spend=before["Quantity"] * before["UnitPrice"]).groupby(
            before["CustomerID"].astype("string")).agg(Spend=("Spend", "sum"), Orders=("InvoiceNo", "nunique"))
        assert table["TotalSpend"].to_numpy() == pytest.approx(by_pandas["Spend"].reindex(table.index).round(2))
        assert (table["NumPurchases"] == by_pandas["Orders"].reindex(table.index)).all()


def test_customer_features_as_of_with_a_window_equals_the_windowed_table(sample_data):
    from segkit.features.customers import customer_features_as_of

    lines = sample_data.lines
    dates = [pd.Timestamp("2011-03-01"), pd.Timestamp("2011-12-10")]
    for date, table in customer_features_as_of(lines, dates, window_days=90).items():
        expected = customer_features(lines[lines["InvoiceDate"] < date], snapshot_date=date, window_days=90)
        pd.testing.assert_frame_equal(table, expected, check_exact=False)
    assert (table["NumPurchases"] == 0).any()  # customers silent through the last window keep their row
