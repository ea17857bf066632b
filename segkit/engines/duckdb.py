"""DuckDB in process: ``DuckDBEngine`` runs ``segkit.rules.lines`` on lines in memory (an
Arrow table or DataFrame from the loader, registered, not copied) or on a parquet file read
out of core, spilling to ``temp_directory`` above ``memory_limit``; a log too large for one
pass is split into buckets of customers written as parquet (``split``). ``local_engine``
is the process's shared in-memory engine (one connection, used under a lock).
"""
from __future__ import annotations

import shutil
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import ibis
import pandas as pd
import sqlglot.expressions as sge

from segkit.engines.base import Engine, arrow_lines
from segkit.rules import lines as R

__all__ = ["DuckDBEngine", "local_engine"]


class DuckDBEngine(Engine):
    """DuckDB in process; ``memory_limit`` / ``temp_directory`` / ``threads`` as DuckDB's settings."""

    name = "duckdb"

    def __init__(self, memory_limit: str | None = None, temp_directory: str | Path | None = None,
                 threads: int | None = None):
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
        # a loaded frame's currency (the loader checked it); a parquet file read as it is has none said
        self.currency = source.attrs.get("currency") if isinstance(source, pd.DataFrame) else None
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

