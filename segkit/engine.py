"""Engines that run the expressions of ``segkit.rules``: DuckDB (in process) or Spark.

An engine only executes: it takes canonical lines (an Arrow table or DataFrame from the
loader, or a parquet file of them), runs ``segkit.rules`` on them and hands back the
results as pandas. Nothing here decides what a rule or a feature is.

- ``DuckDBEngine``: in process; reads parquet out of core and spills to disk above its
  memory limit.
- ``SparkEngine``: a Spark session (``local[*]``, a cluster master, or Spark Connect with
  ``remote="sc://host:15002"``); only the customer table (and the report's ten rows)
  come back to the driver. Needs ``pip install 'segkit[spark]'`` and Java 17+.

Time zones: zoned timestamps become UTC wall time without a zone on every engine (both
run with the session time zone UTC). Parquet timestamps in nanoseconds (pandas' default)
are read by Spark as integers (``spark.sql.legacy.parquet.nanosAsLong``) and converted;
segkit writes its own parquet in microseconds (``write_parquet``).
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from . import rules as R

__all__ = ["Engine", "DuckDBEngine", "local_engine", "canonical_table", "SparkEngine", "spark_session", "write_parquet", "arrow_lines", "run_rules",
           "date_window", "score_on_spark"]


def write_parquet(table, path: str | Path, **kwargs) -> None:
    """Write a pandas or Arrow table as parquet with timestamps in microseconds (Spark reads them)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if isinstance(table, pd.DataFrame):
        table = pa.Table.from_pandas(table, preserve_index=False)
    pq.write_table(table, path, coerce_timestamps="us", allow_truncated_timestamps=True, **kwargs)


def arrow_lines(lines: pd.DataFrame):
    """Canonical lines as Arrow with ``line_no``; zoned dates as UTC wall time."""
    import pyarrow as pa

    from .features import to_utc_naive

    frame = pd.DataFrame({c: lines[c] for c in R.LINE_COLUMNS if c in lines})
    for column in R.LINE_COLUMNS:
        if column not in frame:
            frame[column] = pd.Series(pd.NA, index=lines.index, dtype="string")
    frame["InvoiceDate"] = to_utc_naive(pd.to_datetime(frame["InvoiceDate"])).astype("datetime64[us]")
    for column in ("InvoiceNo", "StockCode", "Description", "CustomerID", "Country"):
        frame[column] = frame[column].astype("string")
    for column in ("Quantity", "UnitPrice"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    frame[R.LINE_NUMBER] = range(len(frame))
    frame = frame.reset_index(drop=True)
    schema = pa.schema([("InvoiceNo", pa.string()), ("StockCode", pa.string()), ("Description", pa.string()),
                        ("Quantity", pa.float64()), ("InvoiceDate", pa.timestamp("us")),
                        ("UnitPrice", pa.float64()), ("CustomerID", pa.string()), ("Country", pa.string()),
                        (R.LINE_NUMBER, pa.int64())])
    return pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)


class Engine:
    """Runs ibis expressions on one backend (``self.con``)."""

    name = "engine"
    con: Any

    def lines(self, source) -> Any:
        """An ibis table of canonical lines with ``line_no`` from a DataFrame, Arrow table or parquet path."""
        raise NotImplementedError

    def to_pandas(self, expr) -> pd.DataFrame:
        return self.con.to_pandas(expr)

    def split(self, lines, buckets: int) -> list:
        """``lines`` as ``buckets`` tables by a hash of the customer (filters over ``lines``)."""
        bucket = lines.CustomerID.hash().abs() % buckets
        return [lines.filter(bucket == i) for i in range(buckets)]

    def materialise(self, expr):
        """``expr`` computed once for several queries (engines that cannot: ``expr`` itself)."""
        return expr

    def count(self, expr) -> int:
        return int(self.con.execute(expr.count()))

    def nth_date(self, dated, position: int, descending: bool = False) -> pd.Timestamp:
        """The ``InvoiceDate`` at ``position`` (0-based) of ``dated`` in date order."""
        order = dated.InvoiceDate.desc() if descending else dated.InvoiceDate.asc()
        return pd.Timestamp(self.con.execute(dated.order_by(order).limit(1, offset=position)).iloc[0, 0])

    def close(self) -> None:
        pass


class DuckDBEngine(Engine):
    """DuckDB in process; ``memory_limit`` / ``temp_directory`` / ``threads`` as DuckDB's settings."""

    name = "duckdb"

    def __init__(self, memory_limit: str | None = None, temp_directory: str | Path | None = None,
                 threads: int | None = None):
        import ibis

        config: dict[str, Any] = {"preserve_insertion_order": False}
        if memory_limit:
            config["memory_limit"] = memory_limit
        if temp_directory:
            config["temp_directory"] = str(temp_directory)
        if threads:
            config["threads"] = int(threads)
        self.temp_directory = Path(temp_directory) if temp_directory else None
        self.staged: list[Path] = []  # bucket folders written by split, removed by close
        self.con = ibis.duckdb.connect(**config)
        self.con.raw_sql("SET enable_progress_bar = false")
        self.con.raw_sql("SET TimeZone = 'UTC'")  # zoned stamps -> UTC wall time
        self._n = 0
        self.registered: list[str] = []
        self.temporary: list[str] = []

    def split(self, lines, buckets: int) -> list:
        """Written once to ``temp_directory``, split by a hash of the customer, and read back
        per bucket: each later pass reads only its bucket, already canonical. (Filters over
        the file instead, each pass reading it all, measured slower under load: README "Scale".)"""
        if not self.temp_directory:
            return super().split(lines, buckets)
        folder = Path(tempfile.mkdtemp(prefix="buckets-", dir=self.temp_directory))
        self.staged.append(folder)
        staged = lines.mutate(bucket=lines.CustomerID.hash().abs() % buckets)
        target = "'" + str(folder).replace("'", "''") + "'"
        self.con.raw_sql(f"COPY ({self.con.compile(staged)}) TO {target} "
                         "(FORMAT parquet, PARTITION_BY (bucket), OVERWRITE_OR_IGNORE)").fetchall()
        parts = []
        for part in sorted(folder.glob("bucket=*")):
            literal = "'" + str(part / "*.parquet").replace("'", "''") + "'"
            parts.append(self.con.sql(f"SELECT * FROM read_parquet({literal}, hive_partitioning = false)"))
        return parts

    def to_pandas(self, expr) -> pd.DataFrame:
        """``expr`` run with every shared step recomputed where it is used (``NOT MATERIALIZED``):
        DuckDB would otherwise hold a step used twice (all the kept lines) in memory, where
        reading the file again costs less."""
        import sqlglot.expressions as sge

        query = self.con.compiler.to_sqlglot(expr.as_table())
        ctes = list(query.find_all(sge.CTE))
        if not ctes:
            return self.con.to_pandas(expr)
        for cte in ctes:
            cte.set("materialized", False)
        return self.con.sql(query.sql(dialect="duckdb")).to_pandas()

    def materialise(self, expr):
        """``expr`` computed once into a temporary table (for several queries over lines in memory)."""
        self._n += 1
        name = f"segkit_step_{self._n}"
        self.con.raw_sql(f"CREATE TEMP TABLE {name} AS {self.con.compile(expr)}")
        self.temporary.append(name)
        return self.con.table(name)

    def forget(self) -> None:
        """Drop the tables registered by ``lines`` and ``materialise`` (their data is then freed)."""
        while self.registered:
            self.con.con.unregister(self.registered.pop())
        while self.temporary:
            self.con.raw_sql(f"DROP TABLE IF EXISTS {self.temporary.pop()}")

    def lines(self, source):
        self._n += 1
        name = f"segkit_lines_{self._n}"
        if isinstance(source, (str, Path)):
            literal = "'" + str(source).replace("'", "''") + "'"
            return self.con.sql(f"SELECT * EXCLUDE (file_row_number), file_row_number AS {R.LINE_NUMBER} "
                                f"FROM read_parquet({literal}, file_row_number = true)")
        table = source if not isinstance(source, pd.DataFrame) else arrow_lines(source)
        self.con.con.register(name, table)
        self.registered.append(name)
        return self.con.table(name)

    def close(self) -> None:
        self.con.disconnect()
        for folder in self.staged:
            shutil.rmtree(folder, ignore_errors=True)


_LOCAL: list[DuckDBEngine] = []
_LOCAL_LOCK = threading.RLock()


@contextmanager
def local_engine():
    """The process's in-memory DuckDB engine (one, reused; its tables are dropped after use)."""
    with _LOCAL_LOCK:
        if not _LOCAL:
            _LOCAL.append(DuckDBEngine())
        engine = _LOCAL[0]
        try:
            yield engine
        finally:
            engine.forget()


_SPARK: dict = {}


def spark_session(master: str | None = None, remote: str | None = None):
    """A quiet Spark session (one per process): ``remote`` (or ``SPARK_REMOTE``) for Spark
    Connect, else ``master`` (default ``local[*]``). Session time zone UTC."""
    from .errors import SegkitError

    remote = remote or os.environ.get("SPARK_REMOTE") or None
    key = ("remote", remote) if remote else ("master", master or "local[*]")
    if key in _SPARK:
        return _SPARK[key]
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise SegkitError("The Spark engine needs pyspark: pip install 'segkit[spark]' (and Java 17 or newer).") \
            from None
    if not remote and not shutil.which("java") and not os.environ.get("JAVA_HOME"):
        raise SegkitError("The Spark engine needs Java 17 or newer; install it (apt-get install default-jre-headless) "
                          "or set JAVA_HOME.")
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    log4j = Path(__file__).with_name("log4j2.properties")
    builder = SparkSession.builder.appName("segkit")
    if remote:
        builder = builder.remote(remote)
    else:
        builder = (builder.master(key[1])
                   .config("spark.ui.showConsoleProgress", "false")
                   .config("spark.ui.enabled", "false")
                   .config("spark.driver.extraJavaOptions", f"-Dlog4j.configurationFile={log4j}"))
        if key[1].startswith("local"):
            # Python workers (mapInPandas) run this interpreter, which has pandas and segkit
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
            # local mode runs the executors in the driver's JVM; on a few cores Spark's 200
            # shuffle partitions cost more than they give
            builder = (builder.config("spark.driver.memory", os.environ.get("SEGKIT_SPARK_DRIVER_MEMORY", "2g"))
                       .config("spark.sql.shuffle.partitions", os.environ.get("SEGKIT_SPARK_PARTITIONS", "8")))
    builder = builder.config("spark.sql.session.timeZone", "UTC")
    builder = builder.config("spark.sql.legacy.parquet.nanosAsLong", "true")
    session = builder.getOrCreate()
    if not remote:
        session.sparkContext.setLogLevel("ERROR")
    _SPARK[key] = session
    return session


class SparkEngine(Engine):
    """Spark through ibis' pyspark backend; lines are read from parquet by the executors."""

    name = "spark"

    def __init__(self, master: str | None = None, remote: str | None = None, session=None):
        import ibis

        self.session = session or spark_session(master, remote)
        self.con = ibis.pyspark.connect(self.session)
        self._n = 0
        self._tmp = Path(tempfile.mkdtemp(prefix="segkit-spark-"))
        self._cached: list = []

    def materialise(self, expr):
        """A small step (the netting, the duplicate copies) computed once and kept by the
        executors: without it Spark computes it again in every query that uses it. (Not on
        Spark Connect, whose cache() ibis cannot check: the step is recomputed there.)"""
        if type(self.session).__module__.startswith("pyspark.sql.connect"):
            return expr
        cached = expr.cache()
        self._cached.append(cached)
        # Spark types the cached columns itself (a literal 1.0 is a DECIMAL to it): back to the expression's types
        return cached.cast(expr.schema())

    def lines(self, source, columns: dict[str, str] | None = None):
        """Canonical lines on Spark: a loaded frame (written as parquet for the executors) or a
        parquet file or folder in a known layout (``columns`` maps roles as ``--columns``)."""
        from pyspark.sql import functions as F

        self._n += 1
        name = f"segkit_lines_{self._n}"
        if isinstance(source, (str, Path)):
            import pyarrow.parquet as pq

            path = Path(source)
            df = self.session.read.parquet(str(path))
            first = next(iter(sorted(path.glob("**/*.parquet")))) if path.is_dir() else path
            nanos = [f.name for f in pq.read_schema(first) if getattr(f.type, "unit", None) == "ns"]
            for column in nanos:  # read as nanoseconds since the epoch (nanosAsLong): back to timestamps
                df = df.withColumn(column, F.timestamp_micros(F.floor(F.col(column) / 1000)))
            df = df.withColumn(R.LINE_NUMBER, F.monotonically_increasing_id())
            df.createOrReplaceTempView(name)
            return canonical_table(self.con.table(name), path.name, columns)
        table = source if not isinstance(source, pd.DataFrame) else arrow_lines(source)
        path = self._tmp / f"{name}.parquet"
        write_parquet(table, path)
        self.session.read.parquet(str(path)).createOrReplaceTempView(name)
        return self.con.table(name)

    def table_lines(self, name: str, columns: dict[str, str] | None = None):
        """Canonical lines from a table of the session catalog (``db.name``), in a known
        layout or mapped by ``columns``; timestamps as the table stores them."""
        from pyspark.sql import functions as F

        from .errors import SegkitDataError

        try:
            df = self.session.table(name)
        except Exception as exc:  # AnalysisException: no such table or database
            raise SegkitDataError(f"The Spark catalog has no table '{name}' ({str(exc).splitlines()[0][:120]}); "
                                  "name it as database.table.") from None
        self._n += 1
        view = f"segkit_lines_{self._n}"
        df.withColumn(R.LINE_NUMBER, F.monotonically_increasing_id()).createOrReplaceTempView(view)
        return canonical_table(self.con.table(view), name, columns)

    def nth_date(self, dated, position: int, descending: bool = False) -> pd.Timestamp:
        # ibis emulates OFFSET on Spark with an unordered row_number; Spark's own offset keeps the order.
        from pyspark.sql import functions as F

        frame = self.session.sql(str(self.con.compile(dated)))
        order = F.col("InvoiceDate").desc() if descending else F.col("InvoiceDate").asc()
        return pd.Timestamp(frame.orderBy(order).offset(position).limit(1).collect()[0][0])

    def close(self) -> None:
        while self._cached:
            try:
                self._cached.pop().release()
            except Exception:  # a session already stopped holds nothing to release
                pass
        shutil.rmtree(self._tmp, ignore_errors=True)


#: Columns ``score_on_spark`` writes per customer.
SCORE_SCHEMA = "CustomerID string, Cluster long, Segment string, Confidence double"


def score_on_spark(session, customers, model):
    """Segments of a Spark DataFrame of ``customers`` (``CustomerID`` and the model's
    input columns) computed on the executors: the fitted model is broadcast once (pickled
    with its scikit-learn pipeline; Spark Connect ships it with the function) and applied
    to each partition with ``mapInPandas``. Returns a Spark DataFrame (``SCORE_SCHEMA``);
    only what the caller collects or writes (``.write.parquet``) leaves the cluster."""
    columns = ["CustomerID"] + [c for c in model.input_columns_ if c != "CustomerID"]
    try:
        shipped = session.sparkContext.broadcast(model)
    except Exception:  # Spark Connect has no SparkContext: the function carries the model
        shipped = None

    def score(parts):
        fitted = shipped.value if shipped is not None else model
        for part in parts:
            if part.empty:
                continue
            out = fitted.segment(part.set_index("CustomerID"))
            yield pd.DataFrame({"CustomerID": out.index.astype(str), "Cluster": out["Cluster"].astype("int64"),
                                "Segment": out["Segment"].astype(str),
                                "Confidence": out["Confidence"].astype("float64")})

    return customers.select(*columns).mapInPandas(score, schema=SCORE_SCHEMA)


def canonical_table(raw, source: str, columns: dict[str, str] | None = None):
    """A table in a known layout (or mapped by ``columns``) as canonical lines, as
    ``segkit.load`` reads it: whole-number ids as text (``17850.0`` -> ``'17850'``), text
    trimmed with blanks and ``nan`` missing, numbers as floats. Text dates and text
    numbers are refused: the loader parses those (CSV and Excel files)."""
    import ibis

    from .errors import SegkitDataError
    from .load import ID_SPACE, KNOWN_LAYOUTS, MISSING_ID_TEXTS, WHOLE_NUMBER_ID

    names = set(raw.columns)
    best: dict[str, str] = {}
    for layout in KNOWN_LAYOUTS.values():
        present = {role: col for role, col in layout.items() if col in names}
        if len(present) > len(best):
            best = present
    roles = {**best, **(columns or {})}
    if "amount" in (columns or {}) and "price" not in (columns or {}):
        roles.pop("price", None)
    unknown = [f"{r}={c}" for r, c in roles.items() if c not in names]
    missing = [r for r in ("customer", "date") if r not in roles] + \
        ([] if "price" in roles or "amount" in roles else ["price (or amount)"])
    if unknown or missing:
        problem = f"no column {', '.join(unknown)}" if unknown else f"no column for {', '.join(missing)}"
        raise SegkitDataError(f"'{source}' has {problem}; found: {', '.join(sorted(names - {R.LINE_NUMBER}))}. "
                              "Pass --columns ROLE=COLUMN,... for its layout.")

    def text(role, default=None):
        if role not in roles:
            return ibis.literal(default, "string")
        value = raw[roles[role]]
        if value.type().is_numeric():
            whole = value.cast("float64")
            return ibis.cases((whole.isnan(), ibis.null("string")),
                              (whole == whole.floor(), whole.cast("int64").cast("string")),
                              else_=whole.cast("string"))
        # trimmed as Python trims (ibis' strip() removes ASCII whitespace only)
        value = value.cast("string").re_replace(f"^{ID_SPACE}+|{ID_SPACE}+$", "")
        # '17850.0' -> '17850' without a back-reference (Spark writes them $1, DuckDB \\1)
        value = ibis.cases((value.re_search(WHOLE_NUMBER_ID), value.re_replace(r"\.0+$", "")), else_=value)
        return ibis.cases((value.isin(list(MISSING_ID_TEXTS)), ibis.null("string")), else_=value)

    def number(role):
        value = raw[roles[role]]
        if not value.type().is_numeric():
            raise SegkitDataError(f"'{source}' stores column '{roles[role]}' as text; the engine reads numbers "
                                  "only: read the file with --engine pandas, or store the column as numbers.")
        value = value.cast("float64")
        return ibis.cases((value.isnan(), ibis.null("float64")), else_=value)

    date = raw[roles["date"]]
    if not date.type().is_timestamp():
        raise SegkitDataError(f"'{source}' stores column '{roles['date']}' as {date.type()}, not as timestamps; "
                              "read it with --engine pandas (the loader parses text dates) or store timestamps.")
    date = date.cast("timestamp")
    quantity = number("quantity") if "quantity" in roles else ibis.literal(1.0, "float64")
    price = number("price") if "price" in roles else number("amount") / ibis.cases((quantity != 0, quantity))
    customer = text("customer")
    invoice = text("invoice") if "invoice" in roles else \
        customer.fill_null("?") + "@" + date.strftime("%Y%m%d%H%M%S")
    return raw.select(
        InvoiceNo=invoice, StockCode=text("product", "UNKNOWN"),
        Description=raw[roles["description"]].cast("string") if "description" in roles
        else ibis.null("string"),
        Quantity=quantity, InvoiceDate=date, UnitPrice=price, CustomerID=customer,
        Country=raw[roles["country"]].cast("string") if "country" in roles else ibis.literal("Unknown"),
        **{R.LINE_NUMBER: raw[R.LINE_NUMBER]})


def date_window(engine: Engine, lines, now: pd.Timestamp | None = None) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``segkit.clean.date_window`` on an engine: the lower-value bulk percentiles of the
    dated lines, exactly (two ordered look-ups), widened by ``OUTLIER_MARGIN``."""
    tomorrow = (pd.Timestamp.now(tz="UTC").tz_localize(None) if now is None else pd.Timestamp(now)) \
        + pd.Timedelta(days=1)
    dated = R.dated_lines(lines).select("InvoiceDate")
    n = engine.count(dated)
    if n == 0:
        return pd.Timestamp.min, tomorrow
    low_at, high_at = R.bulk_positions(n)
    low = engine.nth_date(dated, low_at)
    high = engine.nth_date(dated, n - 1 - high_at, descending=True)
    naive = [t.tz_convert("UTC").tz_localize(None) if t.tzinfo else t for t in (low, high)]
    return R.window_around(naive[0], naive[1], tomorrow)


def run_rules(engine: Engine, lines, rules: str = "default", report: bool = True, customers: bool = True,
              snapshot_date=None, non_product_codes=R.NON_PRODUCT_CODES,
              non_product_prefixes=R.NON_PRODUCT_PREFIXES, kept_lines: bool = False, buckets: int = 1,
              window: tuple[pd.Timestamp, pd.Timestamp] | None = None, window_days: int | None = None,
              extra_features=()) -> dict:
    """Clean ``lines`` (an ibis table from ``engine.lines``) and aggregate per customer.

    Returns a dict with ``report`` (the cleaning report), ``customers`` (the customer
    table as the engine gives it; ``segkit.features.finish_customers`` types it) and,
    with ``kept_lines``, ``kept`` (``line_no`` and netted ``Quantity`` of every kept line,
    in file order). ``buckets`` > 1 runs the same expressions once per bucket of
    customers (a hash of the id), for logs too large for one pass: every rule after the
    date window and every feature is per customer, so the parts add up. ``window``: the
    date window when already known (else ``date_window``). ``window_days``: the
    observation window of ``segkit.rules.customer_table``. ``extra_features``: names of
    registered features (``segkit.features.register_feature``), computed from each
    bucket's clean lines (inside the observation window) by ``segkit.extra_features``
    and returned as ``features`` (one row per customer that has a value).
    """
    from .extra_features import feature_functions, features_on_engine
    from .features import window_start

    functions = feature_functions(extra_features, engine) if extra_features else {}
    window = window or date_window(engine, lines)
    # the netting is a small table keyed by line number: computed once, before the passes
    # over the lines (every bucket's lines join it)
    netted = engine.materialise(R.netted_quantities(lines, window)) if rules == "default" else None
    if window_days is not None and snapshot_date is None:
        # the window's start, from all kept lines, as a value: every bucket counts the same
        # window, and Spark refuses a subquery inside an aggregate's condition
        kept = R.kept_lines(R.labelled_lines(lines, rules, window, non_product_codes, non_product_prefixes, netted))
        last = pd.Timestamp(engine.con.execute(kept.InvoiceDate.max()))
        snapshot_date = last.normalize() + pd.Timedelta(days=1)
    counts, cleans, tables, clean_parts, feature_parts = [], [], [], [], []
    for part in ([lines] if buckets == 1 else engine.split(lines, buckets)):
        labelled = R.labelled_lines(part, rules, window, non_product_codes, non_product_prefixes, netted)
        if kept_lines:
            # lines in memory, several queries: each step computed once into a table
            labelled = engine.materialise(labelled)
            kept, duplicates = engine.materialise(R.clean_lines(labelled, rules)), None
        else:  # streamed: only small tables are held
            kept = R.kept_lines(labelled)
            duplicates = engine.materialise(R.duplicate_copies(kept)) if "duplicate lines" in R.RULES[rules] else None
        if report:
            counts.append(engine.to_pandas(R.report_counts(labelled)))
            cleans.append(engine.to_pandas(R.clean_counts(kept, duplicates)))
        if kept_lines:
            clean_parts.append(engine.to_pandas(kept.select(R.LINE_NUMBER, "Quantity")))
        if customers:
            # Buckets share one snapshot: the caller's, else set from all buckets below.
            at = snapshot_date if snapshot_date is not None or buckets == 1 else _FAR_FUTURE
            tables.append(engine.to_pandas(R.customer_table(kept, at, duplicates, window_days)))
        if functions:  # the lines the in-memory path hands them: clean, inside the observation window
            since = window_start(snapshot_date, window_days)
            feature_parts.append(features_on_engine(engine, R.clean_lines(labelled, rules), functions, since))
    out: dict[str, Any] = {"window": window}
    if report:
        out["report"] = R.report_table(pd.concat(counts, ignore_index=True), pd.concat(cleans, ignore_index=True),
                                       rules)
    if kept_lines:
        out["kept"] = pd.concat(clean_parts, ignore_index=True).sort_values(R.LINE_NUMBER, kind="stable")
    if customers:
        table = pd.concat(tables, ignore_index=True)
        if snapshot_date is None and buckets > 1:
            # Recency was counted to a far date; move it to midnight after the last purchase.
            last = pd.to_datetime(table["LastPurchase"]).max()
            shift = (_FAR_FUTURE - (pd.Timestamp(last).normalize() + pd.Timedelta(days=1))).days
            table["Recency"] = table["Recency"] - shift
        out["customers"] = table
    if functions:
        out["features"] = pd.concat(feature_parts)
    return out


#: Recency is counted to this date when the snapshot is not given, then shifted (whole days).
_FAR_FUTURE = pd.Timestamp("2200-01-01")
