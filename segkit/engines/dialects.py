"""What differs between the SQL engines, in one place: everything else is ``segkit.rules.lines``.

The rules are one definition (ibis expressions). Two pieces of them have no common
spelling across the databases ibis compiles to, so each engine takes them from its
``Dialect`` here and hands them to the rules:

- ``line_hash``: one 64-bit hash of a line's canonical columns, which picks the lines that
  may repeat (``segkit.rules.lines.duplicate_copies``; a collision only adds a line to
  compare, so the hash need not agree across engines). DuckDB: its variadic ``hash``
  (unsigned 64-bit); Spark: ``xxhash64`` (its ``hash`` is 32-bit); PostgreSQL (no variadic
  hash): each column's 64-bit hash of its type (``hashtextextended``, ``hashfloat8extended``,
  ``timestamp_hash_extended``) combined with XOR.
- ``id_space``: the characters trimmed from ids, as one regular-expression class. What
  Python's ``str.strip`` removes (``segkit.schema.ID_SPACE_CHARACTERS``); DuckDB (RE2) and
  Spark (Java) read ``segkit.schema.ID_SPACE``; PostgreSQL has no ``\\p{Z}`` or ``\\x{..}``,
  so it gets the characters spelled out as ``\\uXXXX``. Spark trims with ``btrim`` and the
  characters themselves (``Dialect.trim_id``): its Java regex was the hottest code of a large run.

Session settings an engine applies on connecting (``session_settings``) live here too.
ClickHouse, BigQuery, Snowflake and Trino have dialects that ibis compiles the rules with
(``cityHash64``, ``FARM_FINGERPRINT``, ``HASH``, ``xxhash64`` of the line joined as text);
they were compiled, not run, and the engine refuses those backends.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from segkit.schema import ID_SPACE, ID_SPACE_CHARACTERS, LINE_COLUMNS

__all__ = ["DUCKDB", "POSTGRES", "SPARK", "CLICKHOUSE", "BIGQUERY", "SNOWFLAKE", "TRINO", "SUPPORTED_BACKENDS", "Dialect",
           "dialect_for"]


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


@ibis.udf.scalar.builtin(name="btrim")
def _spark_btrim_builtin(text: str, characters: str) -> str:
    """Spark's ``btrim(text, characters)``: ``text`` without any of ``characters`` at either end."""


@ibis.udf.scalar.builtin(name="unhex")
def _spark_unhex(digits: str) -> dt.binary:
    """Spark's ``unhex``: the bytes written as hexadecimal digits."""


@ibis.udf.scalar.builtin(name="decode")
def _spark_decode(data: dt.binary, charset: str) -> str:
    """Spark's ``decode(bytes, charset)``: text from its encoded bytes."""


def _spark_btrim(text: ir.StringValue, characters: str) -> ir.StringValue:
    """``btrim`` with ``characters`` handed over as hexadecimal UTF-8: Spark's SQL parser reads
    ``'\\v'`` and ``'\\f'`` in a string literal as the letters v and f (it would trim those)."""
    return _spark_btrim_builtin(text, _spark_decode(_spark_unhex(characters.encode().hex()), "UTF-8"))


@ibis.udf.scalar.builtin(name="hashtextextended")
def _postgres_hashtextextended(text: str, seed: int) -> dt.int64:
    """PostgreSQL's 64-bit hash of a text (``hashtextextended(text, seed)``)."""


@ibis.udf.scalar.builtin(name="hashfloat8extended")
def _postgres_hashfloat8extended(number: float, seed: int) -> dt.int64:
    """PostgreSQL's 64-bit hash of a double (``0.0`` and ``-0.0`` alike, as ``=`` has them)."""


@ibis.udf.scalar.builtin(name="hashint8extended")
def _postgres_hashint8extended(number: int, seed: int) -> dt.int64:
    """PostgreSQL's 64-bit hash of a bigint."""


@ibis.udf.scalar.builtin(name="timestamp_hash_extended")
def _postgres_timestamp_hash_extended(moment: datetime, seed: int) -> dt.int64:
    """PostgreSQL's 64-bit hash of a timestamp."""


def _variadic(text_ids: Callable, number_ids: Callable) -> Callable[[ir.Table], ir.IntegerValue]:
    def line_hash(lines: ir.Table) -> ir.IntegerValue:
        function = number_ids if lines.CustomerID.type().is_integer() else text_ids
        return function(*[_decimal_as_float(lines[c]) for c in LINE_COLUMNS])
    return line_hash


def _decimal_as_float(value: ir.Value) -> ir.Value:
    """A decimal column (a quantity some databases give an amount-only layout) as the double
    the hash functions are declared with; every other column as it is."""
    return value.cast("float64") if value.type().is_decimal() else value


def _postgres_column_hashes(lines: ir.Table) -> ir.IntegerValue:
    """PostgreSQL: each column hashed by its own type's 64-bit hash (seeded by its position,
    a missing value hashing to its seed), combined with XOR. Equal lines hash alike, since
    each type's hash agrees with its ``=``. (One ``hashtextextended`` of the columns joined as
    text spent most of the duplicate search printing numbers and dates.)"""
    hashes = {"string": _postgres_hashtextextended, "float64": _postgres_hashfloat8extended,
              "int64": _postgres_hashint8extended, "timestamp": _postgres_timestamp_hash_extended}
    combined = None
    for seed, column in enumerate(LINE_COLUMNS, start=1):
        value = lines[column]
        kind = "timestamp" if value.type().is_timestamp() else "int64" if value.type().is_integer() else \
            "float64" if value.type().is_floating() or value.type().is_decimal() else "string"
        if kind == "timestamp":
            value = value.cast("timestamp")  # a zone-less timestamp: one hash function
        elif kind != "string":
            value = value.cast(kind)
        part = hashes[kind](value, ibis.literal(seed, "int64")).fill_null(seed)
        combined = part if combined is None else combined ^ part
    return combined


@ibis.udf.scalar.builtin(name="cityHash64")
def _clickhouse_city_hash64(text: str) -> dt.uint64:
    """ClickHouse's 64-bit ``cityHash64`` (unsigned)."""


@ibis.udf.scalar.builtin(name="farm_fingerprint")
def _bigquery_farm_fingerprint(text: str) -> dt.int64:
    """BigQuery's 64-bit ``FARM_FINGERPRINT`` of a text."""


@ibis.udf.scalar.builtin(name="hash")
def _snowflake_hash(text: str) -> dt.int64:
    """Snowflake's 64-bit ``HASH``."""


@ibis.udf.scalar.builtin(name="to_utf8")
def _trino_to_utf8(text: str) -> dt.binary:
    """Trino: a text's UTF-8 bytes."""


@ibis.udf.scalar.builtin(name="xxhash64")
def _trino_xxhash64(data: bytes) -> dt.binary:
    """Trino's ``xxhash64`` of bytes (eight bytes, not a number)."""


@ibis.udf.scalar.builtin(name="from_big_endian_64")
def _trino_from_big_endian_64(data: bytes) -> dt.int64:
    """Trino: eight bytes as a bigint."""


#: Between the columns of a line hashed as one text (a control character no id keeps: ids
#: are trimmed of 0x1c-0x1f). A missing and an empty value hash alike: that only adds a line
#: to compare.
_JOIN = "\x1f"


def _joined_text_hash(text_hash: Callable[[ir.StringValue], ir.IntegerValue]) -> Callable[[ir.Table], ir.IntegerValue]:
    """A line hash that hashes the line's columns joined as one text (for databases whose
    hash takes one value)."""
    def line_hash(lines: ir.Table) -> ir.IntegerValue:
        parts = [lines[c].cast("string").fill_null("") for c in LINE_COLUMNS]
        return text_hash(ibis.literal(_JOIN).join(parts))
    return line_hash


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
    #: the id trimming itself, where the engine has a faster spelling than the regex over ``id_space``
    trim_characters: Callable[[ir.StringValue, str], ir.StringValue] | None = None

    def trim_id(self, text: ir.StringValue) -> ir.StringValue:
        """``text`` without the ``id_space`` characters at either end (as ``str.strip``)."""
        if self.trim_characters is not None:
            return self.trim_characters(text, ID_SPACE_CHARACTERS)
        return text.re_replace(f"^{self.id_space}+|{self.id_space}+$", "")


DUCKDB = Dialect("duckdb", ("duckdb",), ID_SPACE, _variadic(_duckdb_hash_text_ids, _duckdb_hash_number_ids),
                 ("SET TimeZone = 'UTC'",))
#: Spark trims with ``btrim`` and the characters themselves: Java's regex over ``\p{Z}`` was
#: the hottest code of a 20M-line run (docs/benchmarks.md, "Spark, leaner")
SPARK = Dialect("spark", ("pyspark",), ID_SPACE, _variadic(_spark_xxhash64_text_ids, _spark_xxhash64_number_ids),
                trim_characters=_spark_btrim)
#: work_mem: PostgreSQL's default (4 MB) sends every sort and hash of the rules to disk;
#: 256 MB per operation keeps them in memory (docs/databases.md has the measured effect).
#: default_statistics_target: the engine ANALYZEs its temporary tables for the planner's
#: row counts; a 3,000-row sample (not 30,000) is enough for them and ten times cheaper.
POSTGRES = Dialect("postgres", ("postgres",), _unicode_escapes(ID_SPACE_CHARACTERS), _postgres_column_hashes,
                   ("SET TIME ZONE 'UTC'", "SET work_mem = '256MB'", "SET default_statistics_target = 10"))


# Compiled by ibis and checked for their functions (tests/engines/test_dialects.py), never run
# on a server: ``--engine ibis`` refuses these backends (SUPPORTED_BACKENDS, docs/databases.md).
#: ClickHouse and BigQuery use RE2, Trino Java-style classes (\p{Z}, \x{85}): ``ID_SPACE``
CLICKHOUSE = Dialect("clickhouse", ("clickhouse",), ID_SPACE, _joined_text_hash(_clickhouse_city_hash64))
BIGQUERY = Dialect("bigquery", ("bigquery",), ID_SPACE, _joined_text_hash(_bigquery_farm_fingerprint))
#: Snowflake's POSIX regular expressions have no \p{Z} or \x{..}: the characters themselves
SNOWFLAKE = Dialect("snowflake", ("snowflake",), "[" + "".join(ID_SPACE_CHARACTERS) + "]",
                    _joined_text_hash(_snowflake_hash))
TRINO = Dialect("trino", ("trino",), ID_SPACE,
                _joined_text_hash(lambda text: _trino_from_big_endian_64(_trino_xxhash64(_trino_to_utf8(text)))))

_DIALECTS = (DUCKDB, SPARK, POSTGRES, CLICKHOUSE, BIGQUERY, SNOWFLAKE, TRINO)

#: ibis backends ``--engine ibis`` is known to run the rules on (others: see docs/databases.md).
SUPPORTED_BACKENDS = ("postgres", "duckdb")


def dialect_for(backend: str) -> Dialect:
    """The dialect of an ibis backend (``con.name``): DuckDB's for backends it does not know
    (their SQL functions may then be missing; the engine says so)."""
    for dialect in _DIALECTS:
        if backend in dialect.backends:
            return dialect
    return DUCKDB
