"""Registered features (``segkit.features.register_feature``) on every engine.

A registered feature is a pandas function of the clean lines that gives one value per
customer, from that customer's lines alone. So no engine needs all the lines in memory:
each hands them over in chunks that hold *every* clean line of the customers they hold,
runs the functions on each chunk and stacks the results.

- In memory (``engine="pandas"``): the clean lines, whole (``compute_features``).
- DuckDB out of core: the clean lines of each customer bucket (``segkit.engine.run_rules``)
  streamed as Arrow batches ordered by customer and cut at a customer boundary every
  ``CHUNK_LINES`` lines, so memory is bounded by the chunk, not by the log.
- Spark: the clean lines partitioned by customer and sorted within each partition; the same
  chunking runs on the executors (``mapInPandas``), and only the (CustomerID, feature)
  table comes back to the driver. The functions are pickled (cloudpickle) and sent to the
  executors by value, with the user's own modules they come from (segkit itself and
  installed packages must be installed on the executors).

Every chunk reaches the function as the in-memory path gives the lines: canonical columns
and ``TotalPrice``, text ids, timestamps in nanoseconds, whole quantities as integers, in
file order. With an observation window only the lines inside it are passed
(``segkit.features.customer_features``). A customer a feature leaves out gets 0.
"""
from __future__ import annotations

import re
import sys
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Mapping, Sequence

import pandas as pd

from .errors import SegkitDataError
from .rules import LINE_COLUMNS, LINE_NUMBER

__all__ = [
    "CHUNK_LINES",
    "feature_functions",
    "compute_features",
    "with_features",
    "features_by_customer_chunks",
    "features_on_engine",
]

#: Clean lines handed to the registered features at a time out of core; a chunk is larger
#: only when one customer has more. On the real data (388k clean lines) ChristmasShare
#: peaked at 0.49 GB of RSS with 200k (0.55 GB with 500k, 0.33 GB without the feature).
CHUNK_LINES = 200_000

_TEXT_COLUMNS = ("InvoiceNo", "StockCode", "Description", "CustomerID", "Country")
#: Column of the sentence of a feature that failed on a Spark executor.
_FAILURE = "segkit_failure"


def feature_functions(names: Iterable[str], engine=None) -> dict[str, Any]:
    """The registered functions of ``names`` (in order); unknown names refused in one
    sentence, and on Spark (``engine``) a function that cannot be sent to the executors."""
    from .features import REGISTERED_FEATURES

    names = list(dict.fromkeys(names))
    unknown = [n for n in names if n not in REGISTERED_FEATURES]
    if unknown:
        raise SegkitDataError(
            f"No feature named {', '.join(unknown)}; registered features: {', '.join(sorted(REGISTERED_FEATURES))} "
            "(register your own with segkit.features.register_feature)."
        )
    functions = {name: REGISTERED_FEATURES[name] for name in names}
    if getattr(engine, "name", None) == "spark":
        _check_picklable(functions)
    return functions


def compute_features(lines: pd.DataFrame, functions: Mapping[str, Any]) -> pd.DataFrame:
    """The ``functions`` (name -> ``func(lines) -> Series`` by CustomerID) on ``lines``: one
    float column per feature, indexed by CustomerID as text. A function that fails or
    gives no numbers is named in one sentence (``SegkitDataError``)."""
    columns = {}
    for name, function in functions.items():
        try:
            values = function(lines)
            if not isinstance(values, pd.Series):
                raise TypeError(f"it returned {type(values).__name__}, not a pandas Series indexed by CustomerID")
            values = values.astype("float64")
        except Exception as exc:
            reason = (str(exc).strip().splitlines() or [""])[0][:160]
            raise SegkitDataError(
                f"The registered feature '{name}' failed on the clean lines ({type(exc).__name__}: {reason}); "
                f"fix the function or leave out --feature {name}."
            ) from None
        values.index = pd.Index(values.index, dtype="string", name="CustomerID")
        columns[name] = values
    table = pd.DataFrame(columns, index=None if columns else pd.Index([], dtype="string"))
    table.index.name = "CustomerID"
    return table


def with_features(customers: pd.DataFrame, values: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """``customers`` with the feature columns ``names`` of ``values`` (``compute_features``);
    a customer without a value gets 0."""
    out = customers.copy()
    for name in names:
        column = values[name] if name in values else pd.Series(dtype="float64")
        out[name] = column.reindex(out.index).fillna(0).astype("float64").to_numpy()
    return out


def _lines_as_in_memory(frame: pd.DataFrame) -> pd.DataFrame:
    """Clean lines from an engine typed as the in-memory path types them (file order,
    canonical columns and ``TotalPrice``, text ids, nanosecond dates, whole quantities as
    integers)."""
    from .features import to_utc_naive

    if LINE_NUMBER in frame:
        frame = frame.sort_values(LINE_NUMBER, kind="stable")
    lines = frame.reindex(columns=LINE_COLUMNS + ["TotalPrice"]).reset_index(drop=True)
    for column in _TEXT_COLUMNS:
        lines[column] = lines[column].astype("string")
    lines["InvoiceDate"] = to_utc_naive(pd.to_datetime(lines["InvoiceDate"])).astype("datetime64[ns]")
    quantity = lines["Quantity"].astype("float64")
    if quantity.notna().all() and (quantity % 1 == 0).all():
        lines["Quantity"] = quantity.astype("int64")
    return lines


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
        yield compute_features(_lines_as_in_memory(lines.iloc[:cut]), functions)
        pending, held = [lines.iloc[cut:]], len(lines) - cut
    if pending:
        yield compute_features(_lines_as_in_memory(pd.concat(pending, ignore_index=True)), functions)


def features_on_engine(engine, clean, functions: Mapping[str, Any], since: pd.Timestamp | None = None,
                       chunk_lines: int | None = None) -> pd.DataFrame:
    """The registered ``functions`` over ``clean`` (an ibis table of clean lines on
    ``engine``, ``segkit.rules.clean_lines``), per customer: DuckDB streams the lines to
    this process in chunks; Spark runs the functions on its executors. ``since``: only the
    lines from then on (the observation window's start, ``segkit.features.window_start``).
    ``chunk_lines``: lines per chunk (default ``CHUNK_LINES``)."""
    chunk_lines = chunk_lines or CHUNK_LINES
    if since is not None:
        import ibis

        clean = clean.filter(clean.InvoiceDate >= ibis.literal(pd.Timestamp(since).to_pydatetime(), "timestamp"))
    if engine.name == "spark":
        parts = _on_spark(engine, clean, functions, chunk_lines)
    else:
        ordered = clean.order_by(["CustomerID", LINE_NUMBER])
        reader = engine.con.to_pyarrow_batches(ordered, chunk_size=min(chunk_lines, 100_000))
        parts = list(features_by_customer_chunks(reader, functions, chunk_lines))
    return pd.concat(parts) if parts else compute_features(pd.DataFrame(), {})


def _on_spark(engine, clean, functions: Mapping[str, Any], chunk_lines: int) -> list[pd.DataFrame]:
    """The features on Spark's executors: lines partitioned by customer, sorted within each
    partition, chunked by ``features_by_customer_chunks``. A feature that fails comes back
    as a row holding its sentence (no failed task, so no Spark error log)."""
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
        with _sent_by_value(shipped):
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


@contextmanager
def _sent_by_value(functions: Mapping[str, Any]) -> Iterator[None]:
    """While Spark pickles ``functions``, the modules that define them (other than segkit's,
    which the executors import) travel by value, so the executors need not have them."""
    from pyspark import cloudpickle

    already = set(cloudpickle.list_registry_pickle_by_value())
    modules = {getattr(f, "__module__", None) for f in functions.values()}
    added = [sys.modules[m] for m in modules if m and m in sys.modules and m not in already
             and m != "__main__" and m.split(".")[0] != "segkit"]
    for module in added:
        cloudpickle.register_pickle_by_value(module)
    try:
        yield
    finally:
        for module in added:
            cloudpickle.unregister_pickle_by_value(module)


def _check_picklable(functions: Mapping[str, Any]) -> None:
    """Refuse, naming it, a feature function Spark cannot send to its executors."""
    from pyspark import cloudpickle

    for name, function in functions.items():
        try:
            with _sent_by_value({name: function}):
                cloudpickle.dumps(function)
        except Exception as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
            raise SegkitDataError(
                f"The registered feature '{name}' cannot be sent to Spark's executors ({reason}); keep open files, "
                "locks and connections out of the function (create them inside it), or use --engine duckdb."
            ) from None
