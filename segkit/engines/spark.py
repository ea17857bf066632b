"""Spark: ``SparkEngine`` runs ``segkit.rules.lines`` through ibis' pyspark backend on a
session (``local[*]``, a cluster master, or Spark Connect with ``remote="sc://host:15002"``);
the executors read the parquet lines, and only the customer table (and the report's ten
rows) come back to the driver. ``score_on_spark`` segments customers on the executors.
Needs ``pip install 'segkit[spark]'`` and Java 17+.

Time zones: the session time zone is UTC. Parquet timestamps in nanoseconds (pandas'
default) are read by Spark as integers (``spark.sql.legacy.parquet.nanosAsLong``) and
converted.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from itertools import chain
from pathlib import Path

import ibis
import pandas as pd
import pyarrow.parquet as pq

from segkit.engines.base import Engine, arrow_lines, canonical_table, table_currency, write_parquet
from segkit.engines.dialects import SPARK
from segkit.errors import SegkitDataError, SegkitError
from segkit.rules import lines as R

__all__ = ["spark_session", "local_driver_memory", "SparkEngine", "SCORE_SCHEMA", "score_on_spark", "with_evidence_on_spark"]


_SPARK: dict = {}


def spark_session(master: str | None = None, remote: str | None = None):
    """A quiet Spark session (one per process): ``remote`` (or ``SPARK_REMOTE``) for Spark
    Connect, else ``master`` (default ``local[*]``). Session time zone UTC."""
    remote = remote or os.environ.get("SPARK_REMOTE") or None
    key = ("remote", remote) if remote else ("master", master or "local[*]")
    if key in _SPARK:
        return _SPARK[key]
    try:
        # optional: spark
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
                   # SEGKIT_SPARK_JAVA_OPTIONS: more driver JVM options; -XX:TieredStopAtLevel=1 (no C2 JIT) took
                   # the real data from about 54 to 39 CPU s, but 5M generated lines from 69 to 97 s (docs/benchmarks.md)
                   .config("spark.driver.extraJavaOptions",
                           f"-Dlog4j.configurationFile={log4j} {os.environ.get('SEGKIT_SPARK_JAVA_OPTIONS', '')}".strip()))
        if key[1].startswith("local"):
            # Python workers (mapInPandas) run this interpreter, which has pandas and segkit
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
            # local mode runs the executors in the driver's JVM; on a few cores Spark's 200
            # shuffle partitions cost more than they give
            builder = (builder.config("spark.driver.memory",
                                      os.environ.get("SEGKIT_SPARK_DRIVER_MEMORY") or local_driver_memory())
                       .config("spark.sql.shuffle.partitions", os.environ.get("SEGKIT_SPARK_PARTITIONS", "8"))
                       # one JVM holds the cached lines and the aggregates' hash tables: the cache
                       # uncompressed (its compression statistics took half the fill's CPU) and
                       # 80 % of the heap for both, not 60 %; on 20M generated lines 97-100 s
                       # against 113-115 s, with nothing spilled at 7 GB (docs/benchmarks.md)
                       .config("spark.sql.inMemoryColumnarStorage.compressed", "false")
                       .config("spark.memory.fraction", "0.8"))
    builder = builder.config("spark.sql.session.timeZone", "UTC")
    # results (the customer table) come to pandas as Arrow, not row by row
    builder = builder.config("spark.sql.execution.arrow.pyspark.enabled", "true")
    builder = builder.config("spark.sql.legacy.parquet.nanosAsLong", "true")
    session = builder.getOrCreate()
    if not remote:
        session.sparkContext.setLogLevel("ERROR")
    _SPARK[key] = session
    return session


def local_driver_memory() -> str:
    """The heap of a local session's JVM (which runs the executors too): a third of the
    machine's memory, at least 2 GB and at most 8 GB. With 2 GB, 20M lines spilled 772 MB of
    hash tables to disk beside the cached lines, and 205 MB still with 5 GB once the cache
    is uncompressed; with 7 GB nothing spilled (docs/benchmarks.md). The heap grows only as
    the work needs it."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):  # no sysconf (Windows): Spark's usual size
        return "2g"
    return f"{max(2, min(8, total // 3 // 2**30))}g"


class SparkEngine(Engine):
    """Spark through ibis' pyspark backend; lines are read from parquet by the executors."""

    name = "spark"
    dialect = SPARK
    small_steps_first = True

    def __init__(self, master: str | None = None, remote: str | None = None, session=None):
        self.session = session or spark_session(master, remote)
        self.con = ibis.pyspark.connect(self.session)
        self._n = 0
        self._tmp = Path(tempfile.mkdtemp(prefix="segkit-spark-"))
        self._cached: list = []
        self._beside = ThreadPoolExecutor(max_workers=1, thread_name_prefix="segkit-spark")

    @property
    def connect(self) -> bool:
        """Whether the session is Spark Connect (no SparkContext, no checked cache)."""
        return type(self.session).__module__.startswith("pyspark.sql.connect")

    def materialise(self, expr, at_once: bool = True):
        """A step computed once and kept by the executors (the canonical lines, the netting,
        the duplicate copies): without it Spark computes it again in every query that uses
        it. It is computed at once, not at its first use, so that Spark plans the queries that
        read it knowing its size: a small step (the netting, the repeated hashes) is then sent
        to every task rather than every line shuffled and sorted to meet it (on 5M generated
        lines, half the bytes shuffled; ``docs/benchmarks.md``). ``at_once=False``: at its first
        use (the canonical lines, which the date bounds count next). (Not on Spark Connect, whose
        cache() ibis cannot check: the step is recomputed there.)"""
        if self.connect:
            return expr
        cached = expr.cache()
        self._cached.append(cached)
        if at_once:
            self.count(cached)
        # Spark types the cached columns itself (a literal 1.0 is a DECIMAL to it): back to the expression's types
        return cached.cast(expr.schema())

    def to_pandas_soon(self, expr):
        """``to_pandas(expr)`` started in a thread of its own: Spark runs its jobs beside the
        caller's next queries (its cores are idle while the driver plans a query)."""
        return self._beside.submit(self.to_pandas, expr).result

    def spread(self, df, pieces: int | None = None):
        """``df`` in at least as many partitions as the session has cores: a log of one
        parquet row group (the real data) is otherwise one partition, canonicalised by one core.
        ``pieces``: the parquet files (or one file's row groups) ``df`` reads, when known
        (asking Spark for its partitions plans the read: a second on the real data)."""
        if self.connect:
            return df
        cores = self.session.sparkContext.defaultParallelism
        pieces = df.rdd.getNumPartitions() if pieces is None else pieces
        return df.repartition(cores) if pieces < cores else df

    def lines(self, source, columns: dict[str, str] | None = None):
        """Canonical lines on Spark: a loaded frame (written as parquet for the executors) or a
        parquet file or folder in a known layout (``columns`` maps roles as ``--columns``)."""
        # optional: spark
        from pyspark.sql import functions as F

        self._n += 1
        name = f"segkit_lines_{self._n}"
        if isinstance(source, (str, Path)):
            path = Path(source)
            df = self.session.read.parquet(str(path))
            files = sorted(path.glob("**/*.parquet")) if path.is_dir() else [path]
            nanos = [f.name for f in pq.read_schema(files[0]) if getattr(f.type, "unit", None) == "ns"]
            for column in nanos:  # read as nanoseconds since the epoch (nanosAsLong): back to timestamps
                df = df.withColumn(column, F.timestamp_micros(F.floor(F.col(column) / 1000)))
            pieces = len(files) if len(files) > 1 else pq.ParquetFile(files[0]).metadata.num_row_groups
            df = self.spread(df.withColumn(R.LINE_NUMBER, F.monotonically_increasing_id()), pieces)
            df.createOrReplaceTempView(name)
            self.currency = table_currency(self.con.table(name), path.name, columns, "spark")
            return self.materialise(canonical_table(self.con.table(name), path.name, columns, self.dialect),
                                    at_once=False)
        table = source if not isinstance(source, pd.DataFrame) else arrow_lines(source)
        path = self._tmp / f"{name}.parquet"
        write_parquet(table, path)
        self.session.read.parquet(str(path)).createOrReplaceTempView(name)
        return self.con.table(name)

    def table_lines(self, name: str, columns: dict[str, str] | None = None):
        """Canonical lines from a table of the session catalog (``db.name``), in a known
        layout or mapped by ``columns``; timestamps as the table stores them."""
        # optional: spark
        from pyspark.sql import functions as F

        try:
            df = self.session.table(name)
        except Exception as exc:  # AnalysisException: no such table or database
            raise SegkitDataError(f"The Spark catalog has no table '{name}' ({str(exc).splitlines()[0][:120]}); "
                                  "name it as database.table.") from None
        self._n += 1
        view = f"segkit_lines_{self._n}"
        self.spread(df.withColumn(R.LINE_NUMBER, F.monotonically_increasing_id())).createOrReplaceTempView(view)
        self.currency = table_currency(self.con.table(view), name, columns, "spark")
        return self.materialise(canonical_table(self.con.table(view), name, columns, self.dialect), at_once=False)

    def nth_date(self, dated, position: int, descending: bool = False) -> pd.Timestamp:
        # ibis emulates OFFSET on Spark with an unordered row_number; Spark's own offset keeps the order.
        # optional: spark
        from pyspark.sql import functions as F

        frame = self.session.sql(str(self.con.compile(dated)))
        order = F.col("InvoiceDate").desc() if descending else F.col("InvoiceDate").asc()
        return pd.Timestamp(frame.orderBy(order).offset(position).limit(1).collect()[0][0])

    def close(self) -> None:
        self._beside.shutdown(wait=True)
        while self._cached:
            try:
                self._cached.pop().release()
            except Exception:  # a session already stopped holds nothing to release
                pass
        shutil.rmtree(self._tmp, ignore_errors=True)


#: Columns ``score_on_spark`` writes per customer.
SCORE_SCHEMA = "CustomerID string, Cluster long, Segment string, Confidence double"


def with_evidence_on_spark(scored, evidence):
    """``scored`` (a Spark DataFrame with ``Segment``) with an ``Evidence`` column: each
    row's segment's sentence from ``evidence`` (segment name -> sentence,
    ``backtest.segment_evidence``), computed by Spark from a literal map."""
    from pyspark.sql import functions as F  # optional: spark

    if not evidence:
        return scored
    sentences = F.create_map([F.lit(str(v)) for v in chain.from_iterable(evidence.items())])
    return scored.withColumn("Evidence", sentences[F.col("Segment")])


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

