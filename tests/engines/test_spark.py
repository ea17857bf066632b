"""segkit.engines.spark: the Spark engine's own pieces (its session, the 64-bit line hash,
ordered date look-ups, the catalog, scoring on the executors). Spark runs in the one
session of tests/conftest.py (``spark_engine``); each query costs seconds, so few are made."""
from __future__ import annotations

import pandas as pd
import pytest
from oracle import customers_of

from segkit.errors import SegkitError
from segkit.ingest.load import load_transactions, standardise_columns


def _same(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(got, expected, check_exact=True)


@pytest.fixture(scope="module")
def spark_lines(spark_engine, sample_log):
    """The sample's first 5,000 lines (with repeated lines) on Spark, and as pandas."""
    frame = standardise_columns(sample_log.head(5_000))
    assert frame.duplicated().any()
    return spark_engine.lines(frame), frame


def test_without_java_the_spark_engine_says_what_to_install(monkeypatch):
    pytest.importorskip("pyspark")
    import segkit.engines.spark as spark

    monkeypatch.setattr(spark.shutil, "which", lambda name: None)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.delenv("SPARK_REMOTE", raising=False)
    with pytest.raises(SegkitError) as caught:
        spark.spark_session(master="local[1]")
    assert str(caught.value) == ("The Spark engine needs Java 17 or newer; install it (apt-get install "
                                 "default-jre-headless) or set JAVA_HOME.")


@pytest.mark.parametrize(("gigabytes", "heap"), [(4, "2g"), (16, "5g"), (24, "8g"), (256, "8g")])
def test_a_local_session_takes_a_third_of_the_memory_between_2_and_8_gb(monkeypatch, gigabytes, heap):
    pytest.importorskip("pyspark")
    import segkit.engines.spark as spark

    sizes = {"SC_PAGE_SIZE": 4096, "SC_PHYS_PAGES": gigabytes * 2**30 // 4096}
    monkeypatch.setattr(spark.os, "sysconf", sizes.__getitem__)
    assert spark.local_driver_memory() == heap


@pytest.mark.slow
def test_the_line_hash_is_64_bit_and_tells_repeated_lines_apart(spark_engine, spark_lines):
    """Spark's own ``hash`` is 32-bit: on a large log, different lines would share a hash
    and be dropped as duplicates. ``xxhash64`` gives values beyond 32 bits, one per distinct line."""
    lines, frame = spark_lines
    hashed = spark_engine.to_pandas(lines.select(*frame.columns, h=spark_engine.dialect.line_hash(lines)))
    assert len(hashed) == len(frame)
    assert (hashed["h"].abs() > 2**32).mean() > 0.9
    assert hashed["h"].nunique() == len(frame.drop_duplicates())
    assert hashed.groupby(list(frame.columns), dropna=False)["h"].nunique().max() == 1  # a repeated line, one hash


@pytest.mark.slow
def test_nth_date_keeps_the_date_order(spark_engine, spark_lines):
    lines, frame = spark_lines
    dates = frame["InvoiceDate"].sort_values().reset_index(drop=True)
    dated = lines.select("InvoiceDate")
    assert spark_engine.nth_date(dated, 123) == dates[123]
    assert spark_engine.nth_date(dated, 123, descending=True) == dates[len(dates) - 1 - 123]


def test_ids_are_trimmed_as_python_trims_and_letters_at_their_ends_are_kept(spark_engine, tmp_path):
    """Spark trims ids with ``btrim`` (not a regex): vertical tab and form feed are trimmed,
    while the letters v, f, n, r and t at an id's ends are kept (a SQL literal '\\v' is the
    letter v to Spark's parser)."""
    ids = ["vAv", "f12f", "\x0b12003\x0c", "\u00a012004\u2028", "\x8512005\x1c", " nrt\t", "tAn"]
    frame = pd.DataFrame({"InvoiceNo": ids, "StockCode": ids, "Description": "x", "Quantity": 1.0,
                          "InvoiceDate": pd.Timestamp("2011-05-01"), "UnitPrice": 1.0, "CustomerID": ids,
                          "Country": "UK"})
    frame.to_parquet(tmp_path / "ids.parquet")
    lines = spark_engine.to_pandas(spark_engine.lines(tmp_path / "ids.parquet")).sort_values("line_no")
    trimmed = [i.strip() for i in ids]
    assert trimmed == ["vAv", "f12f", "12003", "12004", "12005", "nrt", "tAn"]
    assert list(lines["InvoiceNo"]) == list(lines["StockCode"]) == list(lines["CustomerID"]) == trimmed


@pytest.mark.slow
def test_the_netting_and_the_repeated_hashes_are_sent_to_the_lines_not_the_lines_shuffled_to_them(
        spark_engine, spark_lines):
    """``materialise`` computes a step at once, so Spark plans the queries that read it knowing
    its size: the small tables of units owed, netting and repeated hashes are broadcast to
    every task. Planned before they were computed, every line was shuffled and sorted to meet
    them (on 5M generated lines, 854 MB shuffled instead of 464 MB; on 20M, 866 MB instead of
    517 MB once the units owed came first; docs/benchmarks.md)."""
    import re

    from segkit.engines.base import date_bounds
    from segkit.rules import lines as R

    def plan_of(expr):
        return spark_engine.session.sql(str(spark_engine.con.compile(expr)))._jdf.queryExecution() \
            .executedPlan().toString()

    lines, _ = spark_lines
    bounds = date_bounds(spark_engine, lines)
    # these 5,000 lines are small enough to broadcast any step whose size Spark only
    # estimates (the units owed: 35 KB estimated, 0.9 KB computed); a threshold between the
    # two tells a computed step from an estimated one, as at 20M lines the 10 MB default does
    threshold = "spark.sql.autoBroadcastJoinThreshold"
    before = spark_engine.session.conf.get(threshold)
    spark_engine.session.conf.set(threshold, "4096")
    try:
        estimated = plan_of(R.netted_quantities(lines, bounds))  # the units owed not yet computed
        assert re.search(r"SortMergeJoin \[CustomerID#\d+, StockCode#\d+\]", estimated), estimated
        owed = spark_engine.materialise(R.owed_units(lines, bounds))
        netting = R.netted_quantities(lines, bounds, owed)
        plan = plan_of(netting)
        assert re.search(r"BroadcastHashJoin \[CustomerID#\d+, StockCode#\d+\], \[CustomerID#\d+, "
                         r"StockCode#\d+\], Inner", plan), plan
        assert "SortMergeJoin" not in plan, plan
        netted = spark_engine.materialise(netting)
        kept = R.kept_lines(R.labelled_lines(lines, "default", bounds, netted=netted))
        repeated = spark_engine.materialise(R.repeated_hashes(kept, spark_engine.dialect.line_hash))
        plan = plan_of(R.duplicate_copies(kept, spark_engine.dialect.line_hash, repeated))
    finally:
        spark_engine.session.conf.set(threshold, before)
    assert re.search(r"BroadcastHashJoin \[line_no#\d+L\], \[netted_line#\d+L\], LeftOuter", plan), plan
    assert re.search(r"BroadcastHashJoin \[line_hash#\d+L\], \[repeated_hash#\d+L\], LeftSemi", plan), plan
    assert "SortMergeJoin [line_no" not in plan and "SortMergeJoin [line_hash" not in plan


@pytest.mark.slow
def test_run_rules_on_spark_computes_the_units_owed_before_the_netting_that_joins_them(
        spark_engine, spark_lines, monkeypatch):
    """The plan test above holds only if ``run_rules`` computes the units owed as a step of
    their own before the netting (``Engine.small_steps_first``)."""
    from segkit.engines.base import run_rules

    lines, _ = spark_lines
    steps = []
    materialise = spark_engine.materialise

    def recorded(expr, *args, **kwargs):
        steps.append(frozenset(expr.columns))
        return materialise(expr, *args, **kwargs)

    monkeypatch.setattr(spark_engine, "materialise", recorded)
    run_rules(spark_engine, lines, "default")
    owed = steps.index(frozenset({"CustomerID", "StockCode", "Cancelled", "LastCancel"}))
    assert steps.index(frozenset({"netted_line", "removed"})) == owed + 1


def test_the_report_counts_run_beside_the_next_queries(spark_engine, spark_lines):
    """``to_pandas_soon`` starts a query and returns at once: ``run_rules`` starts the report's
    counts, then searches the duplicates while Spark computes them (on the real data, about a
    second less of the run; docs/benchmarks.md). The counts are those of ``to_pandas``."""
    import threading

    from segkit.engines.spark import SparkEngine
    from segkit.rules import lines as R

    lines, frame = spark_lines
    engine = SparkEngine(session=spark_engine.session)
    may_finish = threading.Event()
    plain = engine.to_pandas

    def held_back(expr):
        assert may_finish.wait(60), "the main thread never let the report finish"
        return plain(expr)

    engine.to_pandas = held_back
    try:
        counts = engine.to_pandas_soon(R.report_counts(R.labelled_lines(lines, "seed", (frame.InvoiceDate.min(),
                                                                                      frame.InvoiceDate.max()))))
        assert engine.count(lines) == len(frame)  # the caller's next query runs while the report waits
        may_finish.set()
        got = counts()
    finally:
        may_finish.set()
        engine.close()
    assert int(got["lines"].sum()) == len(frame)
    assert int(got.loc[got["rule"].isna(), "lines"].sum()) > 0  # kept lines are counted


@pytest.mark.slow
def test_close_removes_the_engines_own_files(spark_engine, sample_log):
    from segkit.engines.spark import SparkEngine

    engine = SparkEngine(session=spark_engine.session)  # the running session: no new one
    engine.lines(standardise_columns(sample_log.head(10)))
    assert any(engine._tmp.iterdir())
    engine.close()
    assert not engine._tmp.exists()


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
