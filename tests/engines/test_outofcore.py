"""Out-of-core features (DuckDB over parquet) give the pandas path's customer table."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from segkit.errors import SegkitDataError
from segkit.features.out_of_core import customer_features_out_of_core
from segkit.ingest.sample import write_large_log
from segkit.pipeline.workflow import load_customer_data


def assert_same_customers(out_of_core: pd.DataFrame, pandas_path: pd.DataFrame) -> None:
    # Sums run in another order in DuckDB: money may differ in the last cent after rounding.
    pd.testing.assert_frame_equal(out_of_core, pandas_path, check_exact=False, atol=0.01, rtol=0)


@pytest.fixture(scope="module")
def large_log(tmp_path_factory):
    return write_large_log(tmp_path_factory.mktemp("ooc") / "large.parquet", 200_000, n_customers=5_000,
                           seed=3, chunk_lines=60_000)


def test_numeric_ids_with_fractions_stay_as_pandas_writes_them(tmp_path, sample_log):
    frame = sample_log.head(3000).copy()
    frame.loc[frame.index[:5], "CustomerID"] = 12345.5
    path = tmp_path / "fractions.parquet"
    frame.to_parquet(path, index=False)
    expected = load_customer_data(path).customers
    got = customer_features_out_of_core(path)
    assert_same_customers(got, expected)
    assert "12345.5" in got.index


def test_unusable_files_get_one_sentence(tmp_path, sample_log):
    no_customer = tmp_path / "no_customer.parquet"
    sample_log.drop(columns="CustomerID").to_parquet(no_customer, index=False)
    with pytest.raises(SegkitDataError, match="no column for customer"):
        customer_features_out_of_core(no_customer)
    text_dates = tmp_path / "text_dates.parquet"
    sample_log.assign(InvoiceDate=sample_log["InvoiceDate"].astype(str)).to_parquet(text_dates, index=False)
    with pytest.raises(SegkitDataError, match="not as timestamps"):
        customer_features_out_of_core(text_dates)
    with pytest.raises(SegkitDataError, match="does not exist"):
        customer_features_out_of_core(tmp_path / "missing.parquet")
    with pytest.raises(ValueError, match="rules"):
        customer_features_out_of_core(text_dates, rules="strict")


def test_generator_is_deterministic_exact_and_chunked(large_log, tmp_path):
    meta = pq.ParquetFile(large_log).metadata
    assert meta.num_rows == 200_000
    assert meta.num_row_groups == 4  # 60k + 60k + 60k + 20k lines
    again = write_large_log(tmp_path / "again.parquet", 200_000, n_customers=5_000, seed=3, chunk_lines=60_000)
    assert pq.read_table(again).equals(pq.read_table(large_log))
    other = write_large_log(tmp_path / "other.parquet", 200_000, n_customers=5_000, seed=4, chunk_lines=60_000)
    assert not pq.read_table(other).equals(pq.read_table(large_log))


def test_generated_log_has_the_uci_layout_and_its_traps(large_log):
    log = pd.read_parquet(large_log)
    assert list(log.columns) == ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate",
                                 "UnitPrice", "CustomerID", "Country"]
    assert 0.05 < log["CustomerID"].isna().mean() < 0.35
    assert log["InvoiceNo"].str.startswith("C").sum() > 300
    assert {"POST", "M"} <= set(log["StockCode"])
    assert log.duplicated().sum() > 0.005 * len(log)
    share_uk = (log.drop_duplicates("CustomerID")["Country"] == "United Kingdom").mean()
    assert 0.75 < share_uk < 0.95
    assert log.groupby(log["InvoiceDate"].dt.month).size().idxmax() == 11
    spend = (log["Quantity"] * log["UnitPrice"]).groupby(log["CustomerID"]).sum()
    assert spend.max() > 50 * spend.median()
    assert np.all(np.diff(log["InvoiceDate"].to_numpy()[:50_000]) >= np.timedelta64(0))  # a chunk is sorted


def test_outlier_dates_and_blank_quantities_are_dropped_out_of_core_too(tmp_path, sample_log):
    log = sample_log.copy()
    log.loc[log.index[10], "InvoiceDate"] = pd.Timestamp("2099-01-01")
    log.loc[log.index[20], "InvoiceDate"] = pd.Timestamp("1900-01-01")
    log["Quantity"] = log["Quantity"].astype("float64")
    log.loc[log.index[30:40], "Quantity"] = np.nan
    log.loc[log.index[40:50], "UnitPrice"] = np.nan
    whole_orders = log.index[log["InvoiceNo"].isin(log["InvoiceNo"].iloc[50:55])]
    log.loc[whole_orders, "InvoiceDate"] = pd.NaT  # blank on every line of their orders: nothing to fill
    path = tmp_path / "odd.parquet"
    log.to_parquet(path, index=False)
    pandas_path = load_customer_data(path)
    assert pandas_path.customers["Recency"].max() < 1000
    assert_same_customers(customer_features_out_of_core(path), pandas_path.customers)


def test_a_log_whose_order_fields_need_filling_down_is_refused_out_of_core(tmp_path, sample_log):
    """The pandas reader fills a date blank on some lines of an order from its other lines;
    the out-of-core engine would drop those lines instead, so it refuses, naming the fix."""
    log = sample_log.copy()
    log.loc[log.index[50:55], "InvoiceDate"] = pd.NaT
    path = tmp_path / "blank-dates.parquet"
    log.to_parquet(path, index=False)
    assert load_customer_data(path).report["rule"].iloc[1].startswith("order fields filled down")
    with pytest.raises(SegkitDataError, match=r"line\(s\) whose date is blank .* use --engine pandas"):
        customer_features_out_of_core(path)


def test_text_numbers_with_commas_are_left_to_the_pandas_path(tmp_path, sample_log):
    log = sample_log.head(500).assign(UnitPrice=lambda f: f["UnitPrice"].map(lambda p: f"{p:.2f}".replace(".", ",")))
    log.to_parquet(tmp_path / "comma.parquet", index=False)
    with pytest.raises(SegkitDataError, match="--engine pandas"):
        customer_features_out_of_core(tmp_path / "comma.parquet")
    assert load_customer_data(tmp_path / "comma.parquet").lines["UnitPrice"].max() < 1000
