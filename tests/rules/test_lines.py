"""One definition, same numbers everywhere: segkit.rules.lines run by DuckDB (in memory and out
of core) and Spark give the pandas oracle's customer table (ids, exact counts, money to
the cent, same dates) and cleaning report."""
from __future__ import annotations

import pandas as pd
import pytest
from oracle import customers_of

from segkit.engines.base import run_rules
from segkit.features.customers import finish_customers
from segkit.ingest.load import standardise_columns


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
def sample_lines(sample_log):
    return standardise_columns(sample_log, source="sample")


def test_observation_window_out_of_core_through_the_workflow(cancellations_log):
    from segkit.pipeline.workflow import load_customer_data

    data = load_customer_data(cancellations_log, engine="duckdb", window_days=90)
    assert data.window_days == 90 and data.lines is None
    _same(data.customers, load_customer_data(cancellations_log, engine="pandas", window_days=90).customers)


# --------------------------------------------------------------------------- Spark


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


