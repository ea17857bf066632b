"""The date and category filters of a log aggregated out of core, computed by DuckDB.

A page on a large parquet log (``data.OutOfCoreData``) holds customers only. Its date
and category filters need, per customer, the purchases and spend of the clean lines in a
date range; ``LargeLogDateRanges`` computes them with DuckDB over the file, never loading the
lines into pandas:

- the clean lines are those of the out-of-core customer table: the file read by
  ``outofcore.canonical_lines``, the outlier-date bounds of ``engine.date_bounds``, the rules of
  ``segkit.rules.lines`` (netting, labels, kept lines, duplicate copies), in the same customer
  buckets; nothing here restates a rule;
- each distinct Description is categorised once in pandas (``features.product_category``)
  and joined back as a small table (``description_categories``); the category dropdown
  lists the categories of those descriptions;
- the first filter change runs the rules over the file once and writes the date-range table
  to the segkit cache folder, shared by every kernel on the file: the clean lines' spend
  per customer, invoice and day, in all and in each category (``spend_column``; NULL: no
  line of that category), one row per order instead of one per line; every change is
  then one DuckDB query over that table, whole days, cached in memory per (file
  fingerprint, start, end, category).

``activity`` equals ``state.date_range_activity`` on the same log loaded in memory: the
customers who bought in ``[start, end]`` and the category, ``PurchasesInWindow``
(distinct invoices) and ``SpendInWindow`` (sum of Quantity x UnitPrice, to the cent).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections import OrderedDict
from datetime import date
from pathlib import Path
from typing import Callable

import pandas as pd

from segkit.config import cache_dir
from segkit.files.locks import computed_once
from segkit.rules.registry import OTHER_CATEGORY, product_category
from segkit.schema import midnight_after
from segkit.views.tables import ALL, covers_period

__all__ = ["LargeLogDateRanges", "description_categories", "write_date_range_table", "spend_column"]

#: Filter results kept in memory per page (each is one row per customer who bought).
CACHED_DATE_RANGES = 16
#: DuckDB's memory limit while a kernel writes the date-range table (above it, more customer
#: buckets). On the 20M-line log 1 GB was no slower than 3 GB and peaked at half the memory
#: (figures in docs/benchmarks.md).
DATE_RANGE_TABLE_MEMORY = "1GB"


def description_categories(engine, lines) -> pd.DataFrame:
    """The distinct descriptions of ``lines`` (an ibis table on ``engine``) with their
    product category (``features.product_category``; a missing description is ``""``):
    columns ``Described`` and ``Category``, a few thousand rows."""
    described = lines.select(Described=lines.Description.fill_null("")).distinct()
    table = engine.to_pandas(described)
    table["Described"] = table["Described"].astype("string")
    table["Category"] = product_category(table["Described"]).astype(str)
    return table.sort_values("Described", ignore_index=True)


def spend_column(category: str) -> str:
    """The date-range table's column of the spend in ``category``."""
    return f"Spend in {category}"


def _spend_per_visit(rows, categories, copies=None):
    """Spend of ``rows`` per customer, invoice, day and category; ``copies``: the column
    of ``rows`` counting a line's extra copies (their spend is taken off)."""
    keyed = rows.mutate(Described=rows.Description.fill_null(""))
    joined = keyed.left_join(categories, keyed.Described == categories.Described)
    weight = 1 if copies is None else -joined[copies]
    return joined.group_by(
        CustomerID=joined.CustomerID, InvoiceNo=joined.InvoiceNo, Day=joined.InvoiceDate.truncate("D"),
        Category=joined.Category.fill_null(OTHER_CATEGORY),
    ).aggregate(Spend=(weight * joined.Quantity * joined.UnitPrice).sum())


def _copy_to_parquet(engine, expr, target: Path) -> None:
    """Write ``expr`` to ``target`` with DuckDB's COPY, each shared step recomputed where it
    is used (as ``DuckDBEngine.to_pandas`` does: no step holds all kept lines in memory)."""
    # start-up: ibis and DuckDB load on first use, not on import (0.4 s, measured)
    import sqlglot.expressions as sge

    query = engine.con.compiler.to_sqlglot(expr.as_table())
    for cte in query.find_all(sge.CTE):
        cte.set("materialized", False)
    literal = "'" + str(target).replace("'", "''") + "'"
    engine.con.raw_sql(f"COPY ({query.sql(dialect='duckdb')}) TO {literal} (FORMAT parquet)").fetchall()


def write_date_range_table(path: str | Path, target: str | Path, categories: pd.DataFrame | None = None,
                           rules: str = "default", memory_limit: str = DATE_RANGE_TABLE_MEMORY) -> pd.DataFrame:
    """Clean the parquet log ``path`` as ``outofcore.customer_features_out_of_core`` does and
    write the clean lines' spend per customer, invoice and day (``Day``: midnight), in all
    (``Spend``) and per category (``spend_column``) to the folder ``target``, one parquet
    file per customer bucket. Returns the description categories used
    (``description_categories``, or ``categories``)."""
    # start-up: ibis and DuckDB load on first use, not on import (0.4 s, measured)
    from segkit.engines.base import date_bounds, netting
    from segkit.engines.duckdb import DuckDBEngine

    # start-up: ibis and DuckDB load on first use, not on import (0.4 s, measured)
    from segkit.engines.outofcore import buckets_for, canonical_lines
    from segkit.rules import lines as R

    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    spill = Path(tempfile.mkdtemp(prefix="segkit-duckdb-", dir=target))
    engine = DuckDBEngine(memory_limit=memory_limit, temp_directory=spill)
    try:
        lines, n_rows = canonical_lines(engine, Path(path))
        if categories is None:
            categories = description_categories(engine, lines)
        engine.con.con.register("segkit_described", categories[["Described", "Category"]])
        small = engine.con.table("segkit_described")
        names = sorted(categories["Category"].unique())
        bounds = date_bounds(engine, lines)
        buckets = buckets_for(n_rows, memory_limit)
        # the netting is small and keyed by line number: once for every bucket
        netted = netting(engine, lines, bounds, rules)
        for i, part in enumerate([lines] if buckets == 1 else engine.split(lines, buckets)):
            kept = R.kept_lines(R.labelled_lines(part, rules, bounds, netted=netted))
            spend = _spend_per_visit(kept, small)
            if "duplicate lines" in R.RULES[rules]:
                copies = engine.materialise(R.duplicate_copies(kept, engine.dialect.line_hash))
                both = spend.union(_spend_per_visit(copies, small, copies="extra"), distinct=False)
                spend = both.group_by(["CustomerID", "InvoiceNo", "Day", "Category"]).aggregate(
                    Spend=both.Spend.sum())
            # one row per order: its spend in all and in each category (NULL: none bought)
            wide = spend.group_by(["CustomerID", "InvoiceNo", "Day"]).aggregate(
                Spend=spend.Spend.sum(),
                **{spend_column(c): spend.Spend.sum(where=spend.Category == c) for c in names})
            _copy_to_parquet(engine, wide, target / f"part-{i}.parquet")
    finally:
        engine.close()
        shutil.rmtree(spill, ignore_errors=True)
    return categories


class LargeLogDateRanges:
    """Date-range activity of one out-of-core log (see the module docstring).

    Parameters
    ----------
    path : the parquet log.
    cache_name : the name keying the log's cache files (``data.OutOfCoreData.cache_name``:
        the file's content and the options); also its fingerprint in the memory cache.
    period : first and last purchase of the clean lines (``CustomerData.period``).
    n_lines : lines of the file (for the progress message).
    rules : the cleaning rules of the log's customers (the saved model's).
    """

    def __init__(self, path: Path, cache_name: str, period: tuple[pd.Timestamp, pd.Timestamp], n_lines: int,
                 rules: str = "default"):
        self.path, self.cache_name, self.period, self.n_lines = Path(path), cache_name, period, int(n_lines)
        self.rules = rules
        folder = cache_dir()
        self.table_folder = folder / f"windows-{cache_name}"
        self.categories_file = folder / f"categories-{cache_name}.parquet"
        self._results: OrderedDict[tuple, pd.DataFrame] = OrderedDict()
        self._categories: pd.DataFrame | None = None

    # ------------------------------------------------------------ categories
    @property
    def categories(self) -> pd.DataFrame:
        """``description_categories`` of the log, computed once (cached beside the customers)."""
        if self._categories is None:
            self._categories = computed_once(self.categories_file.with_suffix(".lock"), self._read_categories,
                                             self._compute_categories)
        return self._categories

    def _read_categories(self) -> pd.DataFrame | None:
        try:
            return pd.read_parquet(self.categories_file)
        except (OSError, ValueError):
            return None

    def _compute_categories(self) -> pd.DataFrame:
        # start-up: ibis and DuckDB load on first use, not on import (0.4 s, measured)
        from segkit.engines.duckdb import DuckDBEngine
        from segkit.engines.outofcore import canonical_lines

        engine = DuckDBEngine()
        try:
            table = description_categories(engine, canonical_lines(engine, self.path)[0])
        finally:
            engine.close()
        self._write(table, self.categories_file)
        return table

    @staticmethod
    def _write(table: pd.DataFrame, target: Path) -> None:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(target.name + f".{os.getpid()}.partial")
            table.to_parquet(partial, index=False)
            os.replace(partial, target)
        except OSError:  # a cache folder that cannot be written only costs the next kernel the scan
            pass

    @property
    def category_names(self) -> list[str]:
        """The product categories of the log's descriptions (sorted)."""
        return sorted(self.categories["Category"].unique())

    # ------------------------------------------------------------ the date-range table
    def _date_range_table(self) -> Path:
        """The folder of the date-range table, written on first use (once for every kernel)."""
        def read():
            return self.table_folder if self.table_folder.is_dir() else None

        def compute():
            partial = Path(tempfile.mkdtemp(prefix=f"{self.table_folder.name}.", suffix=".partial",
                                            dir=self.table_folder.parent))
            try:
                write_date_range_table(self.path, partial, self.categories, rules=self.rules)
                os.replace(partial, self.table_folder)
            finally:
                shutil.rmtree(partial, ignore_errors=True)
            return self.table_folder

        self.table_folder.parent.mkdir(parents=True, exist_ok=True)
        return computed_once(self.table_folder.with_suffix(".lock"), read, compute)

    def prepare(self) -> Path:
        """Write the category list and the date-range table now (``segkit.server.serve`` does before
        Voilà starts), so no visitor's first date or category change waits for them."""
        self.categories  # noqa: B018 (computed and cached on first use)
        return self._date_range_table()

    # ------------------------------------------------------------ the filters
    def activity(self, start: date | None = None, end: date | None = None, category: str = ALL,
                 progress: Callable[[str], None] | None = None) -> pd.DataFrame | None:
        """Purchases and spend per customer in the clean lines of ``[start, end]`` (whole
        days) and ``category``, indexed by CustomerID (as ``state.date_range_activity``);
        ``None`` when neither filter narrows anything. ``progress`` is told what the engine
        is doing before it starts (and ``""`` when it is done)."""
        if category == ALL and covers_period(*self.period, start, end):
            return None
        key = (self.cache_name, start, end, category)
        if key in self._results:
            self._results.move_to_end(key)
            return self._results[key]
        tell = progress or (lambda _text: None)
        what = " and ".join(name for name, used in (("date", start is not None or end is not None),
                                                    ("category", category != ALL)) if used)
        first = "" if self.table_folder.is_dir() else " (the first change reads and cleans the whole log, once)"
        tell(f"Computing the {what} filter over {self.n_lines:,} lines of {self.path.name} with DuckDB"
             f"{first} ...")
        try:
            result = self._query(self._date_range_table(), start, end, category)
        finally:
            tell("")
        self._results[key] = result
        while len(self._results) > CACHED_DATE_RANGES:
            self._results.popitem(last=False)
        return result

    def _query(self, folder: Path, start: date | None, end: date | None, category: str) -> pd.DataFrame:
        # start-up: ibis and DuckDB load on first use, not on import (0.4 s, measured)
        import duckdb

        conditions, parameters = [], []
        if start is not None:
            conditions.append("Day >= ?")
            parameters.append(pd.Timestamp(start).to_pydatetime())
        if end is not None:
            conditions.append("Day < ?")
            parameters.append(midnight_after(end).to_pydatetime())
        spend = "Spend"
        if category != ALL:
            if category in self.category_names:
                spend = '"' + spend_column(category).replace('"', '""') + '"'
                conditions.append(f"{spend} IS NOT NULL")
            else:  # no line of that category
                conditions.append("false")
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        files = "'" + str(folder / "*.parquet").replace("'", "''") + "'"
        with duckdb.connect() as con:
            raw = con.execute(
                "SELECT CustomerID, count(DISTINCT InvoiceNo) AS PurchasesInWindow, "
                f"sum({spend}) AS SpendInWindow FROM read_parquet({files}) {where} GROUP BY 1",
                parameters).df()
        activity = pd.DataFrame({"PurchasesInWindow": raw["PurchasesInWindow"].astype("int64").to_numpy(),
                                 "SpendInWindow": raw["SpendInWindow"].astype("float64").round(2).to_numpy()},
                                index=pd.Index(raw["CustomerID"]).astype("string").rename("CustomerID"))
        return activity.sort_index()
