"""Registered features (``segkit.rules.registry.register_feature``) on every engine.

A registered feature is a pandas function of the clean lines that gives one value per
customer, from that customer's lines alone. So no engine needs all the lines in memory:
each hands them over in chunks that hold *every* clean line of the customers they hold,
runs the functions on each chunk and stacks the results.

- In memory (``engine="pandas"``): the clean lines, whole (``compute_features``).
- DuckDB out of core: the clean lines of each customer bucket (``segkit.engines.base.run_rules``)
  streamed as Arrow batches ordered by customer and cut at a customer boundary every
  ``CHUNK_LINES`` lines, so memory is bounded by the chunk, not by the log.
- A database by URL (``segkit.engines.database``): the same chunks, the lines streamed by the
  backend's fast path (PostgreSQL: ``COPY ... TO STDOUT``).
- Spark: the clean lines partitioned by customer and sorted within each partition; the same
  chunking runs on the executors (``mapInPandas``), and only the (CustomerID, feature)
  table comes back to the driver. The functions are pickled (cloudpickle) and sent to the
  executors by value, with the user's own modules they come from (segkit itself and
  installed packages must be installed on the executors).

Every chunk reaches the function as the in-memory path gives the lines: canonical columns
and ``TotalPrice``, text ids, timestamps in nanoseconds, whole quantities as integers, in
file order. With an observation window only the lines inside it are passed
(``segkit.features.customers.customer_features``). A customer a feature leaves out gets 0.
"""
from __future__ import annotations

import re
from typing import Any, Iterable, Iterator, Mapping

import ibis
import pandas as pd

from segkit.errors import SegkitDataError
from segkit.rules.registry import (
    compute_features,
    lines_as_in_memory,
    sent_by_value,
)
from segkit.schema import LINE_NUMBER

#: Clean lines handed to the registered features at a time out of core; a chunk is larger
#: only when one customer has more. On the real data (388k clean lines) ChristmasShare
#: peaked at 0.49 GB of RSS with 200k (0.55 GB with 500k, 0.33 GB without the feature).
CHUNK_LINES = 200_000

#: Column of the sentence of a feature that failed on a Spark executor.
_FAILURE = "segkit_failure"

__all__ = ["features_on_engine"]


def features_on_engine(engine, clean, functions: Mapping[str, Any], since: pd.Timestamp | None = None,
                       chunk_lines: int | None = None) -> pd.DataFrame:
    """The registered ``functions`` over ``clean`` (an ibis table of clean lines on
    ``engine``, ``segkit.rules.lines.clean_lines``), per customer: DuckDB streams the lines to
    this process in chunks; Spark runs the functions on its executors. ``since``: only the
    lines from then on (the observation window's start, ``segkit.schema.window_start``).
    ``chunk_lines``: lines per chunk (default ``CHUNK_LINES``)."""
    chunk_lines = chunk_lines or CHUNK_LINES
    if since is not None:
        clean = clean.filter(clean.InvoiceDate >= ibis.literal(pd.Timestamp(since).to_pydatetime(), "timestamp"))
    if engine.name == "spark":
        parts = _on_spark(engine, clean, functions, chunk_lines)
    else:
        ordered = clean.order_by(["CustomerID", LINE_NUMBER])
        reader = engine.record_batches(ordered, min(chunk_lines, 100_000))
        parts = list(features_by_customer_chunks(reader, functions, chunk_lines))
    return pd.concat(parts) if parts else compute_features(pd.DataFrame(), {})


def _on_spark(engine, clean, functions: Mapping[str, Any], chunk_lines: int) -> list[pd.DataFrame]:
    """The features on Spark's executors: lines partitioned by customer, sorted within each
    partition, chunked by ``features_by_customer_chunks``. A feature that fails comes back
    as a row holding its sentence (no failed task, so no Spark error log)."""
    # optional: spark
    from pyspark.sql.types import DoubleType, StringType, StructField, StructType

    shipped = dict(functions)
    schema = StructType([StructField("CustomerID", StringType())] +
                        [StructField(name, DoubleType()) for name in shipped] +
                        [StructField(_FAILURE, StringType())])
    frame = engine.session.sql(str(engine.con.compile(clean)))
    partitions = int(engine.session.conf.get("spark.sql.shuffle.partitions"))
    frame = frame.repartition(partitions, "CustomerID").sortWithinPartitions("CustomerID", LINE_NUMBER)

    def per_partition(batches):  # on the executors
        try:
            for values in features_by_customer_chunks(batches, shipped, chunk_lines):
                yield values.reset_index().assign(**{_FAILURE: None})
        except SegkitDataError as exc:
            yield pd.DataFrame({"CustomerID": [None], **{name: [None] for name in shipped}, _FAILURE: [str(exc)]})

    try:
        with sent_by_value(shipped):
            table = frame.mapInPandas(per_partition, schema).toPandas()
    except Exception as exc:
        missing = re.search(r"No module named '([^']+)'", str(exc))
        if missing:
            raise SegkitDataError(
                f"Spark's executors cannot import '{missing.group(1)}', which a registered feature "
                f"({', '.join(shipped)}) needs; install it on the cluster, or import it inside the function.") from None
        raise
    failures = table[_FAILURE].dropna()
    if len(failures):
        raise SegkitDataError(failures.iloc[0])
    if table.empty:
        return []
    ids = pd.Index(table["CustomerID"], dtype="string", name="CustomerID")
    return [table.drop(columns=["CustomerID", _FAILURE]).set_index(ids)]


def features_by_customer_chunks(batches: Iterable[Any], functions: Mapping[str, Any],
                                chunk_lines: int | None = None) -> Iterator[pd.DataFrame]:
    """``compute_features`` over clean lines that arrive ordered by customer (Arrow record
    batches or pandas frames), about ``chunk_lines`` lines at a time: each chunk ends at a
    customer boundary, so every customer's lines are in one chunk (default ``CHUNK_LINES``)."""
    chunk_lines = chunk_lines or CHUNK_LINES
    pending: list[pd.DataFrame] = []
    held = 0
    for batch in batches:
        frame = batch if isinstance(batch, pd.DataFrame) else batch.to_pandas()
        if frame.empty:
            continue
        pending.append(frame)
        held += len(frame)
        if held < chunk_lines:
            continue
        lines = pd.concat(pending, ignore_index=True) if len(pending) > 1 else pending[0].reset_index(drop=True)
        ids = lines["CustomerID"]
        cut = len(lines) - int((ids == ids.iloc[-1]).sum())  # the last customer may go on in the next batch
        if cut == 0:
            pending, held = [lines], len(lines)
            continue
        yield compute_features(lines_as_in_memory(lines.iloc[:cut]), functions)
        pending, held = [lines.iloc[cut:]], len(lines) - cut
    if pending:
        yield compute_features(lines_as_in_memory(pd.concat(pending, ignore_index=True)), functions)
