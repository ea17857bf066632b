"""The whole path in two calls, shared by the CLI, the notebooks and the dashboard.

``load_customer_data``: file (or the built-in sample) -> clean lines -> customer features.
``train_model``: customer features -> chosen K -> fitted, named ``SegmentationModel``.
"""
from __future__ import annotations

import hashlib
import json
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pandas as pd
import pyarrow.parquet as pq

from segkit.config import cache_dir, default_data_path, is_database_url, is_multi_file
from segkit.errors import SegkitDataError
from segkit.features.customers import customer_features, data_fingerprint
from segkit.files.code_fingerprint import code_fingerprint
from segkit.files.locks import computed_once
from segkit.ingest.currency import heading_currency, plain_heading
from segkit.ingest.load import (
    CONVERTED,
    FILLED_DOWN,
    LAYOUT_READ,
    LOG_CURRENCY,
    load_transactions,
    standardise_columns,
)
from segkit.ingest.logs import (
    REPEATED_ACROSS_FILES,
    drop_repeats_across_files,
    load_log,
    source_labels,
    with_source_files,
)
from segkit.ingest.options import ReadOptions
from segkit.ingest.orders import SETTLED_ORDERS
from segkit.ingest.read_cache import (
    file_digest,
    read_table_with_metadata,
    write_parquet_atomically,
    write_table_atomically,
)
from segkit.ingest.readers import column_names, read_raw
from segkit.ingest.sample import SAMPLE_LABEL, generate_sample_transactions
from segkit.ingest.values import customer_ids, read_numbers
from segkit.rules.registry import FEATURE_TRANSFORMS, REGISTERED_FEATURES, feature_functions, with_features
from segkit.schema import OUT_OF_CORE_LINES, midnight_after, snapshot_date_for

if TYPE_CHECKING:  # scikit-learn loads only when a model is trained or used (about 1.5 s)
    from segkit.modeling.label import LifecycleRules
    from segkit.modeling.model import SegmentationModel

__all__ = ["CustomerData", "converted_rule", "with_converted", "load_customer_data", "train_model", "model_fits_data", "customers_for_scoring",
           "customers_with_history", "segment_moves", "read_log", "database_source", "fit_customer_value",
           "check_customer_table", "parquet_line_count", "training_rules", "card_rules", "MAX_TRAINING_CUSTOMERS",
           "add_customer_value", "add_customer_value_and_draws", "is_customer_table", "training_customers"]


@dataclass
class CustomerData:
    """Everything derived from one transaction log.

    Out of core (``engine="duckdb"`` on a parquet file, or ``"spark"``) only
    ``customers`` and the cleaning ``report`` are held: ``transactions`` and ``lines``
    are ``None``.
    """

    source: str
    is_sample: bool
    rules: str
    transactions: pd.DataFrame | None = field(repr=False)
    lines: pd.DataFrame | None = field(repr=False)
    report: pd.DataFrame | None = field(repr=False)
    customers: pd.DataFrame = field(repr=False)
    #: Observation window in days the features were computed over (None: the whole log).
    window_days: int | None = None
    #: Currency code of the log's money (its currency column; the base currency after
    #: ``--fx``); None when the log names none (``segkit.ingest.currency.currency_symbol``).
    currency: str | None = None

    def __post_init__(self) -> None:
        if self.currency and self.customers is not None:  # what the model's definitions are written in
            self.customers.attrs[LOG_CURRENCY] = self.currency

    @property
    def period(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """First and last purchase in the clean data."""
        return self.customers["FirstPurchase"].min(), self.customers["LastPurchase"].max()

    @property
    def covered_days(self) -> int:
        """Days of purchase history the log covers: first purchase to the snapshot date."""
        start, end = self.period
        return int((snapshot_date_for(end) - start.normalize()).days)

    @property
    def fingerprint(self) -> str:
        return data_fingerprint(self.customers)

    @property
    def has_lines(self) -> bool:
        """True when the clean lines are held or can be read back (see ``CachedCustomerData``)."""
        return self.lines is not None

    @property
    def line_count(self) -> int | None:
        """Clean lines of the log (``None`` when they are not held)."""
        return None if self.lines is None else len(self.lines)

    def training_info(self) -> dict[str, Any]:
        """What ``model.json`` records about the training data."""
        start, end = self.period
        return {
            "source": self.source, "is_sample": self.is_sample, "rules": self.rules,
            "fingerprint": self.fingerprint, "customers": len(self.customers),
            "lines": self.line_count,
            "period": [start.isoformat(), end.isoformat()],
            "window_days": self.window_days, "covered_days": self.covered_days, "currency": self.currency,
        }



class CachedCustomerData(CustomerData):
    """A ``CustomerData`` read back from the cache: the customer table and the cleaning
    report at once, the clean lines (and the parsed log) only when something first uses
    them (a date or category filter, lifetime value, a retrain).

    Reading a workbook seen before then costs hashing the file and reading the customer
    table: ``segkit features`` and a dashboard kernel skip the parse, the cleaning, and
    the ibis/DuckDB imports.
    """

    def __init__(self, source: str, is_sample: bool, rules: str, report: pd.DataFrame, customers: pd.DataFrame,
                 window_days: int | None, n_lines: int, fingerprint: str, read_lines):
        self._read_lines = None
        super().__init__(source, is_sample, rules, None, None, report, customers, window_days,
                         report.attrs.get(LOG_CURRENCY))
        self._read_lines, self._n_lines, self._fingerprint = read_lines, int(n_lines), fingerprint

    def _ensure_lines(self) -> None:
        if self._read_lines is not None:
            read, self._read_lines = self._read_lines, None
            self._transactions, self._lines = read()

    @property
    def lines(self) -> pd.DataFrame | None:
        self._ensure_lines()
        return self._lines

    @lines.setter
    def lines(self, value) -> None:
        self._lines = value

    @property
    def transactions(self) -> pd.DataFrame | None:
        self._ensure_lines()
        return self._transactions

    @transactions.setter
    def transactions(self, value) -> None:
        self._transactions = value

    @property
    def has_lines(self) -> bool:
        return self._read_lines is not None or self._lines is not None

    @property
    def line_count(self) -> int | None:
        return self._n_lines

    @property
    def fingerprint(self) -> str:
        return self._fingerprint


def load_customer_data(
    data: str | Path | pd.DataFrame | None = None,
    columns: Mapping[str, str] | None = None,
    rules: str = "default",
    sheet: str | int | None = None,
    snapshot_date: pd.Timestamp | str | None = None,
    engine: str = "pandas",
    dayfirst: bool | None = None,
    use_cache: bool = True,
    window_days: int | None = None,
    extra_features=(),
    spark_master: str | None = None,
    spark_remote: str | None = None,
    spark_table: str | None = None,
    db_url: str | None = None,
    db_table: str | None = None,
    order_by: str | None = None,
    fetch_lines: bool = False,
    layout: str | None = None,
) -> CustomerData:
    """Load, clean and aggregate a log into customers: the first call of most work.

    Parameters
    ----------
    data : str, Path or pandas.DataFrame, optional
        A file, a folder or a glob (a folder or glob is one log of all its files,
        ``segkit.ingest.logs.load_log``, its ``transactions`` carrying ``SourceFile``), or
        a DataFrame of lines. ``None``: ``default_data_path()`` (``SEGKIT_DATA``, else
        ``data/``), and when that is empty too, the built-in sample.
    columns : mapping of str to str, optional
        Role -> column name for other layouts, as in ``load_transactions``.
    layout : {"uci", "shopify", "woocommerce"}, optional
        The layout preset, as in ``load_transactions`` (default: recognised from the header).
    rules : {"default", "seed"}, default "default"
        The cleaning rules (``segkit.clean.clean_transactions``).
    sheet, dayfirst, use_cache
        As in ``segkit.ingest.load.load_transactions``.
    snapshot_date, window_days, extra_features
        As in ``segkit.features.customers.customer_features``.
    engine : {"pandas", "duckdb", "spark", "auto"}, default "pandas"
        Who runs the rules and features (below).
    spark_master, spark_remote, spark_table : str, optional
        The Spark session for ``engine="spark"`` (below).

    Returns
    -------
    CustomerData
        ``customers`` (one row per customer), the cleaning ``report``, and, in memory,
        the loaded ``transactions`` and the clean ``lines``; ``source``, ``is_sample``,
        ``rules`` and ``window_days`` say what it was made from.

    Notes
    -----
    ``engine`` (every one runs the same rules and features, ``segkit.rules.lines``):
    ``"pandas"`` (the loader reads the file into memory, DuckDB runs the rules in process;
    the lines are kept), ``"duckdb"`` (parquet files out of core: only the customer table
    and the report are held; other files as ``"pandas"``), ``"spark"`` (a Spark session,
    ``spark_master`` default ``local[*]``, or Spark Connect at ``spark_remote`` /
    ``SPARK_REMOTE``: parquet files and folders are read by Spark, other files by the
    loader, or ``spark_table``, a table ``db.name`` of the session catalog, instead of
    ``data``; only the customer table and the report come back), ``"ibis"`` (the rules run
    inside the database at ``db_url`` on its table ``db_table``, lines numbered by
    ``order_by``, a column, else by every column: ``segkit.engines.database``; ``data`` is
    not read; ``fetch_lines``: also bring the clean lines back, as ``lines``, for what needs
    them in memory: the backtest, lifetime value, ``--until``), or ``"auto"`` (DuckDB for
    parquet files of more than ``OUT_OF_CORE_ROWS`` lines, else ``"pandas"``).

    Examples
    --------
    >>> from segkit.ingest.sample import generate_sample_transactions
    >>> data = load_customer_data(generate_sample_transactions(n_customers=300))
    >>> data.customers.index.name, data.lines is not None
    ('CustomerID', True)
    >>> list(data.report.columns[:3])
    ['rule', 'rows_removed', 'revenue_removed']
    """
    if engine not in ("pandas", "duckdb", "spark", "ibis", "auto"):
        raise ValueError(f"engine must be 'pandas', 'duckdb', 'spark', 'ibis' or 'auto', not {engine!r}")
    options = ReadOptions.given(columns, sheet, dayfirst, layout)
    columns = options.columns
    if data is None and engine != "ibis":
        data = default_data_path()
    if is_database_url(data):  # SEGKIT_DATA or --data naming a table: the ibis engine, lines brought back
        db_url, db_table, order_by = database_source(data, order_by)
        engine, fetch_lines = "ibis", True
    if engine == "ibis":
        return _database_customer_data(db_url, db_table, columns, rules, snapshot_date, window_days, extra_features,
                                       order_by, fetch_lines)
    if engine == "spark":
        return _spark_customer_data(data, options, rules, snapshot_date, use_cache, window_days,
                                    extra_features, spark_master, spark_remote, spark_table)
    if engine != "pandas" and isinstance(data, (str, Path)) and _wants_out_of_core(Path(data), engine, columns):
        # start-up: ibis and DuckDB load on first use, not on import (0.4 s, measured)
        from segkit.features.out_of_core import customer_features_out_of_core

        _check_feature_options(window_days, extra_features)
        report: list = []
        customers = customer_features_out_of_core(data, rules=rules, snapshot_date=snapshot_date, report=report,
                                                   window_days=window_days, extra_features=extra_features)
        return CustomerData(Path(data).name, False, rules, None, None, report[0], customers,
                            None if window_days is None else int(window_days), report[0].attrs.get(LOG_CURRENCY))
    clean_key = _clean_cache_key(data, options, rules) \
        if use_cache and (data is None or isinstance(data, (str, Path)) and not is_multi_file(data)) else None
    customers_key = _customers_cache_key(clean_key, snapshot_date, window_days, extra_features)

    def compute() -> CustomerData:
        return _computed_customer_data(data, options, rules, snapshot_date, use_cache, window_days,
                                       extra_features, clean_key, customers_key)

    if customers_key is None:
        return compute()

    # Kernels started together (Voilà's pool) wait for the first one's table instead of
    # all parsing and cleaning the same file.
    return computed_once(_customers_cache_file(customers_key).with_suffix(".lock"),
                         lambda: _read_customers_cache(customers_key, clean_key, data, options, rules,
                                                       window_days), compute)


def _computed_customer_data(data, options: ReadOptions, rules, snapshot_date, use_cache, window_days,
                            extra_features, clean_key, customers_key) -> CustomerData:
    """``load_customer_data`` past its customer-table cache: read, clean (or take the
    cached clean lines), compute the features, and cache the table."""
    if data is None:
        transactions = standardise_columns(generate_sample_transactions(), source="built-in sample")
        source, is_sample = SAMPLE_LABEL, True
    elif isinstance(data, pd.DataFrame):
        transactions = standardise_columns(data, options.columns, source="the data frame", dayfirst=options.dayfirst)
        source, is_sample = "data frame", False
    elif is_multi_file(data):
        transactions = load_log(data, **options.as_kwargs(), use_cache=use_cache)
        files = transactions["SourceFile"].cat.categories
        source, is_sample = f"{Path(data).name} ({len(files)} files)", False
    else:
        if clean_key is None or not all(f.exists() for f in _clean_cache_files(clean_key)):
            _warm_up_rules()  # the lines will be cleaned here: their rules load while the file is read
        transactions = load_transactions(data, **options.as_kwargs(), use_cache=use_cache)
        source, is_sample = Path(data).name, False
    cached = _read_clean_cache(clean_key)
    if cached is not None:
        lines, report = cached
    else:
        # SourceFile stays on the loaded lines only: the duplicate rule compares lines across files.
        # start-up: ibis and DuckDB load on first use, not on import (0.4 s, measured)
        from segkit.clean import clean_transactions

        lines, report = clean_transactions(transactions.drop(columns="SourceFile", errors="ignore"), rules=rules)
        report = with_repeats_across_files(report, transactions.attrs.get(REPEATED_ACROSS_FILES))
        # each row goes right after "loaded": the last added reads first, in the order the loader took the steps
        report = with_settled_orders(report, transactions.attrs.get(SETTLED_ORDERS))
        report = with_filled_down(report, transactions.attrs.get(FILLED_DOWN, 0))
        report = with_layout_read(report, transactions.attrs.get(LAYOUT_READ))
        report = with_converted(report, transactions.attrs.get(CONVERTED), transactions.attrs.get(LOG_CURRENCY))
        if transactions.attrs.get(LOG_CURRENCY):  # kept with the report, so a cached read knows it
            report.attrs[LOG_CURRENCY] = transactions.attrs[LOG_CURRENCY]
        _write_clean_cache(clean_key, lines, report)
    if lines.empty:
        raise SegkitDataError(
            f"'{source}' has no usable lines after cleaning (all {len(transactions):,} were removed: "
            f"{_biggest_removal(report)}); check the customer, quantity and price columns."
        )
    if window_days is not None and int(window_days) < 1:
        raise SegkitDataError(f"The observation window must be at least 1 day, not {window_days}.")
    customers = customer_features(lines, snapshot_date=snapshot_date, window_days=window_days,
                                  extra_features=extra_features)
    data = CustomerData(source, is_sample, rules, transactions, lines, report, customers,
                        None if window_days is None else int(window_days), report.attrs.get(LOG_CURRENCY))
    _write_customers_cache(customers_key, data)
    return data


def _warm_up_rules() -> None:
    """Import the cleaning rules and start the process's DuckDB engine on another thread
    while the file is read (ibis and DuckDB, a large part of a first read; calamine parses a workbook
    without holding the GIL, so both go at once). Only when the lines will be cleaned in this
    process, which then waits for the thread (no import left running at exit); a failure
    here is left for the cleaning itself to report."""
    if "segkit.clean" in sys.modules:
        return

    def warm() -> None:
        try:
            # start-up: ibis and DuckDB load on first use, not on import (0.4 s, measured)
            import segkit.clean  # noqa: F401
            from segkit.engines.duckdb import local_engine

            with local_engine():
                pass
        except Exception:
            pass

    threading.Thread(target=warm, name="segkit-warm-up", daemon=True).start()


def _customers_cache_key(clean_key: str | None, snapshot_date, window_days, extra_features) -> str | None:
    """Key of a file's customer table: its clean lines' key and how the features were computed."""
    if clean_key is None:
        return None

    stamp = None if snapshot_date is None else pd.Timestamp(snapshot_date).isoformat()
    key = json.dumps([clean_key, stamp, window_days, sorted(str(f) for f in extra_features or ())])
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def _customers_cache_file(key: str) -> Path:
    return cache_dir() / "customers" / f"{key}-customers.parquet"


def _read_customers_cache(key: str | None, clean_key: str | None, data, options: ReadOptions, rules: str,
                          window_days) -> CachedCustomerData | None:
    """The customer table computed before from the same file content, options, rules and
    code, with the clean lines read back only when used; ``None`` on a miss."""
    if key is None:
        return None
    path = _customers_cache_file(key)
    lines_file, report_file = _clean_cache_files(clean_key)
    if not (path.is_file() and report_file.is_file() and lines_file.is_file()):
        return None

    read = read_table_with_metadata(path)
    try:
        customers, meta = read
        report = pd.read_parquet(report_file)
        n_lines, fingerprint = int(meta["segkit_lines"]), meta["segkit_fingerprint"]
    except Exception:  # a damaged cache entry is just computed again
        return None

    def read_lines():
        cached = _read_clean_cache(clean_key)
        if data is None:
            transactions = standardise_columns(generate_sample_transactions(), source="built-in sample")
        else:
            transactions = load_transactions(data, **options.as_kwargs())
        if cached is None:  # the clean lines went missing since: clean again
            # start-up: ibis and DuckDB load on first use, not on import (0.4 s, measured)
            from segkit.clean import clean_transactions

            return transactions, clean_transactions(transactions, rules=rules).lines
        return transactions, cached[0]

    source, is_sample = (SAMPLE_LABEL, True) if data is None else (Path(data).name, False)
    return CachedCustomerData(source, is_sample, rules, report, customers,
                              None if window_days is None else int(window_days), n_lines, fingerprint, read_lines)


def _write_customers_cache(key: str | None, data: CustomerData) -> None:
    """Keep a file's customer table beside its clean lines (with the line count and the
    fingerprint in the parquet metadata); a cache folder that cannot be written only costs speed."""
    if key is None or data.lines is None:
        return

    write_table_atomically(data.customers, _customers_cache_file(key),
                           {"segkit_lines": len(data.lines), "segkit_fingerprint": data.fingerprint})




def _clean_cache_key(path, options: ReadOptions, rules: str) -> str | None:
    """Key of a file's clean lines: its content (the loader's key), the options, the rules
    and segkit's code. None when the file cannot be hashed (the loader then says why)."""
    try:
        content = "built-in sample" if path is None else file_digest(Path(path))  # the sample is deterministic
    except OSError:
        return None
    key = json.dumps([content, *options.key(), rules, code_fingerprint()])
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def _clean_cache_files(key: str) -> tuple[Path, Path]:
    folder = cache_dir() / "clean"
    return folder / f"{key}-lines.parquet", folder / f"{key}-report.parquet"


def _read_clean_cache(key: str | None):
    if key is None:
        return None
    lines_file, report_file = _clean_cache_files(key)
    if not (lines_file.exists() and report_file.exists()):
        return None
    try:
        lines, report = pd.read_parquet(lines_file), pd.read_parquet(report_file)
    except Exception:  # a damaged cache entry is just computed again
        return None
    # Stored in microseconds (segkit's parquet, which Spark reads); lines hold nanoseconds.
    stamps = [c for c in lines.columns if pd.api.types.is_datetime64_any_dtype(lines[c])]
    return lines.astype({c: "datetime64[ns]" for c in stamps}), report


def _write_clean_cache(key: str | None, lines: pd.DataFrame, report: pd.DataFrame) -> None:
    """Keep the clean lines and report of a file (the cleaning is not repeated per read of
    the same file); a cache folder that cannot be written only costs speed."""
    if key is None or lines.empty:
        return

    lines_file, report_file = _clean_cache_files(key)
    write_parquet_atomically(report, report_file)
    write_parquet_atomically(lines, lines_file)


def _check_feature_options(window_days, extra_features) -> None:
    """Observation windows and registered features run on every engine
    (``segkit.rules.lines.customer_table``, ``segkit.rules.registry``); unknown feature names and
    windows under a day are refused before any work."""
    if window_days is not None and int(window_days) < 1:
        raise SegkitDataError(f"The observation window must be at least 1 day, not {window_days}.")
    feature_functions(extra_features)


def _spark_customer_data(data, options: ReadOptions, rules, snapshot_date, use_cache, window_days,
                         extra_features, spark_master, spark_remote, spark_table=None) -> CustomerData:
    """``load_customer_data`` on Spark: parquet read by Spark, anything else by the loader."""
    # start-up: ibis and DuckDB load on first use, not on import (0.4 s, measured)
    from segkit.engines.base import run_rules
    from segkit.engines.spark import SparkEngine

    _check_feature_options(window_days, extra_features)
    if spark_table:
        source, is_sample, path = spark_table, False, None
    elif isinstance(data, (str, Path)) and Path(data).suffix.lower() == ".parquet" or \
            isinstance(data, (str, Path)) and Path(data).is_dir():
        path = Path(data)
        if not path.exists():
            raise SegkitDataError(f"'{path}' does not exist; check the path.")
        source, is_sample = path.name, False
    elif data is None:
        source, is_sample = SAMPLE_LABEL, True
        path = standardise_columns(generate_sample_transactions(), source="built-in sample")
    elif isinstance(data, pd.DataFrame):
        source, is_sample = "data frame", False
        path = standardise_columns(data, options.columns, source="the data frame", dayfirst=options.dayfirst)
    else:
        source, is_sample = Path(data).name, False
        path = load_transactions(data, **options.as_kwargs(), use_cache=use_cache)
    columns = options.columns
    engine = SparkEngine(master=spark_master, remote=spark_remote)
    try:
        lines = engine.table_lines(spark_table, columns) if spark_table else \
            engine.lines(path, columns) if isinstance(path, Path) else engine.lines(path)
        out = run_rules(engine, lines, rules, snapshot_date=snapshot_date, window_days=window_days,
                        extra_features=extra_features)
    finally:
        engine.close()
    # the log's currency: Spark read it from the file or table (engines.base.table_currency), else the loader
    currency = engine.currency if spark_table or isinstance(path, Path) else path.attrs.get(LOG_CURRENCY)
    return _engine_customer_data(out, source, is_sample, rules, None, window_days, extra_features, currency)


def _engine_customer_data(out: Mapping[str, Any], source: str, is_sample: bool, rules: str, lines,
                          window_days: int | None, extra_features, currency: str | None = None) -> CustomerData:
    """``CustomerData`` from an engine's ``run_rules`` result (Spark, a database): refused in
    one sentence when no line is left, registered features joined on."""
    # start-up: ibis and DuckDB load on first use, not on import (0.4 s, measured)
    from segkit.features.customers import finish_customers

    if out["customers"].empty:
        raise SegkitDataError(f"'{source}' has no usable lines after cleaning ({_biggest_removal(out['report'])}); "
                              "check the customer, quantity and price columns.")
    customers = finish_customers(out["customers"])
    if extra_features:
        customers = with_features(customers, out["features"], list(extra_features))
    if currency:  # kept with the report, as the loader's path keeps it
        out["report"].attrs[LOG_CURRENCY] = currency
    return CustomerData(source, is_sample, rules, None, lines, out["report"], customers,
                        None if window_days is None else int(window_days), currency)


def database_source(url: str, order_by: str | None = None) -> tuple[str, str, str | None]:
    """``(database URL, table, order_by)`` of a data source written as one URL, the table
    (and optionally the ordering column) in its query:
    ``postgresql://user@host:5432/shop?table=orders&order_by=line_no``. The page reads
    ``SEGKIT_DATA`` in this form, and ``--data`` takes it too (the same as ``--engine ibis
    --db URL --table NAME``)."""
    # start-up: ibis and DuckDB load on first use, not on import (0.4 s, measured)
    from segkit.engines.database import safe_url

    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    table = query.pop("table", "").strip()
    order_by = query.pop("order_by", "").strip() or order_by
    if not table:
        raise SegkitDataError(f"The database URL '{safe_url(url)}' names no table; add ?table=NAME to it "
                              "(e.g. postgresql://USER@HOST:5432/SHOP?table=orders).")
    return urlunsplit(parts._replace(query=urlencode(query))), table, order_by


def _database_customer_data(db_url, db_table, columns, rules, snapshot_date, window_days, extra_features,
                            order_by, fetch_lines=False) -> CustomerData:
    """``load_customer_data`` inside a database (``segkit.engines.database.IbisEngine``);
    ``fetch_lines``: the clean lines too, typed as the in-memory path types them."""
    # start-up: ibis and DuckDB load on first use, not on import (0.4 s, measured)
    from segkit.engines.base import run_rules
    from segkit.engines.database import IbisEngine

    if not db_url or not db_table:
        raise SegkitDataError("The ibis engine reads a table of a database: give both --db URL "
                              "(e.g. postgresql://USER@HOST:5432/DATABASE) and --table NAME.")
    _check_feature_options(window_days, extra_features)
    # What the page and model.json call it: the table and its database, never the server's address.
    database = urlsplit(db_url).path.strip("/") or urlsplit(db_url).scheme
    source = f"{db_table} (database {database})"
    engine = IbisEngine(db_url)
    try:
        lines = engine.table_lines(db_table, dict(columns) if columns else None, order_by)
        out = run_rules(engine, lines, rules, snapshot_date=snapshot_date, window_days=window_days,
                        extra_features=extra_features)
        clean = engine.clean_lines(lines, rules, out["date_bounds"]) if fetch_lines and not out["customers"].empty \
            else None
    finally:
        engine.close()
    return _engine_customer_data(out, source, False, rules, clean, window_days, extra_features, engine.currency)


#: Above this many lines a parquet log goes through DuckDB with ``engine="auto"``
#: (where DuckDB takes less time and memory than pandas: benchmarks/bench_scale.py).
OUT_OF_CORE_ROWS = OUT_OF_CORE_LINES


def _wants_out_of_core(path: Path, engine: str, columns) -> bool:
    if is_multi_file(path):
        if engine == "duckdb":
            raise SegkitDataError(f"'{path}' is a log of many files; the out-of-core engine reads one parquet file: "
                                  "use --engine pandas, or combine the files into one parquet file.")
        return False
    if path.suffix.lower() != ".parquet" or columns:
        return False  # the loader reads it (text dates, --columns), DuckDB runs the rules in process
    return engine == "duckdb" or parquet_line_count(path) > OUT_OF_CORE_ROWS


#: The cleaning report's row for lines dropped because another file held them too.
OVERLAP_RULE = "overlapping files (kept once)"


def with_repeats_across_files(report: pd.DataFrame, repeated: tuple[int, float] | None) -> pd.DataFrame:
    """The cleaning report with a row, right after "loaded", for the lines that appeared in
    more than one file of a log and were counted once (``load_log``); unchanged when none did."""
    if not repeated or not repeated[0]:
        return report
    return _with_row_after_loaded(report, OVERLAP_RULE, int(repeated[0]), round(float(repeated[1]), 2))


def filled_down_rule(lines: int) -> str:
    """The cleaning report's row name for lines given their order's customer, date or country."""
    return f"order fields filled down ({lines:,} lines)"


def with_filled_down(report: pd.DataFrame, lines: int) -> pd.DataFrame:
    """The cleaning report with a row after "loaded" saying how many lines took a blank
    customer, date or country from the other lines of their order
    (``segkit.ingest.load.fill_down_within_orders``); nothing is removed by it."""
    if not lines:
        return report
    return _with_row_after_loaded(report, filled_down_rule(int(lines)), 0, 0.0)


def with_settled_orders(report: pd.DataFrame, settled: Mapping[str, list] | None) -> pd.DataFrame:
    """The cleaning report with a row after "loaded" for each step of
    ``segkit.ingest.orders.settle_orders``: refunded, voided and unpaid orders dropped (lines
    and revenue), partial refunds netted (revenue only)."""
    for rule, (rows, revenue) in reversed(list((settled or {}).items())):
        report = _with_row_after_loaded(report, rule, int(rows), round(float(revenue), 2))
    return report


def layout_rule(layout: str) -> str:
    """The cleaning report's row name saying which shop layout a log was read as."""
    return f"read as {layout}"


def with_layout_read(report: pd.DataFrame, layout: str | None) -> pd.DataFrame:
    """The cleaning report with a first row after "loaded" naming the shop layout the log was
    read as (``segkit.ingest.load.LAYOUT_READ``; none for the UCI layouts); nothing removed."""
    return _with_row_after_loaded(report, layout_rule(layout), 0, 0.0) if layout else report


def converted_rule(converted: Mapping[str, int], base: str) -> str:
    """The cleaning report's row name for lines converted to the base currency (``--fx``)."""
    lines = sum(int(n) for n in converted.values())
    return f"converted to {base} ({lines:,} lines from {', '.join(sorted(converted))})"


def with_converted(report: pd.DataFrame, converted: Mapping[str, int] | None, base: str | None) -> pd.DataFrame:
    """The cleaning report with a row after "loaded" saying how many lines ``--fx`` rates
    converted to the base currency, and from which currencies; nothing is removed by it."""
    if not converted or not base:
        return report
    return _with_row_after_loaded(report, converted_rule(converted, base), 0, 0.0)


def _with_row_after_loaded(report: pd.DataFrame, rule: str, rows: int, revenue: float) -> pd.DataFrame:
    """``report`` with a row for a step taken before cleaning, right after "loaded": it
    removed ``rows`` lines worth ``revenue``, which "loaded" then counts in (so every row's
    ``rows_left`` is the one before it minus what it removed)."""
    report = report.copy()
    loaded = report.iloc[0]
    row = pd.DataFrame([{"rule": rule, "rows_removed": rows, "revenue_removed": revenue,
                         "rows_left": int(loaded["rows_left"]), "revenue_left": float(loaded["revenue_left"])}])
    report.loc[0, "rows_left"] = int(loaded["rows_left"]) + rows
    report.loc[0, "revenue_left"] = round(float(loaded["revenue_left"]) + revenue, 2)
    return pd.concat([report.iloc[:1], row.astype(report.dtypes.to_dict()), report.iloc[1:]], ignore_index=True)


def parquet_line_count(path: Path) -> int:
    """Lines in a parquet file from its metadata; 0 when unreadable (the loader then
    gives its one-sentence reason)."""
    try:
        return pq.ParquetFile(path).metadata.num_rows
    except Exception:
        return 0


def _biggest_removal(report: pd.DataFrame) -> str:
    row = report.iloc[1:].sort_values("rows_removed", ascending=False).iloc[0]
    return f"{int(row['rows_removed']):,} by the rule '{row['rule']}'"


#: Above this many customers the model is fitted on a random sample of this many (the
#: customer table of a cluster-sized log): K-Means centres and the segment
#: rules settle long before, and every customer is still scored (``model.segment``).
MAX_TRAINING_CUSTOMERS = 2_000_000


def training_customers(data: CustomerData | pd.DataFrame, random_state: int = 42) -> pd.DataFrame:
    """The customers ``train_model`` fits on: all of them, or a random sample of
    ``MAX_TRAINING_CUSTOMERS`` when there are more."""
    customers = data.customers if isinstance(data, CustomerData) else data
    if len(customers) > MAX_TRAINING_CUSTOMERS:
        customers = customers.sample(MAX_TRAINING_CUSTOMERS, random_state=random_state)
    return customers


def train_model(
    data: CustomerData | pd.DataFrame,
    k: int | str = "auto",
    preset: str = "default",
    random_state: int = 42,
    k_values=None,
    progress: bool = False,
    extra_features=(),
    clv: bool = False,
    lifecycle: "LifecycleRules | None" = None,
) -> tuple["SegmentationModel", pd.DataFrame | None]:
    """Fit a segmentation model on a log's customers, choosing K unless given.

    Parameters
    ----------
    data : CustomerData or pandas.DataFrame
        What ``load_customer_data`` returns, or a customer table.
    k : int or "auto", default "auto"
        Number of value tiers (clusters for presets without lifecycle rules). ``"auto"``:
        the K ``recommend_k`` chooses over ``k_values`` (default 2..10, or 2..6 value tiers
        for presets with lifecycle rules, where it chooses at most the preset's ``max_k``).
    preset : {"default", "clusters", "seed"}, default "default"
        ``default``: lifecycle stage x value tiers; ``clusters``: K-Means over every
        customer; ``seed``: the original dashboard's model.
    random_state : int, default 42
        Seed of the clustering and of the training sample.
    k_values : sequence of int, optional
        The K to evaluate when ``k="auto"``.
    progress : bool, default False
        Show a progress bar while K is evaluated.
    extra_features : sequence of str
        Columns (e.g. registered features computed by
        ``load_customer_data(..., extra_features=...)``) clustered beside the preset's.
    clv : bool, default False
        Also fit BG/NBD + Gamma-Gamma lifetime-value parameters on the clean lines
        (``model.clv_params_``; needs the ``clv`` extra and a ``CustomerData`` with lines).
    lifecycle : LifecycleRules, optional
        Lifecycle thresholds in place of the preset's (e.g. ``fit_lifecycle_rules(...).rules``);
        ignored by presets without lifecycle stages (``clusters``, ``seed``).

    Returns
    -------
    model : SegmentationModel
        The fitted model. With more than ``MAX_TRAINING_CUSTOMERS`` customers it is fitted
        on a random sample of that many (``model.training_sample_`` says how many of how
        many), and its profile and metrics describe that sample.
    k_table : pandas.DataFrame or None
        The ``evaluate_k`` metrics per K (``None`` when ``k`` was given).

    Examples
    --------
    >>> from segkit.ingest.sample import generate_sample_transactions
    >>> data = load_customer_data(generate_sample_transactions(n_customers=300))
    >>> model, k_table = train_model(data, k=3)
    >>> segmented = model.segment(data.customers)
    >>> {"Segment", "Recommendation", "Confidence"} <= set(segmented.columns)
    True
    """
    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from segkit.modeling.model import (
        FEATURE_PRESETS,
        SegmentationModel,
        evaluate_k,
        recommend_k,
    )

    customers = training_customers(data, random_state)
    everyone = len(data.customers if isinstance(data, CustomerData) else data)

    spec = FEATURE_PRESETS[preset]
    rules = lifecycle if lifecycle is not None and spec.lifecycle is not None else spec.lifecycle
    features = tuple(dict.fromkeys(tuple(spec.features) + tuple(extra_features)))
    transforms = {f: FEATURE_TRANSFORMS[f] for f in extra_features if FEATURE_TRANSFORMS.get(f, "log1p") != "log1p"}
    if not spec.log_transform:
        transforms = None
    table = None
    if k == "auto":
        if k_values is None:
            k_values = range(2, 7) if spec.lifecycle is not None else range(2, 11)
        table = evaluate_k(customers, k_values, features, spec.log_transform,
                           random_state=random_state, progress=progress, lifecycle=rules)
        k = recommend_k(table, max_k=spec.max_k)
    window = data.window_days if isinstance(data, CustomerData) else None
    if window is not None and rules is not None and window < rules.at_risk_days:
        raise SegkitDataError(
            f"An observation window of {window} days is shorter than the At-risk threshold "
            f"({rules.at_risk_days} days): customers the calendar calls active would count no purchases. "
            f"Use --window-days {rules.at_risk_days} or more (365 is a common choice).")
    model = SegmentationModel.from_preset(preset, features=features, n_clusters=int(k), random_state=random_state,
                                          transforms=transforms or None,
                                          **({"lifecycle": rules} if lifecycle is not None and rules is not None else {})
                                          ).fit(customers)
    if isinstance(data, CustomerData):
        model.training_window_ = {"window_days": data.window_days, "covered_days": data.covered_days}
    if len(customers) < everyone:
        model.training_sample_ = {"customers": everyone, "trained_on": len(customers)}
    if clv and isinstance(data, CustomerData) and data.lines is not None:
        fit_customer_value(model, data.lines)
    return model, table


def fit_customer_value(model: "SegmentationModel", lines: pd.DataFrame, purchase_model: str = "bgnbd",
                       draws: int | None = None) -> pd.DataFrame:
    """Fit lifetime value into ``model``: ``clv_params_`` (the purchase model and
    Gamma-Gamma, maximum likelihood) and ``clv_uncertainty_`` (``draws`` bootstrap parameter
    draws, default ``STORED_DRAWS``, and the Gamma-Gamma independence check), both saved with
    the model so that scoring and the page give ``CLVLow``/``CLVHigh`` without refitting.
    Returns the RFM table the fit used. Needs the ``clv`` extra."""
    # start-up: scipy.optimize loads on first use, not on import (0.6 s, measured)
    from segkit.value.clv import STORED_DRAWS, fit_clv, rfm_frame, value_uncertainty

    rfm = rfm_frame(lines)
    model.clv_params_ = fit_clv(rfm, purchase_model)
    model.clv_uncertainty_ = value_uncertainty(rfm, model.clv_params_, draws or STORED_DRAWS)
    return rfm


def add_customer_value(customers: pd.DataFrame, lines: pd.DataFrame | None, model: "SegmentationModel") -> pd.DataFrame:
    """``customers`` with PAlive, ExpectedPurchases90d and CLV from the model's stored
    lifetime-value parameters (unchanged when the model has none or there are no lines)."""
    return add_customer_value_and_draws(customers, lines, model)[0]


def add_customer_value_and_draws(customers: pd.DataFrame, lines: pd.DataFrame | None, model: SegmentationModel
                             ) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """``add_customer_value``, and every customer's CLV under each of the model's stored
    parameter draws (rows in the order of ``customers``, one column per draw, currency;
    ``None`` without stored draws): what a group's interval is read from
    (``segkit.value.clv.value_intervals_by_group``)."""
    params = getattr(model, "clv_params_", None)
    if not params or lines is None or lines.empty:
        return customers, None
    # start-up: scipy.optimize loads on first use, not on import (0.6 s, measured)
    from segkit.value.clv import customer_value
    from segkit.value.clv import customer_value_and_draws as value_and_draws

    samples = (getattr(model, "clv_uncertainty_", None) or {}).get("draws")
    if not samples:
        value, draws = customer_value(lines, params), None
    else:
        value, draws = value_and_draws(lines, params, samples)
    value.index = value.index.astype(customers.index.dtype)
    joined = customers.join(value, how="left")
    joined.attrs = dict(customers.attrs)  # a join keeps no attrs: the log's currency goes on with the table
    if draws is not None:
        draws.index = draws.index.astype(customers.index.dtype)
        draws = draws.reindex(customers.index)
    return joined, draws


def model_fits_data(card: Mapping[str, Any], data: CustomerData) -> bool:
    """True when a model card was trained on exactly this customer table."""
    return card.get("training_data", {}).get("fingerprint") == data.fingerprint


def is_customer_table(names, features, date_column: str = "InvoiceDate") -> bool:
    """A table whose columns ``names`` (plain headings) hold a feature of ``features`` and no
    ``date_column`` is a customer table to score as it is, not a log of transactions."""
    names = set(map(str, names))
    return date_column not in names and bool(names & set(map(str, features)))


def customers_for_scoring(
    data: str | Path,
    model: "SegmentationModel",
    columns: Mapping[str, str] | None = None,
    sheet: str | int | None = None,
    rules: str | None = None,
    engine: str = "pandas",
    dayfirst: bool | None = None,
    use_cache: bool = True,
    allow_short_window: bool = False,
    notes: list[str] | None = None,
    spark: Mapping[str, Any] | None = None,
    until=None,
    database: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """The customer table to score, from a new file of transactions *or* of customers.

    A file with a ``CustomerID`` column, no invoice dates and at least one feature the
    model uses is taken as a customer table (``check_customer_table``); anything else is
    read as a transaction log, cleaned with the model's rules and aggregated over the
    model's observation window (``scoring_window``), with the model's registered
    features. Pass the result to ``model.segment``; ``segkit score`` does both.

    Parameters
    ----------
    data : str or Path
        The file (or folder, or glob) to score.
    model : SegmentationModel
        The fitted or loaded model (``segkit.pipeline.artifacts.load_artifacts``).
    columns, sheet, dayfirst, use_cache
        As in ``segkit.ingest.load.load_transactions``.
    rules : {"default", "seed"}, optional
        The cleaning rules; ``None`` (default) takes the model's own
        (``training_rules``); other rules than the model's add a note.
    engine : {"pandas", "duckdb", "spark", "ibis", "auto"}, default "pandas"
        As in ``load_customer_data``.
    allow_short_window : bool, default False
        A log covering fewer days than the model's window is refused; with this it is
        scored, with a warning appended to ``notes``.
    notes : list of str, optional
        Receives the warnings and notes meant for people.
    spark : mapping, optional
        ``spark_master`` / ``spark_remote`` for ``engine="spark"``.
    until : date, optional
        Score the log as it was on that day (later lines ignored; ``customer_data_until``).
    database : mapping, optional
        ``db_url`` / ``db_table`` / ``order_by`` for ``engine="ibis"`` (``data`` is then
        not read).

    Returns
    -------
    pandas.DataFrame
        One row per customer with the columns ``model.input_columns_`` needs.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from segkit.ingest.sample import generate_sample_transactions
    >>> log = generate_sample_transactions(n_customers=300)
    >>> model, _ = train_model(load_customer_data(log), k=3)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "new.csv"
    >>> log.to_csv(path, index=False)
    >>> scored = model.segment(customers_for_scoring(path, model))
    >>> len(scored) == len(model.segment(load_customer_data(log).customers))
    True
    """
    path = Path("data frame") if isinstance(data, pd.DataFrame) else Path(data) if data is not None else None
    if path is not None and not isinstance(data, pd.DataFrame) and path.exists() and path.is_file() and path.stat().st_size > 0 and path.suffix.lower() in (".csv", ".xlsx", ".xlsm", ".parquet"):
        # Told from the schema (parquet metadata, a CSV's header) when the file has one: a large
        # log is then read once, by the engine that aggregates it, not first whole into pandas.
        names = column_names(path, sheet)
        raw = read_raw(path, sheet) if names is None else None
        # "TotalSpend (€)": a customer CSV of segkit's own, money headed with the log's currency
        headed_in = heading_currency(raw.columns if names is None else names)
        names = [plain_heading(c) for c in (raw.columns if names is None else names)]
        date_column = (columns or {}).get("date", "InvoiceDate")
        if is_customer_table(names, model.input_columns_, date_column):
            raw = (read_raw(path, sheet) if raw is None else raw).rename(columns=plain_heading)
            if until is not None:
                raise SegkitDataError(f"'{path.name}' is a customer table without purchase dates; --until needs a "
                                      "transaction log.")
            table = check_customer_table(raw, model.input_columns_, path.name,
                                         (columns or {}).get("customer", "CustomerID"), notes)
            if headed_in:
                table.attrs[LOG_CURRENCY] = headed_in
            return table

    window_days, required_days = scoring_window(model)
    trained_on = training_rules(model)
    if rules is None:
        rules = trained_on
    elif rules != trained_on and notes is not None:
        notes.append(f"the model was trained on lines cleaned with the '{trained_on}' rules; these customers are "
                     f"cleaned with '{rules}', so their segments may differ from the model's (drop --rules to use "
                     "the model's).")
    extra = [f for f in model.input_columns_ if f in REGISTERED_FEATURES]
    data = load_customer_data(data if isinstance(data, pd.DataFrame) or is_database_url(data) else path, columns,
                              rules, sheet, engine=engine,
                              dayfirst=dayfirst, use_cache=use_cache, window_days=window_days, extra_features=extra,
                              **(spark or {}), **(database or {}))
    if until is not None:

        data = customer_data_until(data, until)
    note = window_shortfall(data, required_days, window_days)
    if note:
        if not allow_short_window:
            raise SegkitDataError(note + " Score a log that covers the window, train a model on a window this log "
                                  "covers (segkit train --window-days N), or pass --allow-short-window to score anyway.")
        if notes is not None:
            notes.append(note + " Scored anyway (--allow-short-window): read Recency-based segments with care.")
    return add_customer_value(data.customers, data.lines, model)


def read_log(source: str | Path, options: ReadOptions | None = None, use_cache: bool = True) -> pd.DataFrame:
    """A file, folder or glob read as one log in the canonical layout (``load_log`` for
    several files, ``load_transactions`` for one)."""
    kwargs = (options or ReadOptions()).as_kwargs()
    if is_multi_file(source):
        return load_log(source, **kwargs, use_cache=use_cache)
    return load_transactions(source, **kwargs, use_cache=use_cache)


def customers_with_history(
    data: str | Path,
    history: str | Path | pd.DataFrame,
    model: "SegmentationModel",
    columns: Mapping[str, str] | None = None,
    sheet: str | int | None = None,
    rules: str | None = None,
    dayfirst: bool | None = None,
    use_cache: bool = True,
    allow_short_window: bool = False,
    notes: list[str] | None = None,
    until=None,
    name: str | None = None,
) -> pd.DataFrame:
    """The customers of a file of new lines, each on their whole history: the lines of
    ``history`` (the log the shop already has) and of ``data`` read as one log, lines
    present in both counted once, cleaned and aggregated as ``customers_for_scoring`` does.

    A December file scored alone makes a VIP of ten years a "New" customer; with the
    history it moves only by the rules of the whole history. Customers the history does
    not know are scored on their new lines alone. ``history`` may also be the log already
    read (canonical lines, e.g. ``CustomerData.transactions``: the page's log). Returns the
    customer table of the customers in ``data`` (for ``model.segment``), with
    ``attrs["known"]`` (ids of them the history knew) and ``attrs["repeated"]`` (lines of
    ``data`` already in the history, counted once); ``notes`` gets one sentence saying so.
    ``data`` may also be the file's lines already read (canonical, as ``load_transactions``
    gives them; the page's upload reads its file once); ``name`` is then the file's name in
    the notes.
    """
    options = ReadOptions.given(columns, sheet, dayfirst)
    new = data if isinstance(data, pd.DataFrame) else read_log(data, options, use_cache)
    data_name = name or ("the new lines" if isinstance(data, pd.DataFrame) else Path(data).name)
    read = not isinstance(history, pd.DataFrame)
    old = read_log(history, options, use_cache) if read else history
    history_name = f"the history '{Path(history).name}'" if read else "the shop's log"
    new_ids = pd.Index(new["CustomerID"].dropna().unique())
    labels = source_labels([Path(history) if read else Path("shop log"), Path(data_name)])
    combined = with_source_files([old.drop(columns="SourceFile", errors="ignore"),
                                  new.drop(columns="SourceFile", errors="ignore")], list(labels.values()))
    combined, repeated = drop_repeats_across_files(combined)
    combined = combined.drop(columns="SourceFile")
    known = new_ids.isin(old["CustomerID"].dropna().unique())
    if notes is not None:
        notes.append(f"{int(known.sum()):,} of the {len(new_ids):,} customers in '{data_name}' are in "
                     f"{history_name}: each is scored on their whole history with the new lines added"
                     + (f" ({repeated:,} lines already in the history were counted once)" if repeated
                        else "") + "; the others on their new lines alone.")
    customers = customers_for_scoring(combined, model, None, None, rules, dayfirst=None, use_cache=use_cache,
                                      allow_short_window=allow_short_window, notes=notes, until=until)
    customers = customers[customers.index.isin(new_ids.astype(customers.index.dtype))]
    customers.attrs.update(known=[str(i) for i in new_ids[known]], repeated=int(repeated))
    return customers


def segment_moves(scored: pd.DataFrame, before: pd.Series) -> pd.DataFrame:
    """``scored`` (customers with their ``Segment`` now) with ``SegmentBefore`` (their
    segment in ``before``, indexed by CustomerID; missing for customers it does not know)
    and ``Moved`` (known and in another segment now)."""
    out = scored.copy()
    out["SegmentBefore"] = before.reindex(out.index).astype("string")
    out["Moved"] = (out["SegmentBefore"].notna() & (out["SegmentBefore"] != out["Segment"].astype("string"))).fillna(
        False).astype(bool)
    return out


def scoring_window(model: "SegmentationModel") -> tuple[int | None, int | None]:
    """The model's observation window (days, None for the whole log) and the days of
    history a log must cover to be scored like the training data (None: unknown)."""
    info = dict(getattr(model, "card_", {}).get("training_data") or {})
    info.update(getattr(model, "training_window_", {}) or {})
    window = info.get("window_days")
    if window is not None:
        return int(window), int(window)
    covered = info.get("covered_days")
    if not covered and info.get("period"):  # cards written before covered_days was stored
        start, end = (pd.Timestamp(t) for t in info["period"])
        covered = (snapshot_date_for(end) - start.normalize()).days
    return None, (int(covered) if covered else None)


def card_rules(card: Mapping[str, Any]) -> str:
    """The cleaning rules a model card says its training lines were cleaned with:
    ``"default"`` when it does not say."""
    rules = (card.get("training_data") or {}).get("rules")
    return rules if rules in ("default", "seed") else "default"


def training_rules(model: "SegmentationModel") -> str:
    """The cleaning rules the model's training data was cleaned with (``card_rules`` of its
    card), so a log is scored as it was trained."""
    return card_rules(getattr(model, "card_", {}))


#: A log covering under this share of the training period is "shorter" for scoring.
SHORT_WINDOW_SHARE = 0.9


def window_shortfall(data: CustomerData, required_days: int | None, window_days: int | None) -> str:
    """A sentence when ``data`` covers fewer days than the model's features need, else ''."""
    if not required_days:
        return ""
    covered = data.covered_days
    needed = required_days if window_days is not None else int(required_days * SHORT_WINDOW_SHARE)
    if covered >= needed:
        return ""
    what = f"a {window_days}-day observation window" if window_days is not None else \
        f"{required_days} days of purchases (the whole training log)"
    return (f"'{data.source}' covers {covered:,} day{'' if covered == 1 else 's'} of purchases but the model's features count {what}: purchases "
            f"and spend would be counted over a shorter period, so customers would look less valuable than they are.")


def check_customer_table(raw: pd.DataFrame, features, source: str, id_column: str = "CustomerID",
                         notes: list[str] | None = None) -> pd.DataFrame:
    """A raw customer table, checked and typed, indexed by ``CustomerID``.

    Refused with one sentence: a missing id or feature column (named), blank ids, blank or
    negative feature values (all features are counts, days or currency), and an id given
    twice with different values. Exact repeats of a row are kept once, with a sentence in
    ``notes`` (the CLI and the page show it). Numbers use the
    column's own decimal mark (``1.250,00``); extra columns that hold only numbers become
    numbers.
    """
    if id_column not in raw.columns:
        raise SegkitDataError(
            f"'{source}' looks like a customer table but has no '{id_column}' column; add one or pass --columns customer=<name>."
        )
    missing = [f for f in features if f not in raw.columns]
    if missing:
        raise SegkitDataError(
            f"'{source}' looks like a customer table but has no column {', '.join(missing)} that the model needs "
            f"(it uses {', '.join(features)}); add the column, or score the transaction log instead."
        )
    if raw.empty:
        raise SegkitDataError(f"'{source}' has a header but no customers; export it again.")
    table = raw.copy()
    ids = customer_ids(table[id_column])
    blank = ids.isna()
    if blank.any():
        raise SegkitDataError(
            f"'{source}' has {int(blank.sum()):,} row(s) without a {id_column} (first at row {int(blank.to_numpy().argmax()) + 2}); "
            "fill in the ids or remove those rows."
        )
    table[id_column] = ids
    locale = None
    for feature in features:
        table[feature], found = read_numbers(table[feature], feature, source, locale_hint=locale)
        locale = locale or found
        blank, negative = table[feature].isna(), table[feature] < 0
        if blank.any():
            raise SegkitDataError(
                f"'{source}' has {int(blank.sum()):,} blank value(s) in column '{feature}' (customer "
                f"{table.loc[blank, id_column].iloc[0]}); fill them or remove those customers."
            )
        if negative.any():
            raise SegkitDataError(
                f"'{source}' has {int(negative.sum()):,} negative value(s) in column '{feature}' (customer "
                f"{table.loc[negative, id_column].iloc[0]}: {table.loc[negative, feature].iloc[0]:g}); "
                f"{feature} cannot be below 0: fix those rows."
            )
    for column in table.columns.difference([id_column, *features]):
        if table[column].dtype == object or pd.api.types.is_string_dtype(table[column].dtype):
            # The features' number rule (``read_numbers``, with their decimal mark); a column
            # it cannot read whole stays text.
            try:
                numbers, _ = read_numbers(table[column], column, source, locale_hint=locale)
            except SegkitDataError:
                continue
            if numbers.notna().any():
                table[column] = numbers
    before = len(table)
    table = table.drop_duplicates()
    if len(table) < before and notes is not None:
        notes.append(f"'{source}' repeats {before - len(table):,} row(s) exactly (the same customer with the same "
                     "values); each customer was scored once.")
    repeated = table[id_column].duplicated(keep=False)
    if repeated.any():
        raise SegkitDataError(
            f"'{source}' has {int(table.loc[repeated, id_column].nunique()):,} {id_column}(s) on more than one row "
            f"with different values (for example {table.loc[repeated, id_column].iloc[0]}); keep one row per customer."
        )
    return table.set_index(id_column).rename_axis("CustomerID")


def lines_until(lines: pd.DataFrame, until) -> pd.DataFrame:
    """``lines`` without any line after the day ``until`` (lines on that day stay)."""
    if until is None:
        return lines
    return lines[lines["InvoiceDate"] < snapshot_date_for(until)]


def customer_data_until(data, until):
    """``data`` (a ``CustomerData`` with its lines) as it was on the day ``until``: every
    later line ignored, the customer table recomputed with the snapshot date at midnight after
    ``until`` (same observation window and registered features)."""
    # start-up: ibis and DuckDB load on first use, not on import (0.4 s, measured)
    from segkit.features.customers import FEATURE_COLUMNS, customer_features

    if until is None:
        return data
    if data.lines is None:
        raise SegkitDataError("--until needs the purchase lines in memory; use --engine pandas.")
    day = pd.Timestamp(until).normalize()
    lines = lines_until(data.lines, day)
    if lines.empty:
        raise SegkitDataError(f"'{data.source}' has no lines on or before {day:%Y-%m-%d}; choose a later --until.")
    transactions = data.transactions
    if transactions is not None and "InvoiceDate" in transactions:
        transactions = transactions[transactions["InvoiceDate"] < midnight_after(day)]
    extra = [c for c in data.customers.columns if c not in FEATURE_COLUMNS]
    customers = customer_features(lines, snapshot_date=snapshot_date_for(day), window_days=data.window_days,
                                  extra_features=tuple(extra))
    return CustomerData(f"{data.source} (until {day:%Y-%m-%d})", data.is_sample, data.rules, transactions, lines,
                        data.report, customers, data.window_days)
