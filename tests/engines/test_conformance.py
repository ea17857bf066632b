"""One conformance suite over every engine: the same logs, the same expected tables.

Each engine of ``segkit.engines`` runs the rules of ``segkit.rules.lines`` its own way: the
in-memory path (the loader, then DuckDB in process) is the reference; the ``engine``
fixture gives the others: DuckDB out of core on a parquet file, ibis on a DuckDB database
file by URL, ibis on a real PostgreSQL (``SEGKIT_POSTGRES``; skips with a reason on a
laptop, fails in CI), and Spark (``local[2]``; slow). Every case below runs on every
engine, so an engine that reads, cleans or aggregates differently fails here by name, as
ibis' backend suite does. Customer tables are compared exactly after sorting by id, the
cleaning reports to the cent.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pytest

from segkit.pipeline.workflow import load_customer_data

#: The column that keeps a log's line order inside a database (``--order-by``).
POSITION = "position"


@dataclass
class EngineUnderTest:
    name: str
    run: Callable[[pd.DataFrame, str, Path], object]  # (log, rules, a work folder) -> CustomerData


def _parquet(frame: pd.DataFrame, folder: Path) -> Path:
    path = folder / "log.parquet"
    frame.to_parquet(path, index=False)
    return path


def _out_of_core(frame, rules, folder):
    return load_customer_data(_parquet(frame, folder), rules=rules, engine="duckdb", use_cache=False)


def _ibis_on_a_duckdb_file(frame, rules, folder):
    import duckdb

    path = folder / "shop.ddb"
    with duckdb.connect(str(path)) as con:
        con.register("frame", frame.reset_index(drop=True).assign(**{POSITION: np.arange(len(frame))}))
        con.execute("CREATE OR REPLACE TABLE orders AS SELECT * FROM frame")
    return load_customer_data(engine="ibis", db_url=f"duckdb:///{path}", db_table="orders", order_by=POSITION,
                              rules=rules)


def _spark(frame, rules, folder):
    return load_customer_data(_parquet(frame, folder), rules=rules, engine="spark", spark_master="local[2]",
                              use_cache=False)


def _postgres(url):
    def run(frame, rules, folder):
        from segkit.engines.database import copy_to_postgres

        table = f"conformance_{folder.name.lower().replace('-', '_')[-40:]}"
        copy_to_postgres(url, table, frame.reset_index(drop=True).assign(**{POSITION: np.arange(len(frame))}))
        return load_customer_data(engine="ibis", db_url=url, db_table=table, order_by=POSITION, rules=rules)
    return run


@pytest.fixture(params=["out-of-core", "ibis-duckdb-file", pytest.param("postgres", marks=pytest.mark.postgres),
                        pytest.param("spark", marks=pytest.mark.slow)])
def engine(request) -> EngineUnderTest:
    name = request.param
    if name == "postgres":
        url = request.getfixturevalue("postgres")  # tests/engines/test_postgres.py: skip or fail with a reason
        return EngineUnderTest(name, _postgres(url))
    if name == "spark":
        request.getfixturevalue("spark_engine")  # Java and pyspark present, else skip/fail with a reason
        return EngineUnderTest(name, _spark)
    return EngineUnderTest(name, {"out-of-core": _out_of_core, "ibis-duckdb-file": _ibis_on_a_duckdb_file}[name])


def assert_same(got, expected, engine: str) -> None:
    a, b = got.customers.sort_index(), expected.customers.sort_index()
    common = [c for c in b.columns if c in a.columns]
    assert list(a.columns) == list(b.columns), f"{engine}: columns {list(a.columns)} != {list(b.columns)}"
    pd.testing.assert_frame_equal(a[common], b[common], check_exact=False, atol=0.005, rtol=0, check_dtype=False,
                                  obj=f"{engine}'s customer table")
    pd.testing.assert_frame_equal(got.report.reset_index(drop=True), expected.report.reset_index(drop=True),
                                  check_exact=False, atol=0.011, rtol=0, check_dtype=False, obj=f"{engine}'s report")


def _reference(frame: pd.DataFrame, rules: str):
    return load_customer_data(frame, rules=rules, use_cache=False)


@pytest.mark.parametrize("rules", ["default", "seed"])
def test_the_sample_gives_the_in_memory_tables(engine, sample_log, rules, tmp_path):
    assert_same(engine.run(sample_log, rules, tmp_path), _reference(sample_log, rules), engine.name)


@pytest.mark.parametrize("rules", ["default", "seed"])
def test_messy_ids_and_lines_give_the_in_memory_tables(engine, messy_lines, rules, tmp_path):
    """Blanks, '.0' tails, no-break, thin and ideographic spaces, U+0085, ASCII controls,
    "nan" / "None" / "NULL" / "#N/A" markers, netting ties and duplicates."""
    got = engine.run(messy_lines, rules, tmp_path)
    assert_same(got, _reference(messy_lines, rules), engine.name)
    assert list(got.customers.sort_index().index) == ["12000", "12001", "12002", "17850"]
