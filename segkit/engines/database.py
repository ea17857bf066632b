"""The rules run inside a database, through ibis: ``--engine ibis --db URL --table NAME``.

``IbisEngine(url)`` connects with ``ibis.connect`` (``postgresql://user@host:5432/shop``;
PostgreSQL 15+ is supported and tested, docs/databases.md says what else was tried), applies
its dialect's session settings (``segkit.engines.dialects``: UTC, ``work_mem``) and runs
``segkit.rules.lines`` where the orders are. Only the customer table and the cleaning
report come back.

Line order is data: the cancellation netting breaks ties by line number and a duplicate
line keeps its first copy, but a table has no row order. ``table_lines`` numbers the lines
by ``order_by`` (a column of the table, e.g. an id or the position the lines were loaded
in; ties broken as below), else by every column of the table: the date first, then the
others in name order. Lines equal in every column are interchangeable, so the result never
depends on the order the server returns rows in.

The canonical lines (ids trimmed, numbers as floats; ``segkit.engines.base.canonical_table``)
are computed once into a temporary table that every query of the rules reads: without it
the database recomputes the id regexes in each of them.
"""
from __future__ import annotations

import re
import tempfile
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import ibis
import pandas as pd
import pyarrow as pa
from pyarrow import csv

from segkit.engines.base import Engine, canonical_table, table_currency
from segkit.engines.dialects import SUPPORTED_BACKENDS, dialect_for
from segkit.errors import SegkitDataError, SegkitError
from segkit.rules import lines as R
from segkit.rules.registry import lines_as_in_memory

__all__ = ["DRIVERS", "IbisEngine", "copy_to_postgres", "safe_url"]

#: URL scheme -> (ibis backend, pip extra that installs its driver)
DRIVERS = {"postgres": ("postgres", "postgres"), "postgresql": ("postgres", "postgres")}


def safe_url(url: str) -> str:
    """``url`` without its password, to be shown in messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unreadable URL>"
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(":" + parts.password + "@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]


def connect(url: str):
    """An ibis connection to ``url``, or one sentence on what is wrong with it."""
    shown = safe_url(url)
    secret = urlsplit(url).password if "://" in url else None

    def reason(exc: BaseException) -> str:  # never the password, whatever the driver prints
        text = _first_line(exc)
        return text.replace(url, shown).replace(secret, "***") if secret else text

    scheme = urlsplit(url).scheme.lower() if "://" in url else ""
    if not scheme:
        raise SegkitDataError(f"--db '{shown}' is not a database URL; write it as "
                              "postgresql://USER[:PASSWORD]@HOST:PORT/DATABASE.")
    try:
        con = ibis.connect(url)
    except ImportError as exc:
        extra = DRIVERS.get(scheme, (scheme, scheme))[1]
        raise SegkitError(f"Connecting to '{shown}' needs a driver that is not installed ({reason(exc)}); "
                          f"pip install 'segkit[{extra}]'.") from None
    except ValueError as exc:
        raise SegkitDataError(f"--db '{shown}': {reason(exc)}; segkit reads postgresql://USER@HOST:PORT/DATABASE "
                              "(other ibis backends by their ibis URL, see docs/databases.md).") from None
    except Exception as exc:  # noqa: BLE001 - every driver's own error: one sentence
        raise SegkitDataError(f"Could not connect to '{shown}' ({reason(exc)}); check the host, port, user, "
                              "password and database name in the URL, and that the server is running.") from None
    return con


class IbisEngine(Engine):
    """A database reached through ibis by URL (module docstring)."""

    name = "ibis"

    def __init__(self, url: str):
        self.url = url
        self.con = connect(url)
        self.dialect = dialect_for(self.con.name)
        if self.con.name not in SUPPORTED_BACKENDS:
            self.con.disconnect()
            raise SegkitDataError(f"--db '{safe_url(url)}' is a {self.con.name} database; segkit runs its rules on "
                                  f"{' and '.join(SUPPORTED_BACKENDS)} (docs/databases.md says what else was tried).")
        version = getattr(getattr(getattr(self.con, "con", None), "info", None), "server_version", None)
        if self.dialect.name == "postgres" and isinstance(version, int) and version < 150000:
            self.con.disconnect()
            raise SegkitDataError(f"--db '{safe_url(url)}' is PostgreSQL {version // 10000}; segkit needs PostgreSQL "
                                  "15 or newer (its regular expressions and hashes): upgrade the server.")
        for statement in self.dialect.session_settings:
            self._run(statement)
        self._n = 0
        self.temporary: list[str] = []
        # each of the rules' queries labelled every line again, and the duplicate search
        # copied all clean lines into memory (a subquery read twice; docs/databases.md, Speed)
        self.stepwise = self.dialect.name == "postgres"

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _run(self, sql: str) -> None:
        result = self.con.raw_sql(sql)
        # PostgreSQL hands back a cursor to close; DuckDB its connection itself, which must stay open
        if result is not None and result is not getattr(self.con, "con", None) and hasattr(result, "close"):
            result.close()

    def lines(self, source) -> Any:
        raise SegkitError("The ibis engine reads a table of its database (table_lines); files go through "
                          "--engine pandas or duckdb.")

    def raw_table(self, name: str):
        """The table ``name`` (``schema.name`` for another schema), or one sentence."""
        schema, _, table = name.rpartition(".")
        try:
            return self.con.table(table, database=schema or None)
        except Exception as exc:  # noqa: BLE001 - TableNotFound, or the driver's error for a missing schema
            try:
                known = sorted(self.con.list_tables(database=schema or None))
            except Exception:  # noqa: BLE001 - the list only helps the sentence
                known = []
            found = f"its tables: {', '.join(known[:12])}{', ...' if len(known) > 12 else ''}" if known else \
                "it has no tables there"
            reason = "" if type(exc).__name__ == "TableNotFound" else f" ({_first_line(exc)})"
            raise SegkitDataError(f"The database '{safe_url(self.url)}' has no table '{name}'{reason}; {found}. "
                                  "Name one with --table NAME (schema.name for another schema).") from None

    def table_lines(self, name: str, columns: Mapping[str, str] | None = None, order_by: str | None = None):
        """Canonical lines of table ``name`` numbered in a deterministic order (module
        docstring), computed once into a temporary table."""
        raw = self.raw_table(name)
        names = [c for c in raw.columns if c != R.LINE_NUMBER]
        if order_by is not None and order_by not in raw.columns:
            raise SegkitDataError(f"--order-by '{order_by}' is not a column of '{name}'; its columns: "
                                  f"{', '.join(raw.columns)}.")
        date = (columns or {}).get("date") or next((c for c in ("InvoiceDate",) if c in names), None)
        keys = [order_by] if order_by else []
        keys += [c for c in ([date] if date in names else []) if c not in keys]
        keys += [c for c in sorted(names) if c not in keys]
        number = ibis.row_number().over(order_by=[raw[c] for c in keys])
        self.currency = table_currency(raw, name, columns, "ibis")
        return self.materialise(canonical_table(raw, name, columns, self.dialect, line_number=number))

    def materialise(self, expr):
        """``expr`` computed once into a temporary table (dropped by ``close``)."""
        self._n += 1
        table = f"segkit_step_{self._n}"
        self._run(f"CREATE TEMPORARY TABLE {table} AS {self.con.compile(expr)}")
        if self.dialect.name == "postgres":
            self._run(f"ANALYZE {table}")  # row counts for the planner: temp tables are never auto-analysed
        self.temporary.append(table)
        return self.con.table(table)

    def record_batches(self, expr, chunk_size: int):
        """PostgreSQL: the rows by ``COPY (query) TO STDOUT`` as CSV, spooled to a temporary
        file and read back by Arrow's CSV reader (the clean lines of the real data in about
        a quarter of the time ibis' row fetch takes); elsewhere ibis' own batches."""
        if self.dialect.name != "postgres":
            return super().record_batches(expr, chunk_size)

        schema = expr.schema().to_pyarrow()
        spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the generator below, once read
        with self.con.con.cursor() as cursor, \
                cursor.copy(f"COPY ({self.con.compile(expr)}) TO STDOUT WITH (FORMAT csv, HEADER true)") as copy:
            for block in copy:
                spool.write(block)
        self.con.con.commit()
        spool.seek(0)
        # COPY's CSV: a missing value is an unquoted empty field, an empty text a quoted one
        convert = csv.ConvertOptions(column_types=schema, strings_can_be_null=True, quoted_strings_can_be_null=False,
                                     null_values=[""], timestamp_parsers=[csv.ISO8601])
        reader = csv.open_csv(spool, read_options=csv.ReadOptions(block_size=1 << 22), convert_options=convert)

        def batches():
            try:
                for batch in reader:
                    yield batch.select(schema.names)
            finally:
                spool.close()

        return batches()

    def clean_lines(self, lines, rules: str, bounds) -> pd.DataFrame:
        """The clean lines of ``lines`` (``segkit.rules.lines.clean_lines``, duplicates folded)
        in line order, typed as the in-memory path types them (``lines_as_in_memory``);
        ``bounds``: the outlier-date bounds ``run_rules`` used."""
        labelled = R.labelled_lines(lines, rules, bounds)
        clean = R.clean_lines(labelled, rules).order_by(R.LINE_NUMBER)
        batches = list(self.record_batches(clean, 100_000))
        table = pa.Table.from_batches(batches) if batches else clean.schema().to_pyarrow().empty_table()
        return lines_as_in_memory(table.to_pandas())

    def close(self) -> None:
        for table in self.temporary:
            try:
                self._run(f"DROP TABLE IF EXISTS {table}")
            except Exception:  # noqa: BLE001, S110 - a closed connection drops its temporary tables itself
                pass
        self.temporary.clear()
        self.con.disconnect()


_SIMPLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


def copy_to_postgres(url: str, name: str, frame: pd.DataFrame, replace: bool = True) -> int:
    """Write ``frame`` into table ``name`` of the PostgreSQL database at ``url`` with
    ``COPY ... FROM STDIN`` (541,909 lines in about 2 s; ibis' ``create_table`` inserts row
    by row, about 30 s). Text columns become ``text``, floats ``double precision``,
    integers ``bigint``, timestamps ``timestamp`` (zoned ones ``timestamptz``). Returns the
    lines written."""
    # optional: postgres
    import psycopg

    if not _SIMPLE_NAME.match(name):
        raise SegkitDataError(f"'{name}' is not a plain table name (letters, digits, _; schema.name).")
    types = []
    for column, dtype in frame.dtypes.items():
        if pd.api.types.is_bool_dtype(dtype):
            kind = "boolean"
        elif pd.api.types.is_integer_dtype(dtype):
            kind = "bigint"
        elif pd.api.types.is_float_dtype(dtype):
            kind = "double precision"
        elif isinstance(dtype, pd.DatetimeTZDtype):
            kind = "timestamptz"
        elif pd.api.types.is_datetime64_any_dtype(dtype):
            kind = "timestamp"
        else:
            kind = "text"
        types.append(f'"{column}" {kind}')
    with psycopg.connect(url) as con, con.cursor() as cursor:
        if replace:
            cursor.execute(f"DROP TABLE IF EXISTS {name}")
        cursor.execute(f"CREATE TABLE {name} ({', '.join(types)})")
        names = ", ".join(f'"{c}"' for c in frame.columns)
        with cursor.copy(f"COPY {name} ({names}) FROM STDIN") as copy:
            for block in range(0, len(frame), 100_000):
                copy.write(_copy_text(frame.iloc[block:block + 100_000]))
    return len(frame)


def _copy_text(frame: pd.DataFrame) -> str:
    """``frame`` in COPY's text format: tab-separated, ``\\N`` for missing, backslash escapes."""
    columns = []
    for column in frame.columns:
        values = frame[column]
        missing = values.isna().to_numpy()
        if pd.api.types.is_float_dtype(values.dtype):
            text = values.map(repr)  # shortest text that reads back as the same double
        elif pd.api.types.is_datetime64_any_dtype(values.dtype):
            text = values.map(lambda t: t.isoformat(sep=" ") if not pd.isna(t) else "")
        else:
            text = values.astype(object).map(str)
            text = (text.str.replace("\\", "\\\\", regex=False).str.replace("\t", "\\t", regex=False)
                    .str.replace("\n", "\\n", regex=False).str.replace("\r", "\\r", regex=False))
        text = text.astype(object)
        text[missing] = "\\N"
        columns.append(text.to_numpy())
    rows = ["\t".join(row) for row in zip(*columns)]
    return "\n".join(rows) + ("\n" if rows else "")
