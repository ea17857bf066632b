"""Shared fixtures: the built-in sample (fast) and the real Online Retail data (CI).

The real data is reached through ``SEGKIT_REAL_DATA`` (the folder holding
``Online Retail.xlsx`` and ``online_retail.parquet``; ``.ci/run`` sets it). Without it
the real-data tests skip with a reason on a developer's machine, but fail in CI
(``CI`` set), so they can never skip silently there.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

# jsonschema (under nbformat, which plotly's widgets import) builds 38 lark grammars for IRI
# formats when rfc3987_syntax is installed: about 1 s of CPU in every test process, for a
# format no test checks (the page's kernels skip it the same way: segkit.dashboard.widgets).
if "jsonschema" not in sys.modules:
    sys.modules.setdefault("rfc3987_syntax", None)

# Keep parquet caches of test files out of the project's .cache folder.
os.environ.setdefault("SEGKIT_CACHE", tempfile.mkdtemp(prefix="segkit-test-cache-"))
os.environ.pop("SEGKIT_DATA", None)
# Fitting lifetime value costs 2-30 s a train; tests that are about it turn it back on.
os.environ.setdefault("SEGKIT_CLV", "0")

IN_CI = bool(os.environ.get("CI"))

# Tests live in folders that mirror the package (tests/ingest/test_load.py, ...). A few
# share helpers by module name (the browser and server of dashboard/test_browser.py, the
# live folders of dashboard/test_live_panel.py), so every folder is importable by name.
for _folder in sorted(Path(__file__).resolve().parent.iterdir()):
    if _folder.is_dir() and any(_folder.glob("test_*.py")) and str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))


def _real_dir() -> Path:
    folder = os.environ.get("SEGKIT_REAL_DATA", "").strip()
    if not folder:
        if IN_CI:
            pytest.fail("SEGKIT_REAL_DATA is not set in CI; .ci/run must pass the real data folder.")
        pytest.skip("SEGKIT_REAL_DATA is not set: real-data tests run in CI (bash .ci/run sets it)")
    return Path(folder)


def _real_file(name: str) -> Path:
    path = _real_dir() / name
    if not path.is_file():
        pytest.fail(f"SEGKIT_REAL_DATA is set but {path} is missing.")
    return path


@pytest.fixture(scope="session")
def real_workbook() -> Path:
    return _real_file("Online Retail.xlsx")


@pytest.fixture(scope="session")
def real_parquet() -> Path:
    return _real_file("online_retail.parquet")


@pytest.fixture(scope="session")
def real_data(real_parquet):
    """CustomerData of the real file with the default cleaning rules."""
    from segkit.pipeline.workflow import load_customer_data

    return load_customer_data(real_parquet)


@pytest.fixture(scope="session")
def real_auto_model(real_data):
    """The model ``train_model(real_data, "auto")`` gives, trained once for the tests that
    only read or save it (the browser servers on the real data)."""
    from segkit.pipeline.workflow import train_model

    return train_model(real_data, "auto")[0]


@pytest.fixture(scope="session")
def sample_log():
    """The built-in sample in the raw UCI layout (as a user's file would hold it)."""
    from segkit.ingest.sample import generate_sample_transactions

    return generate_sample_transactions()


@pytest.fixture(scope="session")
def sample_data():
    """CustomerData of the built-in sample with the default cleaning rules."""
    from segkit.pipeline.workflow import load_customer_data

    return load_customer_data(None)


# A model trained on the sample and the sample's customers with its segments, once per module
# (the views', the dashboard's panels' and the page's tests read them).
@pytest.fixture(scope="module")
def sample_model(sample_data):
    from segkit.pipeline.workflow import train_model

    model, _ = train_model(sample_data, 5)
    return model


@pytest.fixture(scope="module")
def sample_segmented(sample_data, sample_model):
    from segkit.views import tables as views

    return views.segment_customers(sample_model, sample_data.customers)


@pytest.fixture(scope="session")
def sample_csv(tmp_path_factory, sample_log) -> Path:
    path = tmp_path_factory.mktemp("sample") / "sample.csv"
    sample_log.to_csv(path, index=False)
    return path


def _need(prerequisite: str, reason: str) -> None:
    """Skip with a reason on a developer's machine, fail in CI."""
    if IN_CI:
        pytest.fail(f"{prerequisite} is missing in CI: {reason}")
    pytest.skip(f"{prerequisite} is missing: {reason}")


@pytest.fixture(scope="session")
def spark_engine():
    """One local Spark session (local[2], quiet) for the whole test session."""
    import importlib.util
    import shutil

    if importlib.util.find_spec("pyspark") is None:
        _need("pyspark", "install segkit[test] (make test does)")
    if not shutil.which("java") and not os.environ.get("JAVA_HOME"):
        _need("Java", ".ci/run installs default-jre-headless")
    from segkit.engines.spark import SparkEngine

    engine = SparkEngine(master="local[2]")
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def browser():
    """One Chromium (Playwright) for every browser test of the session: a second sync
    Playwright cannot start while one runs. Settings in tests/test_browser.py."""
    from test_browser import CHROMIUM, CHROMIUM_ARGS, _require_chromium

    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def messy_lines():
    """A small log in the UCI layout with messy text ids (blanks, no-break and ideographic
    spaces, ASCII controls, '.0' tails, 'nan'/'None' markers), netting ties and duplicates."""
    import pandas as pd

    when = pd.Timestamp("2011-05-01 10:00")
    rows = [
        # invoice, stock, qty, date offset (h), price, customer, country
        ("1001", "A1", 5, 0, 2.0, " 17850.0 ", "UK"),
        ("1001", "A1", 5, 0, 2.0, "17850", "UK"),         # same line once ids are trimmed: a duplicate
        ("1002 ", " A1", 4, 1, 2.0, "17850", "UK"),
        ("1003", "A1", 4, 1, 2.0, "17850", "France"),      # same time as 1002: file order breaks the tie
        ("C1004", "A1", -6, 2, 2.0, "17850", "UK"),
        ("1005", "A1", 3, 5, 2.0, "17850", "UK"),          # after the cancellation: untouched
        ("1006", " POST ", 1, 0, 18.0, "17850", "UK"),
        ("1007", "TEST01", 1, 0, 1.0, "17850", "UK"),
        ("1008", "B2", 2, 0, 0.0, "12000", "UK"),          # free line
        ("1009", "B2", 2, 3, 1.5, "12000.0", "Germany"),
        ("1010", "nan", 2, 4, 1.5, "12000", "Germany"),    # product missing after cleaning
        ("1011", "B2", 1, 4, 1.5, "None", "UK"),           # customer missing
        ("1012", "B2", 1, 4, 1.5, "  ", "UK"),             # customer missing
        ("1019", "B2", 1, 4, 1.5, " NULL", "UK"),          # customer missing, as a spreadsheet writes it
        ("1020", "#N/A", 1, 4, 1.5, "12000", "UK"),        # product missing
        (" 1013.0", "B3", 7, 6, 1.25, "\u00a012001\t", None),
        ("1014", "B3", 1, 6, 1.25, "12001", "Spain"),
        ("C1015", "B3", -100, 7, 1.25, "12001", "Spain"),  # cancels more than was bought
        ("1016", "B4", 2, 8, 3.0, "12001", "Spain"),
        ("\u30001017", "B4\u2009", 1, 9, 3.0, "\x1c12001\u3000", "Spain"),  # ideographic, thin space, control
        ("1018\u0085", "\u00a0B5", 2, 9, 2.5, "12002.0\u202f", "Spain"),     # next line, no-break spaces
    ]
    frame = pd.DataFrame(rows, columns=["InvoiceNo", "StockCode", "Quantity", "hours", "UnitPrice", "CustomerID", "Country"])
    frame.insert(2, "Description", "THING")
    frame.insert(4, "InvoiceDate", when + pd.to_timedelta(frame.pop("hours"), unit="h"))
    return frame


def _need_postgres(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"PostgreSQL is missing in CI: {reason}")
    pytest.skip(f"PostgreSQL is missing: {reason}")


@pytest.fixture(scope="session")
def postgres() -> str:
    """The URL of a running PostgreSQL 15+ (``SEGKIT_POSTGRES``; ``.ci/postgres.sh start``
    starts a private one and ``.ci/run`` does so in CI). Skips with a reason on a developer's
    machine without it, fails in CI."""
    url = os.environ.get("SEGKIT_POSTGRES", "").strip()
    if not url:
        _need_postgres("set SEGKIT_POSTGRES=postgresql://USER@HOST:PORT/DB (eval \"$(.ci/postgres.sh start)\" "
                       "starts one; bash .ci/run does in CI)")
    try:
        import psycopg
    except ImportError:
        _need_postgres("psycopg is not installed: pip install 'segkit[postgres]' (the test extra has it)")
    try:
        with psycopg.connect(url, connect_timeout=10) as con:
            version = con.info.server_version
    except psycopg.Error as exc:
        _need_postgres(f"SEGKIT_POSTGRES={url} does not answer ({str(exc).strip().splitlines()[0]})")
    if version < 150000:
        pytest.fail(f"SEGKIT_POSTGRES is PostgreSQL {version // 10000}; segkit needs 15 or newer.")
    return url



# --------------------------------------------------------------------------- engines
#: The column that keeps a log's line order inside a database (``--order-by``).
POSITION = "position"


class EngineUnderTest:
    """One way segkit runs the rules of ``segkit.rules.lines`` on a log, for the conformance
    suite (tests/engines/test_conformance.py): ``run(log, folder, ...)`` takes a log as a
    DataFrame in any layout ``columns`` maps, hands it to the engine its own way (a frame, a
    parquet file in ``folder``, a database table) and returns ``(customers, report)``."""

    def __init__(self, name: str, run, reads_text_dates: bool = True):
        self.name = name
        self._run = run
        #: False: the engine reads a typed file or table itself and refuses text dates by name
        self.reads_text_dates = reads_text_dates

    def run(self, log, folder: Path, rules: str = "default", columns=None, window_days=None):
        return self._run(log, folder, rules, columns, window_days)

    def __repr__(self) -> str:
        return self.name


def _as_parquet(log, folder: Path) -> Path:
    path = folder / "log.parquet"
    log.to_parquet(path, index=False)
    return path


def _with_position(log):
    import numpy as np

    return log.reset_index(drop=True).assign(**{POSITION: np.arange(len(log), dtype="int64")})


def _on_pandas(log, folder, rules, columns, window_days):
    from segkit.pipeline.workflow import load_customer_data

    data = load_customer_data(log, columns=columns, rules=rules, window_days=window_days, use_cache=False)
    return data.customers, data.report


def _on_duckdb_in_memory(duck):
    def run(log, folder, rules, columns, window_days):
        from segkit.engines.base import run_rules
        from segkit.features.customers import finish_customers
        from segkit.ingest.load import standardise_columns

        lines = duck.lines(standardise_columns(log, columns))
        out = run_rules(duck, lines, rules, window_days=window_days)
        return finish_customers(out["customers"]), out["report"]
    return run


def _on_duckdb_out_of_core(log, folder, rules, columns, window_days):
    from segkit.pipeline.workflow import load_customer_data

    data = load_customer_data(_as_parquet(log, folder), columns=columns, rules=rules, window_days=window_days,
                              engine="duckdb", use_cache=False)
    # --columns: the loader reads the file and DuckDB runs the rules in process (by design)
    assert columns or data.lines is None, "the out-of-core engine held the lines"
    return data.customers, data.report


def _on_ibis_duckdb_file(log, folder, rules, columns, window_days):
    import duckdb

    from segkit.pipeline.workflow import load_customer_data

    path = folder / "shop.ddb"
    with duckdb.connect(str(path)) as con:
        con.register("frame", _with_position(log))
        con.execute("CREATE OR REPLACE TABLE orders AS SELECT * FROM frame")
    data = load_customer_data(engine="ibis", db_url=f"duckdb:///{path}", db_table="orders", order_by=POSITION,
                              columns=columns, rules=rules, window_days=window_days)
    return data.customers, data.report


def _on_postgres(url: str):
    def run(log, folder, rules, columns, window_days):
        from segkit.engines.database import copy_to_postgres
        from segkit.pipeline.workflow import load_customer_data

        table = f"conformance_{folder.name.lower().replace('-', '_')[-40:]}"
        copy_to_postgres(url, table, _with_position(log))
        data = load_customer_data(engine="ibis", db_url=url, db_table=table, order_by=POSITION, columns=columns,
                                  rules=rules, window_days=window_days)
        return data.customers, data.report
    return run


def _on_spark(spark):
    def run(log, folder, rules, columns, window_days):
        from segkit.engines.base import run_rules
        from segkit.features.customers import finish_customers

        # the raw file as pandas writes it (float ids, nanosecond and zoned stamps): Spark reads it itself
        path = _as_parquet(log, folder)
        lines = spark.lines(path, columns) if columns else spark.lines(path)
        out = run_rules(spark, lines, rules, window_days=window_days)
        return finish_customers(out["customers"]), out["report"]
    return run


@pytest.fixture(scope="session")
def cancellations_log(tmp_path_factory) -> Path:
    """A generated log with ~2% partly cancelled orders, a giant order cancelled the same day,
    guest orders, postage and duplicates (segkit.ingest.sample.write_large_log)."""
    from segkit.ingest.sample import write_large_log

    return write_large_log(tmp_path_factory.mktemp("rules") / "generated.parquet", 60_000, n_customers=1_500,
                           seed=5, chunk_lines=30_000)


@pytest.fixture(scope="session")
def duckdb_engine():
    """One in-process DuckDB engine (two threads) for the whole test session."""
    from segkit.engines.duckdb import DuckDBEngine

    engine = DuckDBEngine(threads=2)
    yield engine
    engine.close()


ENGINES = ["pandas", "duckdb", "out-of-core", "ibis-duckdb-file", pytest.param("postgres", marks=pytest.mark.postgres),
           pytest.param("spark", marks=pytest.mark.slow)]


@pytest.fixture(params=ENGINES)
def engine(request) -> EngineUnderTest:
    """Every engine in turn: the loader then DuckDB in process (``pandas``, what the page
    runs), DuckDB in memory on the clean-layout lines, DuckDB out of core on a parquet file,
    ibis on a DuckDB database file by URL, ibis on a real PostgreSQL (``SEGKIT_POSTGRES``)
    and Spark (``local[2]``, slow)."""
    name = request.param
    if name == "pandas":
        return EngineUnderTest(name, _on_pandas)
    if name == "duckdb":
        return EngineUnderTest(name, _on_duckdb_in_memory(request.getfixturevalue("duckdb_engine")))
    if name == "out-of-core":
        return EngineUnderTest(name, _on_duckdb_out_of_core)
    if name == "ibis-duckdb-file":
        return EngineUnderTest(name, _on_ibis_duckdb_file, reads_text_dates=False)
    if name == "postgres":
        return EngineUnderTest(name, _on_postgres(request.getfixturevalue("postgres")), reads_text_dates=False)
    return EngineUnderTest(name, _on_spark(request.getfixturevalue("spark_engine")), reads_text_dates=False)


# --------------------------------------------------------------------------- browser tests on both cores
#: The data sets browser tests run on, as their ids say (``test_x[sample]``, ``test_y[sample-/path]``).
DATA_SETS = {"sample", "real"}


def pytest_xdist_make_scheduler(config, log):
    """``make test`` runs the browser tests on both cores with ``--dist loadgroup``: tests go
    to the workers in groups, one group per test file and data set (``test_browser.py`` on
    ``[sample]``, on ``[real]``, ...), so a module's server starts once, in one worker, and
    its tests run there in order (they share the module's page). The group comes from the
    test's id: xdist's own ``xdist_group`` marks are lost under pytest 9.2 (pytest-xdist#1386)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByFileAndDataSet(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path, _, name = nodeid.partition("::")
            ids = name[name.find("[") + 1:-1].split("-") if name.endswith("]") else []
            data_set = next((i for i in ids if i in DATA_SETS), None)
            return f"{path}[{data_set}]" if data_set else path

    return ByFileAndDataSet(config, log)
