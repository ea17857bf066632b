"""One definition, same numbers everywhere: segkit.rules.lines run by DuckDB (in memory and out
of core) and Spark give the pandas oracle's customer table (ids, exact counts, money to
the cent, same dates) and cleaning report."""
from __future__ import annotations

import pandas as pd
import pytest
from oracle import clean_transactions as oracle_clean
from oracle import customers_of, windowed_customers_of

from segkit.engines.base import run_rules
from segkit.engines.duckdb import DuckDBEngine
from segkit.features.customers import finish_customers
from segkit.features.out_of_core import customer_features_out_of_core
from segkit.ingest.load import load_transactions, standardise_columns


def _run(engine, source, rules="default", columns=None):
    lines = engine.lines(source, columns) if columns else engine.lines(source)
    out = run_rules(engine, lines, rules)
    return finish_customers(out["customers"]), out["report"]


def _same(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(got, expected, check_exact=True)


def _same_report(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected.reset_index(drop=True),
                                  check_exact=False, atol=0.011, rtol=0, check_dtype=False)


@pytest.fixture(scope="module")
def duck():
    engine = DuckDBEngine(threads=2)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def sample_lines(sample_log):
    return standardise_columns(sample_log, source="sample")


@pytest.fixture(scope="module")
def cancellations_log(tmp_path_factory):
    """A generated log with ~2% partly cancelled orders, a giant order cancelled the same day,
    guest orders, postage and duplicates (segkit.ingest.sample.write_large_log)."""
    from segkit.ingest.sample import write_large_log

    return write_large_log(tmp_path_factory.mktemp("rules") / "generated.parquet", 60_000, n_customers=1_500,
                           seed=5, chunk_lines=30_000)


@pytest.mark.parametrize("rules", ["default", "seed"])
def test_sample_same_on_duckdb_and_the_oracle(duck, sample_lines, rules):
    got, report = _run(duck, sample_lines, rules)
    _same(got, customers_of(sample_lines, rules))
    _same_report(report, oracle_clean(sample_lines, rules)[1])


def test_mapped_layout_without_invoices(duck, tmp_path):
    frame = pd.DataFrame({
        "Client": ["a", "a", "b", "b", "b", "c"],
        "Day": ["2011-01-01 10:00", "2011-01-01 10:00", "2011-02-01 09:00", "2011-03-01 09:00",
                "2011-03-01 09:00", "2011-03-05 12:00"],
        "LineTotal": [10.0, 5.0, 7.5, 2.25, 2.25, 3.0],
        "Shop": ["UK", "UK", "France", "France", "UK", "UK"],
    })
    lines = standardise_columns(frame, {"customer": "Client", "date": "Day", "amount": "LineTotal",
                                        "country": "Shop"})
    got, _ = _run(duck, lines)
    _same(got, customers_of(lines))
    assert got.loc["a", "NumPurchases"] == 1 and got.loc["b", "NumPurchases"] == 2


def test_zoned_timestamps_are_utc_wall_time(duck, sample_lines, tmp_path):
    zoned = sample_lines.assign(InvoiceDate=sample_lines["InvoiceDate"].dt.tz_localize("Asia/Tokyo"))
    expected = customers_of(zoned.assign(InvoiceDate=zoned["InvoiceDate"].dt.tz_convert("UTC").dt.tz_localize(None)))
    got, _ = _run(duck, zoned)
    _same(got, expected)
    path = tmp_path / "zoned.parquet"
    zoned.to_parquet(path, index=False)  # a zoned nanosecond column, as pandas writes it
    _same(customer_features_out_of_core(path), expected)


@pytest.mark.parametrize("rules", ["default", "seed"])
def test_generated_log_with_cancellations_on_duckdb_out_of_core(cancellations_log, rules):
    expected = customers_of(load_transactions(cancellations_log), rules)
    report: list = []
    _same(customer_features_out_of_core(cancellations_log, rules=rules, report=report), expected)
    _same_report(report[0], oracle_clean(load_transactions(cancellations_log), rules)[1])


@pytest.mark.parametrize("buckets", [1, 3])
def test_observation_window_on_duckdb(duck, cancellations_log, buckets):
    transactions = load_transactions(cancellations_log)
    expected = windowed_customers_of(transactions, 90)
    out = run_rules(duck, duck.lines(transactions), window_days=90, buckets=buckets, report=False)
    _same(finish_customers(out["customers"]), expected)
    _same(customer_features_out_of_core(cancellations_log, window_days=90), expected)


def test_observation_window_out_of_core_through_the_workflow(cancellations_log):
    from segkit.pipeline.workflow import load_customer_data

    data = load_customer_data(cancellations_log, engine="duckdb", window_days=90)
    assert data.window_days == 90 and data.lines is None
    _same(data.customers, load_customer_data(cancellations_log, engine="pandas", window_days=90).customers)


@pytest.mark.real_data
@pytest.mark.slow
@pytest.mark.parametrize("rules", ["default", "seed"])
def test_real_data_same_on_duckdb_out_of_core(real_parquet, rules):
    expected = customers_of(load_transactions(real_parquet), rules)
    got = customer_features_out_of_core(real_parquet, rules=rules, threads=2)
    _same(got, expected)
    if rules == "seed":
        assert (len(got), got["NumPurchases"].sum(), got["TotalQuantity"].sum()) == (4339, 18536, 5181696)
        assert round(got["TotalSpend"].sum(), 2) == 8911407.90
    else:
        assert len(got) == 4324


# --------------------------------------------------------------------------- Spark


@pytest.mark.slow
@pytest.mark.parametrize("rules", ["default", "seed"])
def test_sample_same_on_spark(spark_engine, sample_lines, rules):
    got, report = _run(spark_engine, sample_lines, rules)
    _same(got, customers_of(sample_lines, rules))
    _same_report(report, oracle_clean(sample_lines, rules)[1])


@pytest.mark.slow
def test_mapped_layout_and_zones_on_spark(spark_engine, sample_lines, tmp_path):
    frame = pd.DataFrame({
        "Client": [1.0, 1.0, 2.0, 2.0, 3.0],
        "Day": pd.to_datetime(["2011-01-01 10:00", "2011-01-01 10:00", "2011-02-01 09:00", "2011-03-01 09:00",
                               "2011-03-05 12:00"]).tz_localize("Europe/London"),
        "LineTotal": [10.0, 5.0, 7.5, 2.25, 3.0],
    })
    columns = {"customer": "Client", "date": "Day", "amount": "LineTotal"}
    expected = customers_of(standardise_columns(frame, columns))
    path = tmp_path / "mapped.parquet"
    frame.to_parquet(path, index=False)  # nanoseconds, zoned: read as integers by Spark, then converted
    got, _ = _run(spark_engine, path, columns=columns)
    _same(got, expected)
    zoned = sample_lines.assign(InvoiceDate=sample_lines["InvoiceDate"].dt.tz_localize("America/New_York"))
    got, _ = _run(spark_engine, zoned)
    _same(got, customers_of(zoned.assign(InvoiceDate=zoned["InvoiceDate"].dt.tz_convert("UTC").dt.tz_localize(None))))


@pytest.mark.slow
def test_generated_log_with_cancellations_on_spark(spark_engine, cancellations_log):
    got, report = _run(spark_engine, cancellations_log)  # the raw file: float ids, nanosecond stamps
    transactions = load_transactions(cancellations_log)
    _same(got, customers_of(transactions))
    _same_report(report, oracle_clean(transactions)[1])


@pytest.mark.real_data
@pytest.mark.slow
@pytest.mark.parametrize("rules", ["default", "seed"])
def test_real_data_same_on_spark(spark_engine, real_parquet, rules):
    got, _ = _run(spark_engine, real_parquet, rules)
    _same(got, customers_of(load_transactions(real_parquet), rules))
    if rules == "seed":
        assert (len(got), got["NumPurchases"].sum(), got["TotalQuantity"].sum()) == (4339, 18536, 5181696)
        assert round(got["TotalSpend"].sum(), 2) == 8911407.90
    else:
        assert len(got) == 4324


@pytest.mark.slow
def test_observation_window_on_spark(spark_engine, cancellations_log):
    lines = spark_engine.lines(cancellations_log)
    out = run_rules(spark_engine, lines, window_days=90, report=False)
    _same(finish_customers(out["customers"]), windowed_customers_of(load_transactions(cancellations_log), 90))


@pytest.mark.slow
def test_spark_reads_a_table_of_the_catalog(spark_engine, cancellations_log, tmp_path):
    from segkit.errors import SegkitDataError
    from segkit.pipeline.workflow import load_customer_data

    session = spark_engine.session
    session.sql(f"CREATE DATABASE IF NOT EXISTS segkit_test LOCATION '{tmp_path / 'warehouse'}'")
    try:
        session.read.parquet(str(cancellations_log)).write.mode("overwrite").saveAsTable("segkit_test.lines")
        data = load_customer_data(None, engine="spark", spark_master="local[2]", spark_table="segkit_test.lines")
        assert data.source == "segkit_test.lines"
        _same(data.customers, customers_of(load_transactions(cancellations_log)))
        with pytest.raises(SegkitDataError, match="no table 'segkit_test.missing'"):
            load_customer_data(None, engine="spark", spark_master="local[2]", spark_table="segkit_test.missing")
    finally:
        session.sql("DROP DATABASE IF EXISTS segkit_test CASCADE")


@pytest.mark.slow
def test_scoring_on_spark_executors_gives_the_in_process_segments(spark_engine, sample_data):
    from segkit.engines.spark import score_on_spark
    from segkit.pipeline.workflow import train_model

    model, _ = train_model(sample_data, k=4)
    customers = sample_data.customers
    frame = customers[model.input_columns_].astype("float64").reset_index()
    frame["CustomerID"] = frame["CustomerID"].astype(str)
    spread = spark_engine.session.createDataFrame(frame).repartition(3)  # several partitions, one model each
    got = score_on_spark(spark_engine.session, spread, model).toPandas().set_index("CustomerID").sort_index()
    expected = model.segment(customers).sort_index()
    assert list(got.index) == list(expected.index.astype(str))
    assert (got["Cluster"].to_numpy() == expected["Cluster"].to_numpy()).all()
    assert (got["Segment"].to_numpy() == expected["Segment"].astype(str).to_numpy()).all()
    assert abs(got["Confidence"].to_numpy() - expected["Confidence"].to_numpy()).max() < 1e-9


@pytest.mark.slow
def test_spark_connect_local_server_gives_the_same_table(sample_lines, tmp_path):
    """``--spark-remote local[2]`` starts a local Spark Connect server (pyspark[connect]);
    in its own process, since a classic session of the test run already holds this one."""
    import importlib.util
    import subprocess
    import sys

    if importlib.util.find_spec("grpc") is None:
        pytest.skip("Spark Connect needs pip install 'pyspark[connect]==<the installed pyspark>'")
    path = tmp_path / "sample.parquet"
    sample_lines.to_parquet(path, index=False)
    out = tmp_path / "features.csv"
    done = subprocess.run([sys.executable, "-m", "segkit.cli", "features", "--data", str(path), "--engine", "spark",
                           "--spark-remote", "local[2]", "--out", str(out)], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    got = pd.read_csv(out, dtype={"CustomerID": "string"}).set_index("CustomerID")
    expected = customers_of(sample_lines)
    assert list(got.index) == list(expected.index)
    assert (got["NumPurchases"].to_numpy() == expected["NumPurchases"].to_numpy()).all()
    assert abs(got["TotalSpend"].to_numpy() - expected["TotalSpend"].to_numpy()).max() < 0.005


@pytest.mark.slow
def test_messy_text_ids_on_spark_are_trimmed_as_python_trims(spark_engine, messy_lines, tmp_path):
    """Ids wrapped in no-break, ideographic and thin spaces or ASCII controls are the loader's
    ids on Spark too (Spark's and ibis' own trim remove ASCII whitespace only)."""
    from segkit.pipeline.workflow import load_customer_data

    path = tmp_path / "messy.parquet"
    messy_lines.to_parquet(path, index=False)
    expected = load_customer_data(path).customers
    got, _ = _run(spark_engine, path)
    _same(got, expected)
    # 12001: B3 bought twice and cancelled in full; B4 on invoices 1016 and 1017 (the one with wrapped ids)
    assert {"12001", "12002"} <= set(got.index) and got.loc["12001", "NumPurchases"] == 2
