"""The cleaning rules, their report and the customer features, written once.

Every rule and feature here is an ibis expression over a table of canonical lines
(``segkit.schema.CANONICAL_COLUMNS`` plus ``line_no``, the line's position in the file,
which breaks ties between purchases made at the same moment). ``segkit.engines`` runs
the same expressions on DuckDB (in process, in memory or out of core) or on Spark; no
rule or feature is written anywhere else.

Cleaning, in order (``rules="default"``): missing customer, missing date, outlier dates
(``date_bounds``), missing quantity, missing price, cancellations (netted against the
same customer's purchases of the same StockCode made up to the last cancellation,
latest purchase first; ties by line number), non-positive price, non-product codes,
duplicate lines. ``rules="seed"``: the first five, then quantity <= 0. Each line gets the
number of the first rule that removes it (``labelled_lines``); duplicates are folded
into their first copy by ``clean_lines``; the report and the clean lines both come from
that one labelled table.

Features (``customer_table``), one row per customer: NumPurchases (distinct invoices),
TotalQuantity, TotalSpend (sum of Quantity x UnitPrice, currency units), FirstPurchase,
LastPurchase, DistinctProducts (distinct StockCodes), Recency (whole days from the last
purchase to the snapshot date, by default midnight after the last purchase of the table),
Tenure (whole days first to last purchase), AvgOrderValue (TotalSpend / NumPurchases),
Country (most frequent by lines; ties: first by name).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Iterable, Literal, Sequence

import ibis
import ibis.expr.types as ir
import pandas as pd

from segkit.schema import LINE_COLUMNS, LINE_NUMBER

__all__ = ["RULES", "BULK_QUANTILES", "OUTLIER_MARGIN", "NON_PRODUCT_CODES", "NON_PRODUCT_PREFIXES", "Rules", "bounds_around", "dated_lines", "bulk_positions", "owed_units", "netted_quantities", "labelled_lines", "kept_lines", "clean_lines", "repeated_hashes", "duplicate_copies", "duplicate_extras", "folded_extras", "report_counts", "report_table", "customer_table"]


_BEFORE_ANY = ("missing customer", "missing date", "outlier dates", "missing quantity", "missing price")


#: Report rows of each rule set, in the order the rules apply.
RULES: dict[str, tuple[str, ...]] = {
    "default": _BEFORE_ANY + ("cancellations", "non-positive price", "non-product codes", "duplicate lines"),
    "seed": _BEFORE_ANY + ("quantity <= 0",),
}


#: The bulk of a log's dates: these percentiles (lower value), widened by the margin.
BULK_QUANTILES = (0.005, 0.995)


OUTLIER_MARGIN = pd.Timedelta(days=365)


NON_PRODUCT_CODES = (
    "POST", "DOT", "C2", "M", "m", "D", "S", "B", "BANK CHARGES", "AMAZONFEE",
    "CRUK", "PADS", "DCGSSBOY", "DCGSSGIRL",
)


NON_PRODUCT_PREFIXES = ("gift_0001_", "TEST")


Rules = Literal["default", "seed"]


_EARLIEST = pd.Timestamp("1678-01-01")


def bounds_around(low: pd.Timestamp, high: pd.Timestamp, tomorrow: pd.Timestamp) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The dates a log may use, from its bulk percentiles: [low - 1 year, min(high + 1 year, tomorrow)]."""
    return pd.Timestamp(low) - OUTLIER_MARGIN, min(pd.Timestamp(high) + OUTLIER_MARGIN, tomorrow)


def dated_lines(lines: ir.Table) -> ir.Table:
    """Lines the date bounds are taken over: with a customer and a date."""
    return lines.filter(lines.CustomerID.notnull(), lines.InvoiceDate.notnull())


def bulk_positions(n_dated: int) -> tuple[int, int]:
    """0-based positions, in date order, of the lower-value bulk percentiles of ``n_dated`` dates."""
    return tuple(int((n_dated - 1) * q) for q in BULK_QUANTILES)


def _missing(value: ir.Value) -> ir.BooleanValue:
    if value.type().is_floating():
        return value.isnull() | value.isnan()
    return value.isnull()


def _is_non_product(stock_code: ir.StringValue, codes: Iterable[str], prefixes: Iterable[str]) -> ir.BooleanValue:
    text = stock_code  # canonical codes are trimmed (segkit.ingest.load, segkit.engines.base.canonical_table)
    hit = text.isin(list(codes))
    for prefix in prefixes:
        hit = hit | text.startswith(prefix)
    return hit.fill_null(False)


def _first_rule(branches: Sequence[tuple[ir.BooleanValue, str]], rules: Rules) -> ir.IntegerValue:
    """Number (1-based, in ``RULES[rules]``) of the first rule whose condition holds; NULL: kept."""
    order = RULES[rules]
    return ibis.cases(*[(cond, ibis.literal(order.index(name) + 1, "int8")) for cond, name in branches],
                      else_=ibis.null("int8"))


def _bound_scalars(bounds: tuple[pd.Timestamp, pd.Timestamp]) -> tuple[ir.Scalar, ir.Scalar]:
    # engines hold microseconds: widen the bounds to whole microseconds, never narrow them
    low = max(pd.Timestamp(bounds[0]), _EARLIEST)  # pd.Timestamp.min (no dated lines) cannot be floored
    return tuple(ibis.literal(t.to_pydatetime(), "timestamp")
                 for t in (low.floor("us"), pd.Timestamp(bounds[1]).ceil("us")))


def _before_netting(lines: ir.Table, bounds: tuple[pd.Timestamp, pd.Timestamp]) -> list:
    first, last = _bound_scalars(bounds)
    return [
        (lines.CustomerID.isnull(), "missing customer"),
        (lines.InvoiceDate.isnull(), "missing date"),
        (~lines.InvoiceDate.between(first, last), "outlier dates"),
        (_missing(lines.Quantity), "missing quantity"),
        (_missing(lines.UnitPrice), "missing price"),
    ]


def _is_cancel(lines: ir.Table) -> ir.BooleanValue:
    return lines.InvoiceNo.startswith("C").fill_null(False) | (lines.Quantity <= 0)


def _netting_lines(lines: ir.Table, bounds: tuple[pd.Timestamp, pd.Timestamp]) -> ir.Table:
    """The lines the netting sees (no earlier rule removes them), with ``is_cancel``."""
    kept = lines.filter(~ibis.or_(*[cond.fill_null(False) for cond, _ in _before_netting(lines, bounds)]))
    return kept.mutate(is_cancel=_is_cancel(kept))


_NETTING_KEY = ["CustomerID", "StockCode"]


def owed_units(lines: ir.Table, bounds: tuple[pd.Timestamp, pd.Timestamp]) -> ir.Table:
    """Per customer and StockCode with a cancellation: the units cancelled (``Cancelled``)
    and the last cancellation's date (``LastCancel``). The first step of
    ``netted_quantities``, a small table an engine may compute once."""
    cancels = _netting_lines(lines, bounds)
    cancels = cancels.filter(cancels.is_cancel)
    owed = cancels.group_by(_NETTING_KEY).aggregate(
        Cancelled=ibis.greatest(-cancels.Quantity, 0).sum(), LastCancel=cancels.InvoiceDate.max())
    return owed.filter(owed.Cancelled > 0)


def netted_quantities(lines: ir.Table, bounds: tuple[pd.Timestamp, pd.Timestamp],
                      owed: ir.Table | None = None) -> ir.Table:
    """The purchases a cancellation reduces (default rules): ``netted_line`` (their
    ``line_no``) and ``removed`` (units taken off). A small table: only purchases whose
    customer and StockCode have a cancellation take part, so an engine may compute it
    once before the pass over all lines (``labelled_lines(..., netted=)``). ``owed``: the
    lines' ``owed_units`` when an engine has already computed them."""
    kept = _netting_lines(lines, bounds)
    owed = owed_units(lines, bounds) if owed is None else owed
    key = _NETTING_KEY
    purchases = kept.filter(~kept.is_cancel).select(key + [LINE_NUMBER, "Quantity", "InvoiceDate"])
    candidates = purchases.join(owed, key).filter(lambda c: c.InvoiceDate <= c.LastCancel)
    latest_first = ibis.window(group_by=[candidates.CustomerID, candidates.StockCode],
                               order_by=[ibis.desc(candidates.InvoiceDate), candidates[LINE_NUMBER]],
                               rows=(None, 0))
    taken_before = candidates.Quantity.sum().over(latest_first) - candidates.Quantity
    removed = ibis.least(ibis.greatest(candidates.Cancelled - taken_before, 0), candidates.Quantity)
    netted = candidates.select(netted_line=candidates[LINE_NUMBER], removed=removed)
    return netted.filter(netted.removed > 0)


def labelled_lines(
    lines: ir.Table,
    rules: Rules,
    bounds: tuple[pd.Timestamp, pd.Timestamp],
    non_product_codes: Iterable[str] = NON_PRODUCT_CODES,
    non_product_prefixes: Iterable[str] = NON_PRODUCT_PREFIXES,
    netted: ir.Table | None = None,
) -> ir.Table:
    """Every line with ``rule`` (the number of the rule that removes it, NULL when kept),
    ``Quantity`` after netting and ``OriginalQuantity``. ``netted``: the lines' own
    ``netted_quantities`` when an engine has already computed them."""
    if rules not in RULES:
        raise ValueError(f"rules must be 'default' or 'seed', not {rules!r}")
    t = lines.mutate(OriginalQuantity=lines.Quantity)
    before = _before_netting(t, bounds)
    if rules == "seed":
        return t.mutate(rule=_first_rule(before + [(t.Quantity <= 0, "quantity <= 0")], rules))

    netted = netted_quantities(lines, bounds) if netted is None else netted
    t = t.mutate(rule=_first_rule(before, rules), is_cancel=_is_cancel(t))
    t = t.left_join(netted, t[LINE_NUMBER] == netted.netted_line).drop("netted_line")
    # a cancelled purchase is netted only when no earlier rule removed it (netted holds kept lines only)
    t = t.mutate(Quantity=t.Quantity - t.removed.fill_null(0)).drop("removed")
    t = t.mutate(rule=ibis.coalesce(t.rule, _first_rule([
        (t.is_cancel, "cancellations"),
        (t.Quantity <= 0, "cancellations"),  # purchases netted to zero
        (t.UnitPrice <= 0, "non-positive price"),
        (_is_non_product(t.StockCode, non_product_codes, non_product_prefixes), "non-product codes"),
    ], rules)))
    return t.drop("is_cancel")


def kept_lines(labelled: ir.Table) -> ir.Table:
    """The lines no rule removed, duplicates included."""
    return labelled.filter(labelled.rule.isnull())


def clean_lines(labelled: ir.Table, rules: Rules) -> ir.Table:
    """The lines no rule removed: canonical columns, ``line_no`` and ``TotalPrice``.

    Default rules: exact repeats of a kept line (same canonical columns after netting)
    are one line, the first in file order (the rule ``duplicate lines``)."""
    kept = kept_lines(labelled)
    if "duplicate lines" in RULES[rules]:
        kept = kept.group_by(LINE_COLUMNS).aggregate(**{LINE_NUMBER: kept[LINE_NUMBER].min()})
    kept = kept.select(LINE_COLUMNS + [LINE_NUMBER])
    return kept.mutate(TotalPrice=kept.Quantity * kept.UnitPrice)


def repeated_hashes(kept: ir.Table, line_hash: Callable[[ir.Table], ir.IntegerValue]) -> ir.Table:
    """The line hashes (``repeated_hash``) that more than one of the ``kept`` lines has: the
    first step of ``duplicate_copies``, a small table an engine may compute once."""
    hashed = kept.mutate(line_hash=line_hash(kept))
    repeated = hashed.group_by("line_hash").aggregate(n=hashed.count())
    return repeated.filter(repeated.n > 1).select(repeated_hash="line_hash")


def duplicate_copies(kept: ir.Table, line_hash: Callable[[ir.Table], ir.IntegerValue],
                     repeated: ir.Table | None = None) -> ir.Table:
    """Exact repeats among ``kept`` lines (``kept_lines``): the canonical columns of each
    line seen more than once and ``extra``, its copies beyond the first (the rule
    ``duplicate lines``). A small table: a 64-bit hash of each line picks the few lines
    that may repeat, and only those are compared column by column, so no engine holds
    all lines grouped by all their columns (a hash collision only adds a line to compare).
    ``line_hash``: the engine's hash of a table's lines (``segkit.engines.dialects``: each
    database spells it differently). ``repeated``: the ``repeated_hashes`` of ``kept`` when an
    engine has already computed them."""
    hashed = kept.mutate(line_hash=line_hash(kept))
    repeated = repeated_hashes(kept, line_hash) if repeated is None else repeated
    suspects = hashed.semi_join(repeated, hashed.line_hash == repeated.repeated_hash)
    groups = suspects.group_by(LINE_COLUMNS).aggregate(extra=suspects.count() - 1)
    return groups.filter(groups.extra > 0)


def _gross(quantity: ir.NumericValue, price: ir.NumericValue) -> ir.NumericScalar:
    return ibis.cases((quantity > 0, quantity * price), else_=0.0).sum()


def duplicate_extras(duplicates: ir.Table) -> ir.Table:
    """What the ``duplicates`` (``duplicate_copies``) add beyond their first copies: lines
    (``extra_lines``) and gross revenue (``extra_gross``); one row, from a small table."""
    d = duplicates
    return d.aggregate(extra_lines=d.extra.sum(), extra_gross=ibis.cases(
        (d.Quantity > 0, d.extra * d.Quantity * d.UnitPrice), else_=0.0).sum())


def folded_extras(kept: ir.Table, clean: ir.Table) -> ir.Table:
    """``duplicate_extras`` where the repeats are already folded into the ``clean`` lines
    (``clean_lines``, lines in memory): what the ``kept`` lines have beyond them."""
    k = kept.aggregate(lines=kept.count(), gross=_gross(kept.Quantity, kept.UnitPrice))
    c = clean.aggregate(clean_lines=clean.count(), clean_gross=_gross(clean.Quantity, clean.UnitPrice))
    both = k.cross_join(c)
    return both.select(extra_lines=both.lines - both.clean_lines, extra_gross=both.gross - both.clean_gross)


def report_counts(labelled: ir.Table) -> ir.Table:
    """Per rule number (NULL: kept): lines, gross revenue before and after netting, netted revenue."""
    t = labelled
    return t.group_by("rule").aggregate(
        lines=t.count(), gross_before=_gross(t.OriginalQuantity, t.UnitPrice),
        gross_after=_gross(t.Quantity, t.UnitPrice),
        netted=((t.OriginalQuantity - t.Quantity) * t.UnitPrice).sum())


def report_table(counts: pd.DataFrame, extras: pd.DataFrame | None, rules: Rules) -> pd.DataFrame:
    """The cleaning report (rule, rows_removed, revenue_removed, rows_left, revenue_left):
    a first row ``loaded`` and one row per rule, from ``report_counts`` and (when the
    rules fold duplicates) ``duplicate_extras`` or ``folded_extras`` run by an engine (rows of several runs may
    be stacked: they add up).

    Revenue is gross sales (Quantity x UnitPrice of lines with a positive quantity); rules
    after the netting see the netted quantities; the cancellations row removes the netted
    revenue; ``duplicate lines`` removes what the kept lines (the counts' NULL rule) lose
    to their first copies: no engine passes over the lines again for the clean total.
    """
    counts = counts.astype({"lines": "int64"}).fillna({"gross_before": 0.0, "gross_after": 0.0, "netted": 0.0})
    code = counts["rule"].astype("float64").fillna(float("inf"))
    names = RULES[rules]
    netting = names.index("cancellations") + 1 if "cancellations" in names else len(names) + 1
    kept = counts[code == float("inf")]
    clean_lines_n, clean_gross = int(kept["lines"].sum()), float(kept["gross_after"].sum())
    if extras is not None:
        clean_lines_n -= int(extras["extra_lines"].fillna(0).sum())
        clean_gross -= float(extras["extra_gross"].fillna(0.0).sum())

    def left(after: float, column: str) -> tuple[int, float]:
        rest = counts[code > after]
        return int(rest["lines"].sum()), float(rest[column].sum())

    rows_left, revenue_left = left(0, "gross_before")
    steps = [{"rule": "loaded", "rows_removed": 0, "revenue_removed": 0.0,
              "rows_left": rows_left, "revenue_left": round(revenue_left, 2)}]
    for number, name in enumerate(names, start=1):
        column = "gross_before" if number < netting else "gross_after"
        mine = counts[code == number]
        if name == "duplicate lines":
            removed_rows, removed_revenue = rows_left - clean_lines_n, revenue_left - clean_gross
            rows_left, revenue_left = clean_lines_n, clean_gross
        else:
            removed_rows = int(mine["lines"].sum())
            removed_revenue = float(counts["netted"].sum()) if number == netting else float(mine[column].sum())
            rows_left, revenue_left = left(number, column)
        steps.append({"rule": name, "rows_removed": removed_rows, "revenue_removed": round(removed_revenue, 2),
                      "rows_left": rows_left, "revenue_left": round(revenue_left, 2)})
    return pd.DataFrame(steps)


def _days(later: ir.TimestampValue, earlier: ir.TimestampValue) -> ir.IntegerValue:
    """Whole days from ``earlier`` to ``later`` (floor, as pandas ``Timedelta.days``)."""
    return ((later.epoch_seconds() - earlier.epoch_seconds()) / 86400).floor().cast("int64")


def _midnight_after(moment: ir.TimestampValue) -> ir.TimestampValue:
    """``segkit.schema.midnight_after`` as an expression: the snapshot date after ``moment``."""
    return moment.truncate("D") + ibis.interval(days=1)


def _window_start(at: ir.TimestampValue, window_days: int) -> ir.TimestampValue:
    """``segkit.schema.window_start`` as an expression."""
    return at - ibis.interval(days=int(window_days))


def customer_table(kept: ir.Table, snapshot_date: pd.Timestamp | None = None,
                   duplicates: ir.Table | None = None, window_days: int | None = None) -> ir.Table:
    """One row per customer with the features in the module docstring, from the ``kept``
    lines less their ``duplicates`` (``duplicate_copies``; None: nothing to fold).

    Distinct invoices and products and the first and last dates do not depend on
    repeats; quantity, spend and the lines per country do, and lose the repeats' copies.
    Every aggregate streams over the lines (one pass per customer, one per customer and
    country): no step holds the lines themselves.

    ``window_days`` (the observation window, ``segkit.features.customers.customer_features``):
    purchases, quantity, spend, products and the average order count only the lines of
    the last ``window_days`` days before the snapshot date (0 for a customer with none);
    dates, Recency, Tenure and the country stay those of the whole history; customers
    whose first purchase is not before the snapshot date are left out."""
    if snapshot_date is not None:
        at = ibis.literal(pd.Timestamp(snapshot_date).to_pydatetime(), "timestamp")
    elif window_days is not None:  # the window needs the snapshot date before the aggregation
        at = _midnight_after(kept.InvoiceDate.max().as_scalar())
    inside = None if window_days is None else kept.InvoiceDate >= _window_start(at, window_days)
    table = kept.group_by("CustomerID").aggregate(
        NumPurchases=kept.InvoiceNo.nunique(where=inside),
        FirstPurchase=kept.InvoiceDate.min(),
        LastPurchase=kept.InvoiceDate.max(),
        DistinctProducts=kept.StockCode.nunique(where=inside),
    )
    per_country = kept.group_by(["CustomerID", "Country"]).aggregate(
        n=kept.count(), quantity=kept.Quantity.sum(where=inside).fill_null(0),
        spend=(kept.Quantity * kept.UnitPrice).sum(where=inside).fill_null(0))
    if duplicates is not None:
        d = duplicates
        d_inside = None if window_days is None else d.InvoiceDate >= _window_start(at, window_days)
        extra = d.group_by(["CustomerID", "Country"]).aggregate(
            n_x=d.extra.sum(), quantity_x=(d.extra * d.Quantity).sum(where=d_inside),
            spend_x=(d.extra * d.Quantity * d.UnitPrice).sum(where=d_inside))
        joined = per_country.left_join(extra, [per_country.CustomerID == extra.CustomerID,
                                               per_country.Country.identical_to(extra.Country)])
        per_country = joined.select(
            CustomerID=per_country.CustomerID, Country=per_country.Country,
            n=per_country.n - extra.n_x.fill_null(0),
            quantity=per_country.quantity - extra.quantity_x.fill_null(0),
            spend=per_country.spend - extra.spend_x.fill_null(0))
    # most lines first, known countries before a missing one, ties by name
    order = ibis.window(group_by=per_country.CustomerID,
                        order_by=[per_country.Country.isnull(), ibis.desc(per_country.n), per_country.Country])
    everyone = ibis.window(group_by=per_country.CustomerID)
    money = per_country.mutate(rank=ibis.row_number().over(order),
                               TotalQuantity=per_country.quantity.sum().over(everyone),
                               TotalSpend=per_country.spend.sum().over(everyone))
    money = money.filter(money["rank"] == 0).select(
        money_of="CustomerID", TotalQuantity="TotalQuantity", TotalSpend="TotalSpend", Country="Country")
    table = table.join(money, table.CustomerID == money.money_of)
    table = table.select("CustomerID", "NumPurchases", "TotalQuantity", "TotalSpend", "FirstPurchase",
                         "LastPurchase", "DistinctProducts", "Country")
    if snapshot_date is None and window_days is None:  # from the customer table: no second pass over the lines
        at = _midnight_after(table.LastPurchase.max())
    if window_days is not None:
        table = table.filter(table.FirstPurchase < at)
    return table.mutate(
        Recency=_days(at, table.LastPurchase),
        Tenure=_days(table.LastPurchase, table.FirstPurchase),
        AvgOrderValue=ibis.cases((table.NumPurchases > 0, table.TotalSpend / table.NumPurchases), else_=0.0),
    )

