"""``--engine ibis`` without a server: a DuckDB database file by URL gives the in-memory path's
numbers, and the per-dialect pieces stay in ``segkit.engines.dialects``."""
from __future__ import annotations

import re

from segkit.engines.database import safe_url
from segkit.engines.dialects import DUCKDB, POSTGRES, SPARK, dialect_for
from segkit.schema import ID_SPACE_CHARACTERS


def test_the_postgres_id_class_holds_what_python_strips():
    assert set(ID_SPACE_CHARACTERS) == {chr(i) for i in range(0x110000) if chr(i).isspace()}
    assert "\\p" not in POSTGRES.id_space and "\\x{" not in POSTGRES.id_space
    # Python reads \\uXXXX in a class as PostgreSQL does: the class matches exactly those characters
    pattern = re.compile(POSTGRES.id_space)
    assert all(pattern.fullmatch(c) for c in ID_SPACE_CHARACTERS)
    assert not any(pattern.fullmatch(c) for c in "a0._-\u200b\ufeff")


def test_each_backend_has_its_dialect():
    assert dialect_for("duckdb") is DUCKDB and dialect_for("pyspark") is SPARK and dialect_for("postgres") is POSTGRES
    assert any("work_mem" in s for s in POSTGRES.session_settings)


def test_passwords_never_show():
    assert safe_url("postgresql://shop:s3cret@db:5432/shop") == "postgresql://shop:***@db:5432/shop"
    assert safe_url("postgresql://shop@db/shop") == "postgresql://shop@db/shop"


def test_the_line_hash_is_64_bit_on_spark():
    """Spark's own ``hash`` is 32-bit: the rules get ``xxhash64`` there."""
    import ibis

    table = ibis.table({"InvoiceNo": "string", "StockCode": "string", "Description": "string", "Quantity": "float64",
                        "InvoiceDate": "timestamp", "UnitPrice": "float64", "CustomerID": "string",
                        "Country": "string"}, name="lines")
    spark = SPARK.line_hash(table).op()
    assert spark.__func_name__ == "xxhash64" and spark.dtype.is_int64()
    postgres = ibis.to_sql(table.select(h=POSTGRES.line_hash(table)), dialect="postgres").lower()
    # PostgreSQL: each column by its type's 64-bit hash (numbers and dates never printed as text), XORed
    assert postgres.count("hashtextextended(") == 5 and postgres.count("hashfloat8extended(") == 2
    assert postgres.count("timestamp_hash_extended(") == 1 and postgres.count(" # ") == 7


def test_sqlglot_is_pinned_for_ibis_issue_12101():
    """ibis 12.0.0 cannot create or drop tables on PostgreSQL with sqlglot 30.18+ (ibis#12101):
    the pin, its reason beside it, and the installed version agree."""
    from importlib.metadata import version
    from pathlib import Path

    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    pin = next(line for line in pyproject.splitlines() if '"sqlglot==' in line)
    comment = pyproject[:pyproject.index(pin)].rsplit("]", 1)[-1]  # the lines just above the pin
    assert "ibis-project/ibis#12101" in comment
    assert pin.strip().strip('",') == f"sqlglot=={version('sqlglot')}"
