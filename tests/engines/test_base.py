"""segkit.engines.base: reading a table into canonical lines, the date bounds, the rules run
per bucket, and the Arrow / parquet form of the lines every engine reads."""
from __future__ import annotations

import ibis
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from oracle import windowed_customers_of

from segkit.clean import date_bounds as date_bounds_in_memory
from segkit.engines.base import arrow_lines, canonical_table, date_bounds, run_rules, table_currency, write_parquet
from segkit.engines.duckdb import DuckDBEngine
from segkit.errors import SegkitDataError
from segkit.features.customers import finish_customers
from segkit.ingest.load import load_transactions, standardise_columns
from segkit.rules.registry import FEATURE_TRANSFORMS, REGISTERED_FEATURES
from segkit.schema import LINE_COLUMNS, LINE_NUMBER


def _same(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(got, expected, check_exact=True)


@pytest.fixture(scope="module")
def duck():
    engine = DuckDBEngine(threads=2)
    yield engine
    engine.close()


def _raw(frame: pd.DataFrame):
    """``frame`` as a raw table (numbered lines) on ibis' in-memory DuckDB."""
    return ibis.memtable(frame.assign(**{LINE_NUMBER: range(len(frame))}))


def test_canonical_table_maps_another_layout_and_makes_up_invoices(duck):
    """A log of amounts per customer and time (no invoice, product, quantity or country):
    each customer + second is one made-up invoice, the amount is the price of one unit."""
    raw = _raw(pd.DataFrame({
        "Client": [17850.0, 17850.0, None, 12.5],
        "PaidAt": pd.to_datetime(["2011-01-02 10:00:05", "2011-01-02 10:00:05", "2011-03-04 09:08:07",
                                  "2011-05-06 00:00:00"]),
        "LineTotal": [10.0, 4.5, 3.0, float("nan")],
    }))
    lines = duck.to_pandas(canonical_table(raw, "shop.parquet", {"customer": "Client", "date": "PaidAt",
                                                                  "amount": "LineTotal"}))
    lines = lines.sort_values(LINE_NUMBER)
    assert list(lines.columns) == list(LINE_COLUMNS) + [LINE_NUMBER]
    assert list(lines["CustomerID"].fillna("<none>")) == ["17850", "17850", "<none>", "12.5"]
    assert list(lines["InvoiceNo"]) == ["17850@20110102100005", "17850@20110102100005", "?@20110304090807",
                                       "12.5@20110506000000"]
    assert list(lines["Quantity"]) == [1.0] * 4
    assert list(lines["UnitPrice"].iloc[:3]) == [10.0, 4.5, 3.0] and pd.isna(lines["UnitPrice"].iloc[3])
    assert set(lines["StockCode"]) == {"UNKNOWN"} and set(lines["Country"]) == {"Unknown"}


def test_canonical_table_names_the_file_and_the_missing_column_in_one_sentence():
    raw = _raw(pd.DataFrame({"Client": ["a"], "PaidAt": pd.to_datetime(["2011-01-02"]), "Total": ["1,50"]}))
    with pytest.raises(SegkitDataError) as caught:
        canonical_table(raw, "shop.parquet", {"customer": "Client", "date": "PaidAt", "amount": "Amount"})
    assert str(caught.value) == ("'shop.parquet' has no column amount=Amount; found: Client, PaidAt, Total. "
                                 "Pass --columns ROLE=COLUMN,... for its layout.")
    with pytest.raises(SegkitDataError, match=r"^'shop.parquet' stores column 'Total' as text; the engine reads "
                                              r"numbers only: read the file with --engine pandas"):
        canonical_table(raw, "shop.parquet", {"customer": "Client", "date": "PaidAt", "amount": "Total"})


def test_table_currency_reads_the_one_code_and_names_the_engine_that_does_not_convert():
    one = _raw(pd.DataFrame({"CustomerID": ["a"] * 3, "Currency": ["EUR"] * 3}))
    assert table_currency(one, "orders.parquet") == "EUR"
    assert table_currency(_raw(pd.DataFrame({"CustomerID": ["a"]})), "orders.parquet") is None
    two = _raw(pd.DataFrame({"CustomerID": ["a", "b"], "Currency": ["EUR", "USD"]}))
    with pytest.raises(SegkitDataError) as caught:
        table_currency(two, "orders.parquet", engine="spark")
    message = str(caught.value)
    assert message.startswith("'orders.parquet' holds amounts in 2 currencies (EUR, USD) in column 'Currency'")
    assert message.endswith("(with --engine pandas, which converts; the spark engine does not).")
    assert "\n" not in message


def test_date_bounds_on_an_engine_are_the_in_memory_bounds(duck, sample_log):
    """A few stray dates (a typo'd year, a placeholder 1900) move neither bound; the bounds
    are the pandas path's (over the lines with a customer) to the second."""
    log = sample_log[["InvoiceDate", "CustomerID"]].dropna(subset=["CustomerID"])
    log.loc[log.index[:3], "InvoiceDate"] = pd.Timestamp("2099-01-01")
    log.loc[log.index[3:5], "InvoiceDate"] = pd.Timestamp("1900-01-01")
    log.loc[log.index[5:9], "InvoiceDate"] = pd.NaT
    now = pd.Timestamp("2026-01-01")
    lines = duck.lines(log)
    got = date_bounds(duck, lines, now=now)
    assert got == date_bounds_in_memory(log["InvoiceDate"], now=now)
    assert date_bounds(duck, duck.lines(log.assign(CustomerID=None)), now=now)[0] == pd.Timestamp.min
    first, last = sample_log["InvoiceDate"].min(), sample_log["InvoiceDate"].max()
    assert got[0] <= first and pd.Timestamp("1900-01-01") < got[0]
    assert got[1] >= last and got[1] < pd.Timestamp("2099-01-01")
    empty = duck.lines(log.iloc[:0])
    assert date_bounds(duck, empty, now=now) == (pd.Timestamp.min, pd.Timestamp("2026-01-02"))


def test_run_rules_runs_the_registered_feature_functions_it_is_given(duck, sample_log, monkeypatch):
    def lines_per_customer(lines):
        return lines.groupby("CustomerID").size().astype("float64")

    monkeypatch.setitem(REGISTERED_FEATURES, "LineCount", lines_per_customer)
    monkeypatch.setitem(FEATURE_TRANSFORMS, "LineCount", "identity")
    log = standardise_columns(sample_log.head(4000))
    out = run_rules(duck, duck.lines(log), extra_features=["LineCount"], report=False, kept_lines=True)
    features = out["features"]
    assert list(features.columns) == ["LineCount"]
    # the function saw the clean lines: each customer's count of the lines the rules kept
    kept = log.iloc[out["kept"][LINE_NUMBER].to_numpy()]
    expected = lines_per_customer(kept)
    assert expected.sum() < log["CustomerID"].notna().sum()  # the rules dropped lines the function must not see
    pd.testing.assert_series_equal(features["LineCount"].sort_index(), expected.sort_index(), check_names=False,
                                   check_index_type=False)
    assert "features" not in run_rules(duck, duck.lines(log), report=False)


def test_arrow_lines_give_the_canonical_schema_and_write_parquet_keeps_it(sample_log, tmp_path):
    zoned = sample_log.head(50).assign(InvoiceDate=lambda f: f["InvoiceDate"].dt.tz_localize("Asia/Tokyo"))
    table = arrow_lines(zoned.drop(columns="Country"))
    assert table.schema.names == list(LINE_COLUMNS) + [LINE_NUMBER]
    assert table.schema.field("InvoiceDate").type == pa.timestamp("us")  # no zone: UTC wall time
    assert table.schema.field("Quantity").type == pa.float64() and table.schema.field("CustomerID").type == pa.string()
    assert table.column(LINE_NUMBER).to_pylist() == list(range(50))
    assert table.column("Country").null_count == 50  # a missing column is there, blank
    first = zoned["InvoiceDate"].iloc[0]
    assert table.column("InvoiceDate")[0].as_py() == first.tz_convert("UTC").tz_localize(None).to_pydatetime()
    path = tmp_path / "lines.parquet"
    write_parquet(table, path)
    assert pq.read_table(path).equals(table)
    frame_path = tmp_path / "frame.parquet"  # a pandas frame (nanoseconds) is written in microseconds
    write_parquet(sample_log.head(5), frame_path)
    assert pq.read_schema(frame_path).field("InvoiceDate").type == pa.timestamp("us")


def test_observation_window_in_customer_buckets_on_duckdb(duck, cancellations_log):
    """In one pass the window is tests/engines/test_conformance.py's; in three buckets of
    customers the parts add up to the same table."""
    transactions = load_transactions(cancellations_log)
    out = run_rules(duck, duck.lines(transactions), window_days=90, buckets=3, report=False)
    _same(finish_customers(out["customers"]), windowed_customers_of(transactions, 90))
