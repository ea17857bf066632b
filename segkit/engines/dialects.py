"""What differs between the SQL engines, in one place: everything else is ``segkit.rules.lines``.

The rules are one definition (ibis expressions). Two pieces of them have no common
spelling across the databases ibis compiles to, so each engine takes them from its
``Dialect`` here and hands them to the rules:

- ``line_hash``: one 64-bit hash of a line's canonical columns, which picks the lines that
  may repeat (``segkit.rules.lines.duplicate_copies``; a collision only adds a line to
  compare, so the hash need not agree across engines). DuckDB: its variadic ``hash``
  (unsigned 64-bit); Spark: ``xxhash64`` (its ``hash`` is 32-bit); PostgreSQL:
  ``hashtextextended`` over the columns joined as text (it has no variadic hash).
- ``id_space``: the characters trimmed from ids, as one regular-expression class. What
  Python's ``str.strip`` removes (``segkit.schema.ID_SPACE_CHARACTERS``); DuckDB (RE2) and
  Spark (Java) read ``segkit.schema.ID_SPACE``; PostgreSQL has no ``\\p{Z}`` or ``\\x{..}``,
  so it gets the characters spelled out as ``\\uXXXX``.

Session settings an engine applies on connecting (``session_settings``) live here too.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from segkit.schema import ID_SPACE, ID_SPACE_CHARACTERS, LINE_COLUMNS

__all__ = ["DUCKDB", "POSTGRES", "SPARK", "SUPPORTED_BACKENDS", "Dialect", "dialect_for"]


@ibis.udf.scalar.builtin(name="hash")
def _duckdb_hash_text_ids(invoice: str, code: str, text: str, quantity: float, date: datetime, price: float,
                          customer: str, country: str) -> dt.int64:
    """DuckDB's variadic ``hash`` (UBIGINT, read as int64)."""


@ibis.udf.scalar.builtin(name="hash")
def _duckdb_hash_number_ids(invoice: str, code: str, text: str, quantity: float, date: datetime, price: float,
                            customer: int, country: str) -> dt.int64:
    """As ``_duckdb_hash_text_ids``, for whole-number customer ids."""


@ibis.udf.scalar.builtin(name="xxhash64")
def _spark_xxhash64_text_ids(invoice: str, code: str, text: str, quantity: float, date: datetime, price: float,
                             customer: str, country: str) -> dt.int64:
    """Spark's variadic 64-bit ``xxhash64`` (its ``hash`` is 32-bit murmur3)."""


@ibis.udf.scalar.builtin(name="xxhash64")
def _spark_xxhash64_number_ids(invoice: str, code: str, text: str, quantity: float, date: datetime, price: float,
                               customer: int, country: str) -> dt.int64:
    """As ``_spark_xxhash64_text_ids``, for whole-number customer ids."""


@ibis.udf.scalar.builtin(name="hashtextextended")
def _postgres_hashtextextended(text: str, seed: int) -> dt.int64:
    """PostgreSQL's 64-bit hash of a text (``hashtextextended(text, seed)``)."""


def _variadic(text_ids: Callable, number_ids: Callable) -> Callable[[ir.Table], ir.IntegerValue]:
    def line_hash(lines: ir.Table) -> ir.IntegerValue:
        function = number_ids if lines.CustomerID.type().is_integer() else text_ids
        return function(*[lines[c] for c in LINE_COLUMNS])
    return line_hash


#: Between the columns of a line hashed as one text (a control character no id keeps:
#: ids are trimmed of 0x1c-0x1f). A missing value is the empty text; that a missing and
#: an empty value hash alike only adds a line to compare.
_JOIN = "\x1f"


def _joined_text_hash(lines: ir.Table) -> ir.IntegerValue:
    parts = [lines[c].cast("string").fill_null("") for c in LINE_COLUMNS]
    return _postgres_hashtextextended(ibis.literal(_JOIN).join(parts), ibis.literal(0, "int64"))


def _unicode_escapes(characters: str) -> str:
    """``characters`` as a bracket class of ``\\uXXXX`` escapes (PostgreSQL's regex syntax)."""
    return "[" + "".join(f"\\u{ord(c):04x}" for c in characters) + "]"


@dataclass(frozen=True)
class Dialect:
    """The per-database pieces of the rules (module docstring)."""

    name: str
    #: ibis backend names (``con.name``) this dialect serves
    backends: tuple[str, ...]
    id_space: str
    line_hash: Callable[[ir.Table], ir.IntegerValue]
    #: SQL run once per connection (time zone, memory for sorts and hashes)
    session_settings: tuple[str, ...] = field(default=())


DUCKDB = Dialect("duckdb", ("duckdb",), ID_SPACE, _variadic(_duckdb_hash_text_ids, _duckdb_hash_number_ids),
                 ("SET TimeZone = 'UTC'",))
SPARK = Dialect("spark", ("pyspark",), ID_SPACE, _variadic(_spark_xxhash64_text_ids, _spark_xxhash64_number_ids))
#: work_mem: PostgreSQL's default (4 MB) sends every sort and hash of the rules to disk;
#: 256 MB per operation took the real data from 24-28 s to 7 s (issue 26).
POSTGRES = Dialect("postgres", ("postgres",), _unicode_escapes(ID_SPACE_CHARACTERS), _joined_text_hash,
                   ("SET TIME ZONE 'UTC'", "SET work_mem = '256MB'"))

_DIALECTS = (DUCKDB, SPARK, POSTGRES)

#: ibis backends ``--engine ibis`` is known to run the rules on (others: see docs/databases.md).
SUPPORTED_BACKENDS = ("postgres", "duckdb")


def dialect_for(backend: str) -> Dialect:
    """The dialect of an ibis backend (``con.name``): DuckDB's for backends it does not know
    (their SQL functions may then be missing; the engine says so)."""
    for dialect in _DIALECTS:
        if backend in dialect.backends:
            return dialect
    return DUCKDB
