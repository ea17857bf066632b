"""The engine interface and what every engine shares: ``Engine`` (run an ibis expression,
compute a step once, number and split lines), ``canonical_table`` (a table in a known layout
as canonical lines, spelled for the engine's ``dialect``), ``date_bounds`` and ``run_rules``,
which runs ``segkit.rules.lines`` on any engine and hands back the cleaning report and the
customer table as pandas. Nothing here decides what a rule or a feature is.

Each engine is a module of its own: ``duckdb`` (in process), ``outofcore`` (DuckDB over a
parquet file larger than memory), ``spark`` and ``database`` (PostgreSQL by URL).

Time zones: zoned timestamps become UTC wall time without a zone on every engine (each
runs with the session time zone UTC). segkit writes its own parquet in microseconds
(``write_parquet``), which every engine reads as timestamps.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import ibis
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from segkit.engines.dialects import DUCKDB, Dialect
from segkit.engines.registered import features_on_engine
from segkit.errors import SegkitDataError
from segkit.ingest.currency import currency_column, log_currency
from segkit.ingest.load import LOG_CURRENCY
from segkit.rules import lines as R
from segkit.rules.registry import feature_functions
from segkit.schema import (
    FX_KEY,
    LAYOUT_KEY,
    LAYOUT_PRESETS,
    LINE_COLUMNS,
    MADE_UP_INVOICE_NO_CUSTOMER,
    MADE_UP_INVOICE_SEPARATOR,
    MADE_UP_INVOICE_TIME,
    MISSING_ID_TEXTS,
    ORDER_STATUS_ROLES,
    TEXT_COLUMNS,
    UNKNOWN_COUNTRY,
    UNKNOWN_PRODUCT,
    WHOLE_NUMBER_ID,
    best_layout,
    snapshot_date_for,
    to_utc_naive,
    window_start,
)
from segkit.schema import tomorrow as next_day

__all__ = ["write_parquet", "arrow_lines", "Engine", "canonical_table", "date_bounds", "netting", "refuse_order_statuses", "run_rules",
           "table_currency"]


def write_parquet(table, path: str | Path, **kwargs) -> None:
    """Write a pandas or Arrow table as parquet with timestamps in microseconds (Spark reads them)."""
    if isinstance(table, pd.DataFrame):
        table = pa.Table.from_pandas(table, preserve_index=False)
    pq.write_table(table, path, coerce_timestamps="us", allow_truncated_timestamps=True, **kwargs)


def arrow_lines(lines: pd.DataFrame):
    """Canonical lines as Arrow with ``line_no``; zoned dates as UTC wall time."""
    frame = pd.DataFrame({c: lines[c] for c in R.LINE_COLUMNS if c in lines})
    for column in R.LINE_COLUMNS:
        if column not in frame:
            frame[column] = pd.Series(pd.NA, index=lines.index, dtype="string")
    frame["InvoiceDate"] = to_utc_naive(pd.to_datetime(frame["InvoiceDate"])).astype("datetime64[us]")
    for column in TEXT_COLUMNS:
        frame[column] = frame[column].astype("string")
    for column in ("Quantity", "UnitPrice"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    frame[R.LINE_NUMBER] = range(len(frame))
    frame = frame.reset_index(drop=True)
    types = {"Quantity": pa.float64(), "InvoiceDate": pa.timestamp("us"), "UnitPrice": pa.float64()}
    schema = pa.schema([(c, types.get(c, pa.string())) for c in LINE_COLUMNS] + [(R.LINE_NUMBER, pa.int64())])
    return pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)


class Engine:
    """Runs ibis expressions on one backend (``self.con``)."""

    name = "engine"
    con: Any
    #: the per-database pieces of the rules (line hash, id-trimming class, session settings)
    dialect: Dialect = DUCKDB
    #: whether ``run_rules`` computes the labelled lines and the repeated line hashes once
    #: each into a table (``materialise``) rather than within each query that reads them: for
    #: a database that writes a table faster than it labels every line again and that holds
    #: a subquery read twice in memory (PostgreSQL); DuckDB and Spark stream them
    stepwise: bool = False

    #: Whether ``run_rules`` computes the small tables that lines join (the units owed by
    #: cancellations, the repeated line hashes) on their own before the steps that join them:
    #: for a planner that then knows their size and sends them to every line rather than
    #: shuffling every line to them (Spark)
    small_steps_first: bool = False

    #: The currency code of the last log ``lines`` / ``table_lines`` read (``table_currency``);
    #: None when it names none.
    currency: str | None = None

    def lines(self, source) -> Any:
        """An ibis table of canonical lines with ``line_no`` from a DataFrame, Arrow table or parquet path."""
        raise NotImplementedError

    def to_pandas(self, expr) -> pd.DataFrame:
        return self.con.to_pandas(expr)

    def to_pandas_soon(self, expr) -> Callable[[], pd.DataFrame]:
        """``to_pandas(expr)`` for later: a function that gives the result. This engine computes
        it now; one that can run a query beside others (Spark) starts it and returns at once."""
        result = self.to_pandas(expr)
        return lambda: result

    def split(self, lines, buckets: int) -> list:
        """``lines`` as ``buckets`` tables by a hash of the customer (filters over ``lines``);
        lines without a customer go to the first (the report counts them there)."""
        bucket = (lines.CustomerID.hash().abs() % buckets).fill_null(0)
        return [lines.filter(bucket == i) for i in range(buckets)]

    def materialise(self, expr):
        """``expr`` computed once for several queries (engines that cannot: ``expr`` itself)."""
        return expr

    def record_batches(self, expr, chunk_size: int):
        """The rows of ``expr``, in its order, as Arrow record batches of about ``chunk_size`` rows."""
        return self.con.to_pyarrow_batches(expr, chunk_size=chunk_size)

    def count(self, expr) -> int:
        return int(self.con.execute(expr.count()))

    def nth_date(self, dated, position: int, descending: bool = False) -> pd.Timestamp:
        """The ``InvoiceDate`` at ``position`` (0-based) of ``dated`` in date order."""
        order = dated.InvoiceDate.desc() if descending else dated.InvoiceDate.asc()
        return pd.Timestamp(self.con.execute(dated.order_by(order).limit(1, offset=position)).iloc[0, 0])

    def close(self) -> None:
        pass


def canonical_table(raw, source: str, columns: Mapping[str, str] | None = None, dialect: Dialect = DUCKDB,
                    line_number=None):
    """A table in a known layout (or mapped by ``columns``) as canonical lines, as
    ``segkit.ingest.load`` reads it: whole-number ids as text (``17850.0`` -> ``'17850'``), text
    trimmed with blanks and ``nan`` missing, numbers as floats. Text dates and text
    numbers are refused: the loader parses those (CSV and Excel files). ``dialect``: the
    engine's (its id-trimming class, ``segkit.engines.dialects``). ``line_number``: an expression
    numbering the lines (a window function), else ``raw``'s own ``line_no`` column."""
    names = set(raw.columns)
    columns = dict(columns or {})
    preset = columns.pop(LAYOUT_KEY, None)
    if columns.pop(FX_KEY, None):
        raise SegkitDataError(f"'{source}': exchange rates (--fx) are applied by the pandas loader only; "
                              "read the log with --engine pandas.")
    if preset is not None and preset not in LAYOUT_PRESETS:
        raise SegkitDataError(f"'{preset}' is not a layout segkit knows; use --layout {', '.join(LAYOUT_PRESETS)}.")
    _, best = best_layout(names, preset)
    roles = {**best, **columns}
    if "amount" in columns and "price" not in columns:
        roles.pop("price", None)
    if "price" in columns and "amount" not in columns:
        roles.pop("amount", None)
    refuse_order_statuses(roles, source)
    unknown = [f"{r}={c}" for r, c in roles.items() if c not in names]
    missing = [r for r in ("customer", "date") if r not in roles] + \
        ([] if "price" in roles or "amount" in roles else ["price (or amount)"])
    if unknown or missing:
        problem = f"no column {', '.join(unknown)}" if unknown else f"no column for {', '.join(missing)}"
        raise SegkitDataError(f"'{source}' has {problem}; found: {', '.join(sorted(names - {R.LINE_NUMBER}))}. "
                              "Pass --columns ROLE=COLUMN,... for its layout.")

    # Text ids trimmed as Python trims (ibis' strip() removes ASCII whitespace only), in a
    # select of their own: the rules below read the trimmed text four times, and a database
    # inlines a plain select's expressions into each use (PostgreSQL ran the regex four times
    # a line); a select that also numbers the lines (a window function) is computed once.
    trimmed = {role: f"_trimmed_{role}" for role in ("invoice", "product", "customer")
               if role in roles and not raw[roles[role]].type().is_numeric()}
    raw = raw.mutate(**{column: dialect.trim_id(raw[roles[role]].cast("string")) for role, column in trimmed.items()},
                     **({} if line_number is None else {R.LINE_NUMBER: line_number}))

    def text(role, default=None):
        if role not in roles:
            return ibis.literal(default, "string")
        if role not in trimmed:
            whole = raw[roles[role]].cast("float64")
            return ibis.cases((whole.isnan(), ibis.null("string")),
                              (whole == whole.floor(), whole.cast("int64").cast("string")),
                              else_=whole.cast("string"))
        value = raw[trimmed[role]]
        # '17850.0' -> '17850' without a back-reference (Spark writes them $1, DuckDB \\1); the
        # LIKE (a dot, a 0 at the end) spares the regex on nearly every id
        whole_number = value.like("%.%0") & value.re_search(WHOLE_NUMBER_ID)
        value = ibis.cases((whole_number, value.re_replace(r"\.0+$", "")), else_=value)
        return ibis.cases((value.isin(list(MISSING_ID_TEXTS)), ibis.null("string")), else_=value)

    def number(role):
        value = raw[roles[role]]
        if not value.type().is_numeric():
            raise SegkitDataError(f"'{source}' stores column '{roles[role]}' as text; the engine reads numbers "
                                  "only: read the file with --engine pandas, or store the column as numbers.")
        value = value.cast("float64")
        return ibis.cases((value.isnan(), ibis.null("float64")), else_=value)

    date = raw[roles["date"]]
    if not date.type().is_timestamp():
        raise SegkitDataError(f"'{source}' stores column '{roles['date']}' as {date.type()}, not as timestamps; "
                              "read it with --engine pandas (the loader parses text dates) or store timestamps.")
    date = date.cast("timestamp")
    quantity = number("quantity") if "quantity" in roles else ibis.literal(1.0, "float64")
    price = number("price") if "price" in roles else number("amount") / ibis.cases((quantity != 0, quantity))
    customer = text("customer")
    invoice = text("invoice") if "invoice" in roles else \
        customer.fill_null(MADE_UP_INVOICE_NO_CUSTOMER) + MADE_UP_INVOICE_SEPARATOR + date.strftime(MADE_UP_INVOICE_TIME)
    return raw.select(
        InvoiceNo=invoice, StockCode=text("product", UNKNOWN_PRODUCT),
        Description=raw[roles["description"]].cast("string") if "description" in roles
        else ibis.null("string"),
        Quantity=quantity, InvoiceDate=date, UnitPrice=price, CustomerID=customer,
        Country=raw[roles["country"]].cast("string") if "country" in roles else ibis.literal(UNKNOWN_COUNTRY),
        **{R.LINE_NUMBER: raw[R.LINE_NUMBER]})


def table_currency(raw, source: str, columns: Mapping[str, str] | None = None, engine: str = "this") -> str | None:
    """The one currency of the raw table ``raw``'s currency column (its distinct values read
    on the engine), None when it has none, or the pandas loader's refusal of mixed
    currencies (``segkit.ingest.currency.log_currency``), saying which engine converts."""
    columns = dict(columns or {})
    _, best = best_layout(set(raw.columns), columns.get(LAYOUT_KEY))
    column = currency_column(list(raw.columns), {**best, **columns})
    if column is None:
        return None
    codes = raw.select(code=raw[column].cast("string")).distinct().limit(50).to_pyarrow().column("code")
    return log_currency(pd.Series(codes.to_pylist(), dtype="object"), column, source, engine=engine)


def refuse_order_statuses(roles: Mapping[str, str], source: str) -> None:
    """Only the pandas loader applies an order's financial status and refunds
    (``segkit.ingest.orders``); an engine given a log that has them refuses it in one sentence
    rather than count refunded or unpaid orders as purchases."""
    present = [f"'{roles[r]}'" for r in ORDER_STATUS_ROLES if r in roles]
    if present:
        raise SegkitDataError(
            f"'{source}' has order statuses or refunds (column {' and '.join(present)}); this engine does not apply "
            "them: use --engine pandas, which drops refunded, voided and unpaid orders and nets partial refunds."
        )


def date_bounds(engine: Engine, lines, now: pd.Timestamp | None = None) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``segkit.clean.date_bounds`` on an engine: the lower-value bulk percentiles of the
    dated lines, exactly (two ordered look-ups), widened by ``OUTLIER_MARGIN``."""
    tomorrow = next_day(now)
    dated = R.dated_lines(lines).select("InvoiceDate")
    n = engine.count(dated)
    if n == 0:
        return pd.Timestamp.min, tomorrow
    low_at, high_at = R.bulk_positions(n)
    low = engine.nth_date(dated, low_at)
    high = engine.nth_date(dated, n - 1 - high_at, descending=True)
    return R.bounds_around(to_utc_naive(low), to_utc_naive(high), tomorrow)


def netting(engine: Engine, lines, bounds: tuple[pd.Timestamp, pd.Timestamp], rules: str):
    """The rules' netting (``segkit.rules.lines.netted_quantities``) computed once by ``engine``
    for every pass over ``lines`` (None: ``rules`` net nothing); the units owed computed
    first where the engine plans better knowing their size (``Engine.small_steps_first``)."""
    if rules != "default":
        return None
    owed = engine.materialise(R.owed_units(lines, bounds)) if engine.small_steps_first else None
    return engine.materialise(R.netted_quantities(lines, bounds, owed))


def run_rules(engine: Engine, lines, rules: str = "default", report: bool = True, customers: bool = True,
              snapshot_date=None, non_product_codes=R.NON_PRODUCT_CODES,
              non_product_prefixes=R.NON_PRODUCT_PREFIXES, kept_lines: bool = False, buckets: int = 1,
              bounds: tuple[pd.Timestamp, pd.Timestamp] | None = None, window_days: int | None = None,
              extra_features=()) -> dict:
    """Clean ``lines`` (an ibis table from ``engine.lines``) and aggregate per customer.

    Returns a dict with ``report`` (the cleaning report), ``customers`` (the customer
    table as the engine gives it; ``segkit.features.customers.finish_customers`` types it) and,
    with ``kept_lines``, ``kept`` (``line_no`` and netted ``Quantity`` of every kept line,
    in file order). ``buckets`` > 1 runs the same expressions once per bucket of
    customers (a hash of the id), for logs too large for one pass: every rule after the
    outlier-date rule and every feature is per customer, so the parts add up. ``bounds``: the
    outlier-date bounds when already known (else ``date_bounds``); returned as ``date_bounds``. ``window_days``: the
    observation window of ``segkit.rules.lines.customer_table``. ``extra_features``: names of
    registered features (``segkit.rules.registry.register_feature``), computed from each
    bucket's clean lines (inside the observation window) by ``segkit.rules.registry``
    and returned as ``features`` (one row per customer that has a value).
    """
    functions = feature_functions(extra_features, engine) if extra_features else {}
    bounds = bounds or date_bounds(engine, lines)
    # the netting is a small table keyed by line number: computed once, before the passes
    # over the lines (every bucket's lines join it)
    netted = netting(engine, lines, bounds, rules)
    if window_days is not None and snapshot_date is None:
        # the observation window's start, from all kept lines, as a value: every bucket counts the same
        # window, and Spark refuses a subquery inside an aggregate's condition
        kept = R.kept_lines(R.labelled_lines(lines, rules, bounds, non_product_codes, non_product_prefixes, netted))
        last = pd.Timestamp(engine.con.execute(kept.InvoiceDate.max()))
        snapshot_date = snapshot_date_for(last)
    counts, extras, tables, clean_parts, feature_parts = [], [], [], [], []
    for part in ([lines] if buckets == 1 else engine.split(lines, buckets)):
        labelled = R.labelled_lines(part, rules, bounds, non_product_codes, non_product_prefixes, netted)
        # lines in memory (``kept_lines``) or on a database: the labelled lines computed once
        # into a table for the several queries below; streamed otherwise (only small tables held)
        labelled = engine.materialise(labelled) if kept_lines or engine.stepwise else labelled
        kept = R.kept_lines(labelled)
        # the report's counts need only the labelled lines: on Spark they run beside the duplicate search
        pending_counts = engine.to_pandas_soon(R.report_counts(labelled)) if report else None
        folds = "duplicate lines" in R.RULES[rules]
        clean = duplicates = None
        if kept_lines:  # in memory: the clean lines, repeats folded by grouping, computed once for what follows
            clean = engine.materialise(R.clean_lines(labelled, rules))
        elif folds:  # streamed: only the few lines that repeat are grouped
            line_hash = engine.dialect.line_hash
            repeated = engine.materialise(R.repeated_hashes(kept, line_hash)) \
                if engine.stepwise or engine.small_steps_first else None
            duplicates = engine.materialise(R.duplicate_copies(kept, line_hash, repeated))
        if report:
            counts.append(pending_counts())
            if folds:
                extras.append(engine.to_pandas(R.duplicate_extras(duplicates) if duplicates is not None
                                               else R.folded_extras(kept, clean)))
        if kept_lines:
            clean_parts.append(engine.to_pandas(clean.select(R.LINE_NUMBER, "Quantity")))
        if customers:
            # Buckets share one snapshot date: the caller's, else set from all buckets below (a
            # whole-table maximum inside the query would gather every customer in one place: on
            # Spark, one partition)
            at = snapshot_date if snapshot_date is not None else _FAR_FUTURE
            tables.append(engine.to_pandas(R.customer_table(kept if clean is None else clean, at, duplicates,
                                                            window_days)))
        if functions:  # the lines the in-memory path hands them: clean, inside the observation window
            since = window_start(snapshot_date, window_days)
            feature_parts.append(features_on_engine(engine, R.clean_lines(labelled, rules) if clean is None else clean,
                                                    functions, since))
    out: dict[str, Any] = {"date_bounds": bounds}
    if report:
        out["report"] = R.report_table(pd.concat(counts, ignore_index=True),
                                       pd.concat(extras, ignore_index=True) if extras else None, rules)
        if engine.currency:  # the log's one currency, kept with the report as the loader keeps it

            out["report"].attrs[LOG_CURRENCY] = engine.currency
    if kept_lines:
        out["kept"] = pd.concat(clean_parts, ignore_index=True).sort_values(R.LINE_NUMBER, kind="stable")
    if customers:
        table = pd.concat(tables, ignore_index=True)
        if snapshot_date is None and len(table):
            # Recency was counted to a far date; move it to midnight after the last purchase.
            last = pd.to_datetime(table["LastPurchase"]).max()
            shift = (_FAR_FUTURE - snapshot_date_for(last)).days
            table["Recency"] = table["Recency"] - shift
        out["customers"] = table
    if functions:
        out["features"] = pd.concat(feature_parts)
    return out


#: Recency is counted to this date when the snapshot date is not given, then shifted (whole days).
_FAR_FUTURE = pd.Timestamp("2200-01-01")

