"""The rules compile for every dialect in ``segkit.engines.dialects``: ClickHouse, BigQuery,
Snowflake and Trino are compiled here with ``ibis.to_sql`` and never run (no server; the
engine refuses them, docs/databases.md)."""
from __future__ import annotations

import ibis
import pandas as pd
import pytest

from segkit.engines.base import canonical_table
from segkit.engines.dialects import BIGQUERY, CLICKHOUSE, SNOWFLAKE, SUPPORTED_BACKENDS, TRINO, dialect_for
from segkit.rules import lines as R

#: the function each warehouse's line hash must call, as it appears in its SQL
HASHES = {CLICKHOUSE: "cityhash64(", BIGQUERY: "farm_fingerprint(", SNOWFLAKE: "hash(", TRINO: "xxhash64("}

RAW = ibis.table({"InvoiceNo": "string", "StockCode": "string", "Description": "string", "Quantity": "int64",
                  "InvoiceDate": "timestamp", "UnitPrice": "float64", "CustomerID": "float64", "Country": "string",
                  "position": "int64"}, name="orders")
WINDOW = (pd.Timestamp("2009-12-01"), pd.Timestamp("2012-12-10"))


def _rules_sql(dialect, rules: str) -> list[str]:
    """The SQL of every query ``run_rules`` sends, from the table to the customer table."""
    numbered = ibis.row_number().over(order_by=[RAW.position])
    lines = canonical_table(RAW, "orders", None, dialect, line_number=numbered)
    netted = R.netted_quantities(lines, WINDOW) if rules == "default" else None
    labelled = R.labelled_lines(lines, rules, WINDOW, netted=netted)
    kept = R.kept_lines(labelled)
    duplicates = R.duplicate_copies(kept, dialect.line_hash) if rules == "default" else None
    exprs = [lines, labelled, R.report_counts(labelled),
             R.duplicate_extras(duplicates) if duplicates is not None else kept,
             R.customer_table(kept, None, duplicates), R.customer_table(kept, None, duplicates, window_days=90),
             R.clean_lines(labelled, rules)]
    return [ibis.to_sql(e, dialect=dialect.name) for e in exprs]


@pytest.mark.parametrize("dialect", list(HASHES), ids=lambda d: d.name)
@pytest.mark.parametrize("rules", ["default", "seed"])
def test_the_rules_compile_for_each_warehouse(dialect, rules):
    sql = _rules_sql(dialect, rules)
    assert dialect_for(dialect.name) is dialect and dialect.name not in SUPPORTED_BACKENDS
    canonical = sql[0]
    assert "row_number()" in canonical.lower()
    # the ids are trimmed by the dialect's class (Snowflake: the characters themselves; sqlglot
    # writes \t, \n, \f and \r as escapes, which Snowflake reads back)
    marker = "\u0085\u00a0\u1680\u2000" if dialect is SNOWFLAKE else "p{Z}"
    assert canonical.count(marker) == 4  # both ends of two text ids (InvoiceNo, StockCode)
    if rules == "default":
        assert HASHES[dialect] in sql[3].lower()  # the duplicate search hashes with the dialect's function
    assert all("GROUP BY" in s.upper() for s in (sql[2], sql[4], sql[5]))  # the report, the customer tables


def test_snowflake_trims_the_characters_python_strips():
    """Snowflake's regular expressions have no \\p{Z}: its class holds the characters themselves."""
    from segkit.schema import ID_SPACE_CHARACTERS

    assert set(SNOWFLAKE.id_space[1:-1]) == set(ID_SPACE_CHARACTERS)
