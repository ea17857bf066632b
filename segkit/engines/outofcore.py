"""A parquet log as canonical lines on DuckDB without loading it into pandas: the columns'
roles and types read from the file (``canonical_lines``), the loader's checks made in SQL
and refused in one sentence (dates not stored as timestamps, numbers it cannot read, an
empty file, order fields the loader would fill down, mixed currencies), ids made canonical
as ``segkit.ingest.load`` makes them (a float CustomerID ``17850.0`` becomes ``'17850'``,
text ids trimmed, blanks missing), and how many buckets of customers a log needs for
DuckDB's ``memory_limit`` (``buckets_for``: more than ``ROWS_PER_GB`` lines per GB).
``segkit.features.out_of_core`` runs the rules on what this module reads.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd

from segkit.engines.base import refuse_order_statuses
from segkit.errors import SegkitDataError
from segkit.ingest.currency import currency_column, log_currency
from segkit.schema import (
    ID_SPACE,
    LINE_NUMBER,
    MADE_UP_INVOICE_NO_CUSTOMER,
    MADE_UP_INVOICE_SEPARATOR,
    MADE_UP_INVOICE_TIME,
    MISSING_ID_TEXTS,
    UNKNOWN_COUNTRY,
    UNKNOWN_PRODUCT,
    WHOLE_NUMBER_ID,
    best_layout,
)

__all__ = ["ROWS_PER_GB", "canonical_lines", "buckets_for", "short_reason"]


#: Lines per GB of ``memory_limit`` that one in-memory aggregation pass handles (measured:
#: 8.2M clean-candidate lines peaked at 1.9 GB of RSS with a 3 GB limit; 82M ran out).
ROWS_PER_GB = 4_000_000


_MISSING_IDS_SQL = ", ".join("'" + m + "'" for m in MISSING_ID_TEXTS if m)


_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
            "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE", "DECIMAL")


_TIMESTAMPS = ("TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S", "DATE",
               "TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ", "TIMESTAMPTZ_NS")


def canonical_lines(engine, path: Path):
    """The parquet file as canonical lines (an ibis table on ``engine``) and its line count;
    refuses, in one sentence, what ``segkit.ingest.load`` would refuse."""
    con = engine.con.con
    name = path.name
    con.execute(f"CREATE OR REPLACE TEMP VIEW source AS SELECT * FROM read_parquet({_literal(path)}, "
                "file_row_number = true)")
    types = {str(r[0]).strip(): (str(r[0]), str(r[1])) for r in con.execute("DESCRIBE source").fetchall()}
    roles = _resolve_roles(types, name)
    currency = currency_column([column for column, _ in types.values()], roles)
    facts = _check_values(con, roles, types, name, currency)
    # the currency column's distinct values came with the checks' scan (not a scan of its own)
    engine.currency = None if currency is None else log_currency(
        pd.Series(facts["currencies"], dtype="object"), currency, name, engine="duckdb")
    return engine.con.sql(_lines_sql(roles, types, facts)), int(facts["rows"])


def _literal(text) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def buckets_for(n_rows: int, memory_limit: str) -> int:
    """How many customer buckets keep one aggregation pass within ``memory_limit``."""
    match = re.fullmatch(r"\s*([\d.]+)\s*([KMGT]?)(I?B)?\s*", memory_limit.upper())
    if not match:
        raise ValueError(f"memory_limit must look like '3GB' or '500MB', not {memory_limit!r}")
    gigabytes = float(match.group(1)) * {"": 1e-9, "K": 1e-6, "M": 1e-3, "G": 1.0, "T": 1e3}[match.group(2)]
    return max(1, math.ceil(n_rows / (ROWS_PER_GB * max(gigabytes, 0.1))))


def _resolve_roles(types: dict[str, tuple[str, str]], name: str) -> dict[str, str]:
    """Role -> source column, from the known layout that matches best (as load.py does)."""
    _, best = best_layout(types)
    refuse_order_statuses(best, name)
    missing = [r for r in ("customer", "date", "price") if r not in best]
    if missing:
        found = ", ".join(c for c in types if c != "file_row_number")
        raise SegkitDataError(
            f"'{name}' has no column for {', '.join(missing)}; found: {found}. Name them with --columns "
            f"{','.join(role + '=COLUMN' for role in missing)} (ROLE=COLUMN,... for other roles too), or store "
            "the log in the UCI layout (InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice, "
            "CustomerID, Country)."
        )
    return {role: types[col][0] for role, col in best.items()}


def _type_of(types, column: str) -> str:
    return next(t for n, t in types.values() if n == column).upper()


def _is_numeric(sql_type: str) -> bool:
    return sql_type.split("(")[0] in _NUMERIC


def _q(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _number_sql(column: str, sql_type: str, may_be_nan: bool = True) -> str:
    if _is_numeric(sql_type):
        value = f"CAST({_q(column)} AS DOUBLE)"
    else:  # text numbers, as load.py reads them: trimmed, thousands commas dropped
        value = f"TRY_CAST(replace(trim(CAST({_q(column)} AS VARCHAR)), ',', '') AS DOUBLE)"
    return f"(CASE WHEN isnan({value}) THEN NULL ELSE {value} END)" if may_be_nan else value


def _plain_id_sql(column: str) -> str:
    """True where a text id is already canonical: printable ASCII at both ends, no '.0' tail."""
    x = _q(column)
    return (f"(ord({x}) BETWEEN 33 AND 126 AND ord(right({x}, 1)) BETWEEN 33 AND 126 "
            f"AND NOT (right({x}, 1) = '0' AND contains({x}, '.')) AND {x} NOT IN ({_MISSING_IDS_SQL}))")


def _refuse_order_fields_to_fill(con, roles: dict[str, str], name: str) -> None:
    """The pandas reader fills an order's blank customer, date or country from its other
    lines (``segkit.ingest.load.fill_down_within_orders``); this engine does not yet, so a
    log that needs it is refused rather than counted differently."""
    if "invoice" not in roles:
        return
    invoice = _q(roles["invoice"])
    for role in ("customer", "date", "country"):
        column = roles.get(role)
        if not column:
            continue
        value = _q(column)
        blanks = con.execute(
            f"SELECT count(*) FROM source WHERE {invoice} IS NOT NULL AND {value} IS NULL AND {invoice} IN "
            f"(SELECT {invoice} FROM source WHERE {value} IS NOT NULL)").fetchone()[0]
        if blanks:
            raise SegkitDataError(
                f"'{name}' has {blanks:,} line(s) whose {role} is blank while other lines of the same order "
                f"(column '{roles['invoice']}') have one; the out-of-core engine does not fill them down: "
                "use --engine pandas, which does and says how many lines it filled."
            )


def _check_values(con, roles: dict[str, str], types, name: str, currency: str | None = None) -> dict[str, bool]:
    """The checks load.py makes, in one scan, and facts that let the main scans skip work.

    Returns ``{"whole_ids": numeric ids are whole numbers, "nan:<column>": a float column
    holds NaN, "plain:<column>": every text id is already canonical}``, and with a
    ``currency`` column ``"currencies"``: its distinct values (as text, up to 50).
    """
    date_col = roles["date"]
    date_type = _type_of(types, date_col)
    if date_type not in _TIMESTAMPS:
        raise SegkitDataError(
            f"'{name}' stores column '{date_col}' as {date_type}, not as timestamps; out-of-core "
            "features need a timestamp column (read the file with segkit.ingest.load.load_transactions, "
            "which parses text dates, and save it again as parquet)."
        )
    checks = {"rows": "count(*)", "dates": f"count({_q(date_col)})"}
    numbers = [roles[r] for r in ("quantity", "price") if r in roles]
    for column in numbers:
        raw, value = _q(column), _number_sql(column, _type_of(types, column))
        if _is_numeric(_type_of(types, column)):  # numbers are numbers: only their size is checked
            checks[f"bad:{column}"] = "0"
            value = f"CAST({raw} AS DOUBLE)"
        else:
            checks[f"bad:{column}"] = (f"count(*) FILTER (WHERE {value} IS NULL AND {raw} IS NOT NULL "
                                       f"AND trim(CAST({raw} AS VARCHAR)) <> '')")
        checks[f"large:{column}"] = f"count(*) FILTER (WHERE isinf({value}) OR abs({value}) > 1e12)"
        if not _is_numeric(_type_of(types, column)):  # '1,25' or '1,250': the pandas path decides per column
            checks[f"comma:{column}"] = f"count(*) FILTER (WHERE contains(CAST({raw} AS VARCHAR), ','))"
    for role in ("quantity", "price", "customer"):
        column = roles.get(role)
        if column and _is_numeric(_type_of(types, column)):
            checks[f"nan:{column}"] = f"coalesce(bool_or(isnan(CAST({_q(column)} AS DOUBLE))), false)"
    cust, cust_type = roles["customer"], _type_of(types, roles["customer"])
    if _is_numeric(cust_type):
        value = f"CAST({_q(cust)} AS DOUBLE)"
        checks["whole_ids"] = (f"coalesce(bool_and(({value} = floor({value}) AND abs({value}) < 2^53) "
                               f"OR isnan({value})), true)")
    if currency is not None:
        checks["currencies"] = f"list(DISTINCT CAST({_q(currency)} AS VARCHAR))[1:50]"
    row = con.execute(f"SELECT {', '.join(checks.values())} FROM source").fetchone()
    facts = dict(zip(checks, row))
    for role in ("invoice", "product", "customer"):
        column = roles.get(role)
        if column and not _is_numeric(_type_of(types, column)):
            # over the distinct ids: a log repeats each id on many lines
            facts[f"plain:{column}"] = con.execute(
                f"SELECT coalesce(bool_and({_plain_id_sql(column)}), true) "
                f"FROM (SELECT DISTINCT {_q(column)} FROM source)").fetchone()[0]
    if facts["rows"] == 0:
        raise SegkitDataError(f"'{name}' has a header but no rows; export the transactions again.")
    _refuse_order_fields_to_fill(con, roles, name)
    if facts["dates"] == 0:
        raise SegkitDataError(f"'{name}' has no dates in column '{date_col}'; fill that column.")
    for column in numbers:
        if facts.get(f"comma:{column}"):
            raise SegkitDataError(
                f"'{name}' has {facts[f'comma:{column}']:,} text number(s) with a comma in column '{column}'; "
                "the out-of-core engine does not read decimal commas or thousands separators: use --engine pandas, "
                "or store the column as numbers."
            )
        if facts[f"bad:{column}"]:
            raise SegkitDataError(
                f"'{name}' has {facts[f'bad:{column}']:,} value(s) in column '{column}' that are not numbers; "
                "fix or remove those rows."
            )
        if facts[f"large:{column}"]:
            raise SegkitDataError(
                f"'{name}' has {facts[f'large:{column}']:,} infinite or implausibly large value(s) in column "
                f"'{column}'; fix those cells."
            )
    return facts


def _text_id_sql(column: str, sql_type: str, facts: dict) -> str:
    """Ids as text like segkit.ingest.values.as_text: 17850.0 -> '17850', trimmed, blanks -> NULL."""
    raw = _q(column)
    if _is_numeric(sql_type):
        value = f"CAST({raw} AS DOUBLE)"
        if facts.get("whole_ids"):
            text = f"CAST(CAST({value} AS BIGINT) AS VARCHAR)"
        else:
            text = f"CAST({value} AS VARCHAR)"
        return f"(CASE WHEN isnan({value}) THEN NULL ELSE {text} END)" if facts.get(f"nan:{column}") else text
    if facts.get(f"plain:{column}"):
        return raw
    # One regex (a nested nullif chain would copy the expression 16 times): trim, drop a
    # trailing '.0' (schema.WHOLE_NUMBER_ID), and turn schema.MISSING_ID_TEXTS into '' ...
    # which nullif makes NULL. The regex is slow, so ids that are already canonical skip it.
    whole = WHOLE_NUMBER_ID.strip("^$")
    markers = "|".join(re.escape(m) for m in MISSING_ID_TEXTS if m)
    pattern = f"^{ID_SPACE}*(?:{whole}|{markers}|(.*?)){ID_SPACE}*$"
    slow = f"nullif(regexp_replace(CAST({raw} AS VARCHAR), '{pattern}', '\\1\\2', 's'), '')"
    return f"(CASE WHEN {_plain_id_sql(column)} THEN {raw} ELSE {slow} END)"


def _lines_sql(roles: dict[str, str], types, facts: dict) -> str:
    """Canonical lines with their file row number (``line_no``)."""
    def text(role, default):
        return _text_id_sql(roles[role], _type_of(types, roles[role]), facts) if role in roles else default

    def plain(role, default):
        return f"CAST({_q(roles[role])} AS VARCHAR)" if role in roles else default

    def number(role):
        column = roles[role]
        return _number_sql(column, _type_of(types, column), facts.get(f"nan:{column}", True))

    customer = text("customer", "NULL")
    number_ids = _is_numeric(_type_of(types, roles["customer"])) and facts.get("whole_ids")
    if number_ids:
        # whole-number ids stay numbers while the engine groups and joins by them (a text
        # key makes the distinct counts several times slower); finish_customers writes
        # them as text ('17850'), as segkit.ingest.load does
        value = f"CAST({_q(roles['customer'])} AS DOUBLE)"
        customer = f"CAST({value} AS BIGINT)"
        if facts.get(f"nan:{roles['customer']}"):
            customer = f"(CASE WHEN isnan({value}) THEN NULL ELSE {customer} END)"
    date = f"CAST({_q(roles['date'])} AS TIMESTAMP)"
    if "invoice" in roles:
        invoice = text("invoice", "NULL")
    else:  # as load.py: each distinct customer + timestamp is one purchase
        invoice = (f"coalesce(CAST({customer} AS VARCHAR), {_literal(MADE_UP_INVOICE_NO_CUSTOMER)}) || "
                   f"{_literal(MADE_UP_INVOICE_SEPARATOR)} || strftime({date}, {_literal(MADE_UP_INVOICE_TIME)})")
    quantity = number("quantity") if "quantity" in roles else "1.0"
    return f"""
            SELECT file_row_number AS {LINE_NUMBER},
                   {invoice} AS InvoiceNo,
                   {text("product", _literal(UNKNOWN_PRODUCT))} AS StockCode,
                   {plain("description", "CAST(NULL AS VARCHAR)")} AS Description,
                   {quantity} AS Quantity,
                   {date} AS InvoiceDate,
                   {number("price")} AS UnitPrice,
                   {customer} AS CustomerID,
                   {plain("country", _literal(UNKNOWN_COUNTRY))} AS Country
            FROM source
    """


def short_reason(exc: Exception) -> str:
    """The first line of what ``exc`` says (at most 120 characters), for a one-sentence error."""
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:120]

