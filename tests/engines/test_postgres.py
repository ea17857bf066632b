"""The rules inside a real PostgreSQL (``--engine ibis``) give the DuckDB engine's numbers.

The server comes from ``SEGKIT_POSTGRES`` (a URL; ``.ci/postgres.sh start`` starts a private
one and ``.ci/run`` does so in CI). Without it these tests skip with a reason on a
developer's machine and fail in CI (``CI`` set). Logs are loaded with COPY
(``segkit.engines.database.copy_to_postgres``), each into its own table.

Every expected table is the in-memory path's: the loader reads the same frame, DuckDB runs
the same rules (``load_customer_data``). Customer tables are compared with
``DataFrame.equals`` after sorting by id, cleaning reports row by row.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segkit.engines.database import IbisEngine, copy_to_postgres
from segkit.pipeline.workflow import load_customer_data

pytestmark = pytest.mark.postgres

#: the column that keeps the file's line order in the database (``--order-by``)
POSITION = "position"


def _with_position(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.reset_index(drop=True).assign(**{POSITION: np.arange(len(frame), dtype="int64")})


def _from_postgres(url: str, table: str, rules: str = "default", order_by: str | None = POSITION, **options):
    return load_customer_data(engine="ibis", db_url=url, db_table=table, order_by=order_by, rules=rules, **options)


def _from_duckdb(frame: pd.DataFrame, rules: str = "default", **options):
    return load_customer_data(frame, rules=rules, use_cache=False, **options)


def assert_same(got, expected) -> None:
    """Same customer table (exactly, after sorting by id) and the same cleaning report."""
    a, b = got.customers.sort_index(), expected.customers.sort_index()
    if not a.equals(b):
        pd.testing.assert_frame_equal(a, b, check_exact=True)  # says where they differ
        raise AssertionError("the customer tables differ only in their types: "
                             f"{a.dtypes.to_dict()} != {b.dtypes.to_dict()}")
    pd.testing.assert_frame_equal(got.report.reset_index(drop=True), expected.report.reset_index(drop=True),
                                  check_exact=False, atol=0.011, rtol=0, check_dtype=False)


@pytest.fixture(scope="module")
def sample_table(postgres, sample_log) -> str:
    copy_to_postgres(postgres, "segkit_sample", _with_position(sample_log))
    return "segkit_sample"


@pytest.mark.parametrize("rules", ["default", "seed"])
def test_window_and_registered_features_same_as_duckdb(postgres, sample_table, sample_log, rules):
    options = {"window_days": 180, "extra_features": ["ChristmasShare", "CategoriesBought"]}
    got = _from_postgres(postgres, sample_table, rules, **options)
    assert {"ChristmasShare", "CategoriesBought"} <= set(got.customers.columns)
    assert_same(got, _from_duckdb(sample_log, rules, **options))


@pytest.mark.parametrize("rules", ["default", "seed"])
def test_two_buckets_add_up_to_one_pass(postgres, sample_table, sample_log, rules):
    """The customers split in two buckets by a hash of their id (``run_rules(buckets=2)``, for
    tables too large for one pass) give the one-pass table and report."""
    from segkit.engines.base import run_rules
    from segkit.pipeline.workflow import _engine_customer_data

    with IbisEngine(postgres) as engine:
        lines = engine.table_lines(sample_table, order_by=POSITION)
        sizes = [engine.count(part) for part in engine.split(lines, 2)]
        out = run_rules(engine, lines, rules, buckets=2)
    assert min(sizes) > 0 and sum(sizes) == len(sample_log)  # two real buckets; no line lost (nor its report row)
    assert_same(_engine_customer_data(out, sample_table, False, rules, None, None, ()), _from_duckdb(sample_log, rules))


def _odd_ids(messy_lines: pd.DataFrame) -> pd.DataFrame:
    """The messy-id log (no-break, thin and ideographic spaces, U+0085, ASCII controls, '.0'
    tails, 'nan'/'None') with a line separator (U+2028) and more no-break spaces around ids."""
    frame = messy_lines.copy()
    extra = frame.iloc[[0, 2, 9]].copy()
    extra["CustomerID"] = ["\u202817850\u2028", "\u00a017850.0\u0085", "\u200012000\u00a0"]
    extra["InvoiceNo"] = ["\u20282001", "2002\u0085", "\u00a02003"]
    extra["StockCode"] = ["A1\u2028", "\u0085A1", "B2\u00a0"]
    extra["InvoiceDate"] = extra["InvoiceDate"] + pd.Timedelta(hours=12)
    return pd.concat([frame, extra], ignore_index=True)


@pytest.mark.parametrize("rules", ["default", "seed"])
def test_odd_ids_are_trimmed_as_python_trims(postgres, messy_lines, rules):
    frame = _odd_ids(messy_lines)
    copy_to_postgres(postgres, "segkit_odd_ids", _with_position(frame))
    got = _from_postgres(postgres, "segkit_odd_ids", rules)
    assert_same(got, _from_duckdb(frame, rules))
    assert list(got.customers.index) == ["12000", "12001", "12002", "17850"]


def _documented_order(frame: pd.DataFrame) -> pd.DataFrame:
    """The order the engine numbers lines in without --order-by: the date, then every column
    by name (the server's collation; the test cluster's C.UTF-8 sorts as Python does)."""
    keys = ["InvoiceDate"] + sorted(c for c in frame.columns if c != "InvoiceDate")
    return frame.sort_values(keys, kind="stable", na_position="last").reset_index(drop=True)


@pytest.mark.parametrize("rules", ["default", "seed"])
def test_shuffled_rows_give_the_same_tables(postgres, sample_log, rules):
    """The rows stored in another order: --order-by gives the file's numbers; without it the
    documented order does, whatever order the server returns the rows in."""
    numbered = _with_position(sample_log)
    shuffled = numbered.sample(frac=1.0, random_state=11).reset_index(drop=True)
    assert not shuffled[POSITION].is_monotonic_increasing
    copy_to_postgres(postgres, "segkit_sample_in_order", numbered)
    copy_to_postgres(postgres, "segkit_sample_shuffled", shuffled)
    with IbisEngine(postgres) as engine:
        stored = engine.con.sql("SELECT position FROM segkit_sample_shuffled LIMIT 5").to_pandas()[POSITION]
    assert list(stored) == list(shuffled[POSITION].head(5))  # the server hands the rows back shuffled
    assert_same(_from_postgres(postgres, "segkit_sample_shuffled", rules), _from_duckdb(sample_log, rules))

    plain = sample_log.reset_index(drop=True)
    copy_to_postgres(postgres, "segkit_plain_shuffled", plain.sample(frac=1.0, random_state=12))
    copy_to_postgres(postgres, "segkit_plain", plain)
    unordered = _from_postgres(postgres, "segkit_plain_shuffled", rules, order_by=None)
    assert_same(unordered, _from_postgres(postgres, "segkit_plain", rules, order_by=None))
    assert_same(unordered, _from_duckdb(_documented_order(plain), rules))


def _cli(*args: str) -> tuple[int, str]:
    """``segkit ARGS`` in process: exit code and stderr."""
    import contextlib
    import io

    from segkit.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(list(args))
    return code, err.getvalue()


def test_train_then_score_in_the_database_gives_the_file_segments(postgres, sample_table, sample_csv, tmp_path):
    database = ["--engine", "ibis", "--db", postgres, "--table", sample_table, "--order-by", POSITION]
    on_file, on_database = tmp_path / "file", tmp_path / "database"
    for artifacts, source in ((on_file, ["--data", str(sample_csv)]), (on_database, database)):
        code, err = _cli("train", *source, "--artifacts", str(artifacts), "--no-clv")  # with its backtest
        assert code == 0, err
        code, err = _cli("score", *source, "--artifacts", str(artifacts), "--out", str(artifacts.with_suffix(".csv")))
        assert code == 0, err
    by_file = pd.read_csv(on_file.with_suffix(".csv"), dtype={"CustomerID": str}).set_index("CustomerID").sort_index()
    by_database = pd.read_csv(on_database.with_suffix(".csv"), dtype={"CustomerID": str}).set_index(
        "CustomerID").sort_index()
    assert len(by_file) > 1000
    assert by_database["Segment"].equals(by_file["Segment"])
    pd.testing.assert_frame_equal(by_database, by_file)

    # the file's model scores the database's customers alike, and the reverse
    code, err = _cli("score", *database, "--artifacts", str(on_file), "--out", str(tmp_path / "cross.csv"))
    assert code == 0, err
    cross = pd.read_csv(tmp_path / "cross.csv", dtype={"CustomerID": str}).set_index("CustomerID").sort_index()
    assert cross["Segment"].equals(by_file["Segment"])


def test_a_database_url_as_data_reads_the_table_with_its_lines(postgres, sample_table, sample_log, sample_csv,
                                                              tmp_path, monkeypatch):
    """``SEGKIT_DATA`` / ``--data`` as one URL with the table in its query: the page's form."""
    url = f"{postgres}?table={sample_table}&order_by={POSITION}"
    by_url = load_customer_data(url)
    assert_same(by_url, _from_duckdb(sample_log))
    assert by_url.lines is not None and len(by_url.lines) == len(_from_duckdb(sample_log).lines)  # for the filters
    assert by_url.source.startswith(sample_table)
    monkeypatch.setenv("SEGKIT_DATA", url)
    assert_same(load_customer_data(), by_url)  # the default data, as the page and make run read it
    code, err = _cli("train", "--artifacts", str(tmp_path / "model"), "--no-clv")
    assert code == 0, err
    code, err = _cli("score", "--data", url, "--artifacts", str(tmp_path / "model"), "--out", str(tmp_path / "url.csv"))
    assert code == 0, err
    code, err = _cli("score", "--data", str(sample_csv), "--artifacts", str(tmp_path / "model"),
                     "--out", str(tmp_path / "file.csv"))
    assert code == 0, err
    by_file = pd.read_csv(tmp_path / "file.csv", dtype={"CustomerID": str}).set_index("CustomerID").sort_index()
    scored = pd.read_csv(tmp_path / "url.csv", dtype={"CustomerID": str}).set_index("CustomerID").sort_index()
    assert scored["Segment"].equals(by_file["Segment"])
    code, err = _cli("score", "--data", postgres, "--artifacts", str(tmp_path / "model"), "--out", str(tmp_path / "x.csv"))
    assert code == 2 and "names no table; add ?table=NAME" in err and "Traceback" not in err


def test_backtest_in_the_database_gives_the_file_table(postgres, sample_table, sample_csv, tmp_path):
    database = ["--engine", "ibis", "--db", postgres, "--table", sample_table, "--order-by", POSITION]
    code, err = _cli("backtest", *database, "--out", str(tmp_path / "db.csv"))
    assert code == 0, err
    assert _cli("backtest", "--data", str(sample_csv), "--out", str(tmp_path / "file.csv"))[0] == 0
    assert (tmp_path / "db.csv").read_text() == (tmp_path / "file.csv").read_text()


def test_features_command_writes_the_file_table(postgres, sample_table, sample_csv, tmp_path):
    database = ["--engine", "ibis", "--db", postgres, "--table", sample_table, "--order-by", POSITION]
    assert _cli("features", *database, "--out", str(tmp_path / "db.csv"))[0] == 0
    assert _cli("features", "--data", str(sample_csv), "--out", str(tmp_path / "file.csv"))[0] == 0
    assert (tmp_path / "db.csv").read_text() == (tmp_path / "file.csv").read_text()


@pytest.mark.parametrize(("args", "words"), [
    (["--table", "segkit_no_such_table"], ["has no table 'segkit_no_such_table'", "--table NAME"]),
    (["--table", "segkit_sample", "--order-by", "nope"], ["--order-by 'nope' is not a column", "position"]),
    ([], ["--table NAME"]),
])
def test_bad_tables_are_one_sentence(postgres, sample_table, tmp_path, args, words):
    code, err = _cli("features", "--engine", "ibis", "--db", postgres, *args, "--out", str(tmp_path / "f.csv"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in err


@pytest.mark.parametrize(("url", "words"), [
    ("postgresql://segkit:hunter2@127.0.0.1:9/shop", ["Could not connect", "postgresql://segkit:***@127.0.0.1:9/shop",
                                                      "check the host"]),
    ("shop.example.com/orders", ["is not a database URL", "postgresql://USER"]),
    ("nosuchdb://host/x", ["--db 'nosuchdb://host/x'", "docs/databases.md"]),
])
def test_bad_urls_are_one_sentence_without_the_password(tmp_path, url, words):
    code, err = _cli("features", "--engine", "ibis", "--db", url, "--table", "orders", "--out", str(tmp_path / "f.csv"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "hunter2" not in err
    for word in words:
        assert word in err


@pytest.fixture(scope="module")
def real_table(postgres, real_parquet) -> str:
    copy_to_postgres(postgres, "segkit_online_retail", _with_position(pd.read_parquet(real_parquet)))
    return "segkit_online_retail"


@pytest.mark.real_data
@pytest.mark.slow
def test_real_data_with_a_window_and_registered_features_same_as_duckdb(postgres, real_table, real_parquet):
    options = {"window_days": 365, "extra_features": ["ChristmasShare", "CategoriesBought"]}
    assert_same(_from_postgres(postgres, real_table, **options), load_customer_data(real_parquet, **options))
