"""segkit.features.out_of_core: the customer table of a parquet log larger than memory
(DuckDB reads it; only the customer table and the report come back), as the pandas path
gives it, in one pass or in customer buckets under a memory limit."""
from __future__ import annotations

import tempfile

import pandas as pd
import pytest

import segkit.engines.duckdb
import segkit.engines.outofcore
from segkit.errors import SegkitDataError
from segkit.features.out_of_core import customer_features_out_of_core
from segkit.ingest.sample import write_large_log
from segkit.pipeline.workflow import load_customer_data


def assert_same_customers(out_of_core: pd.DataFrame, pandas_path: pd.DataFrame) -> None:
    # Sums run in another order in DuckDB: money may differ in the last cent after rounding.
    pd.testing.assert_frame_equal(out_of_core, pandas_path, check_exact=False, atol=0.01, rtol=0)


@pytest.fixture(scope="module")
def sample_parquet(tmp_path_factory, sample_log):
    path = tmp_path_factory.mktemp("ooc") / "sample.parquet"
    sample_log.to_parquet(path, index=False)
    return path


@pytest.fixture(scope="module")
def large_log(tmp_path_factory):
    return write_large_log(tmp_path_factory.mktemp("ooc") / "large.parquet", 200_000, n_customers=5_000,
                           seed=3, chunk_lines=60_000)


@pytest.mark.parametrize("rules", ["default", "seed"])
@pytest.mark.slow
def test_generated_large_log_gives_the_pandas_numbers(large_log, rules):
    expected = load_customer_data(large_log, rules=rules).customers
    assert_same_customers(customer_features_out_of_core(large_log, rules=rules, memory_limit="500MB", threads=2),
                          expected)


@pytest.mark.parametrize("rules", ["default", "seed"])
@pytest.mark.slow
def test_logs_split_into_customer_buckets_give_the_same_numbers(large_log, rules, monkeypatch, tmp_path):
    import segkit.engines.outofcore

    monkeypatch.setattr(segkit.engines.outofcore, "ROWS_PER_GB", 20_000)  # 200k lines, 3 GB -> 4 buckets
    assert segkit.engines.outofcore.buckets_for(200_000, "3GB") == 4
    expected = load_customer_data(large_log, rules=rules).customers
    spill = tmp_path / "not" / "yet" / "there"
    assert_same_customers(customer_features_out_of_core(large_log, rules=rules, temp_directory=spill), expected)
    assert spill.is_dir() and not any(spill.iterdir())  # the split lines are cleaned up
    assert spill.is_dir() and not any(spill.iterdir())  # the split lines are cleaned up


def test_snapshot_date_is_honoured(sample_parquet):
    got = customer_features_out_of_core(sample_parquet, snapshot_date="2012-01-01")
    expected = load_customer_data(sample_parquet, snapshot_date="2012-01-01").customers
    assert_same_customers(got, expected)


def test_a_small_memory_limit_splits_the_customers_into_more_buckets(sample_parquet, monkeypatch):
    """``memory_limit`` sets how many customer buckets the log is run in; the table is the same."""
    monkeypatch.setattr(segkit.engines.outofcore, "ROWS_PER_GB", 50_000)  # the sample's 106k lines
    asked = []
    split = segkit.engines.duckdb.DuckDBEngine.split

    def counted(engine, lines, buckets):
        asked.append(buckets)
        return split(engine, lines, buckets)

    monkeypatch.setattr(segkit.engines.duckdb.DuckDBEngine, "split", counted)
    one_pass = customer_features_out_of_core(sample_parquet, memory_limit="3GB")
    assert asked == []
    in_buckets = customer_features_out_of_core(sample_parquet, memory_limit="300MB")
    assert asked == [8]  # 106,361 lines / (50,000 lines per GB x 0.3 GB)
    assert_same_customers(in_buckets, one_pass)


def test_a_malformed_memory_limit_is_refused_in_one_sentence(sample_parquet):
    with pytest.raises(ValueError) as caught:
        customer_features_out_of_core(sample_parquet, memory_limit="lots")
    assert str(caught.value) == "memory_limit must look like '3GB' or '500MB', not 'lots'"


def test_its_own_spill_folder_is_removed_and_the_report_comes_back(sample_parquet, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    report = []
    customer_features_out_of_core(sample_parquet, report=report)
    assert list(tmp_path.iterdir()) == []  # no segkit-duckdb-* folder left behind
    expected = load_customer_data(sample_parquet).report
    assert len(report) == 1
    assert list(report[0]["rule"]) == list(expected["rule"])
    assert list(report[0]["rows_left"]) == list(expected["rows_left"])


def test_files_it_cannot_use_are_refused_in_one_sentence(tmp_path, sample_log):
    csv = tmp_path / "log.csv"
    sample_log.head(10).to_csv(csv, index=False)
    with pytest.raises(SegkitDataError, match=r"^'log.csv' is not a parquet file; out-of-core features read parquet "
                                              r"only \(load it with segkit.ingest.load.load_transactions"):
        customer_features_out_of_core(csv)
    guests = tmp_path / "guests.parquet"
    sample_log.head(500).assign(CustomerID=float("nan")).to_parquet(guests, index=False)
    with pytest.raises(SegkitDataError) as caught:
        customer_features_out_of_core(guests)
    assert str(caught.value) == ("'guests.parquet' has no usable lines after cleaning; check the customer, "
                                 "quantity and price columns.")


def test_a_log_in_another_layout_is_refused_with_the_columns_found_and_how_to_name_them(tmp_path, sample_log):
    """A shop's own column names: the sentence names the missing roles, the columns found and
    ``--columns``, which reads the same file (``segkit features --columns``)."""
    shop = tmp_path / "shop.parquet"
    sample_log.head(200).rename(columns={"CustomerID": "client", "InvoiceDate": "ordered_at",
                                         "UnitPrice": "price_eur"}).to_parquet(shop, index=False)
    with pytest.raises(SegkitDataError) as caught:
        customer_features_out_of_core(shop)
    message = str(caught.value)
    assert message.startswith("'shop.parquet' has no column for customer, date, price; found: "), message
    assert "client" in message and "ordered_at" in message and "price_eur" in message
    assert "--columns customer=COLUMN,date=COLUMN,price=COLUMN" in message and message.replace("... ", "").count(". ") == 1  # wrong, then what to do

