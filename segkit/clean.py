"""Clean transaction lines and report what each rule removed.

Default rules, applied in this order:

1. ``missing customer`` - lines without a CustomerID cannot be attributed.
2. ``missing date`` - lines without a date (a "Grand Total" row, a blank cell).
3. ``outlier dates`` - dates far outside the bulk of the log (``date_window``): before
   the 0.5th percentile of the dates minus one year, after the 99.5th percentile plus
   one year, or after tomorrow. One line dated 2099 would otherwise move the snapshot
   date and give every customer a recency of decades.
4. ``missing quantity`` - blank or ``#N/A`` quantities.
5. ``missing price`` - blank or ``#N/A`` (NaN) prices.
6. ``cancellations`` - lines of invoices starting with ``C`` (and any other line with
   quantity <= 0) are netted against the same customer's purchases of the same
   StockCode made up to the last cancellation, most recent purchase first; purchases
   netted to zero are dropped and the cancellation lines themselves are removed. This is
   what keeps C581484/C541433 from leaving customers 16446 and 12346 as giant false
   top spenders.
7. ``non-positive price`` - UnitPrice <= 0 (free samples, adjustments).
8. ``non-product codes`` - postage, fees, discounts, manual lines, vouchers
   (``NON_PRODUCT_CODES`` / ``NON_PRODUCT_PREFIXES``, configurable).
9. ``duplicate lines`` - exact repeats of a line.

``rules="seed"`` reproduces the original dashboard: drop missing CustomerID, drop
Quantity <= 0 (after rules 2-5, which only remove lines no rule set can use). Either way ``TotalPrice = Quantity * UnitPrice`` (currency units).

Revenue in the report is gross sales: the sum of ``Quantity * UnitPrice`` over lines
with a positive quantity.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Literal

import pandas as pd

#: ``date_window``: percentiles that define the bulk of a log's dates, and the margin.
BULK_QUANTILES = (0.005, 0.995)
OUTLIER_MARGIN = pd.Timedelta(days=365)

__all__ = [
    "NON_PRODUCT_CODES",
    "NON_PRODUCT_PREFIXES",
    "CleaningResult",
    "clean_transactions",
    "date_window",
    "is_non_product",
    "window_around",
]

NON_PRODUCT_CODES = (
    "POST", "DOT", "C2", "M", "m", "D", "S", "B", "BANK CHARGES", "AMAZONFEE",
    "CRUK", "PADS", "DCGSSBOY", "DCGSSGIRL",
)
NON_PRODUCT_PREFIXES = ("gift_0001_", "TEST")

Rules = Literal["default", "seed"]


@dataclass(frozen=True)
class CleaningResult:
    """Clean lines (canonical columns plus ``TotalPrice``) and the per-rule report."""

    lines: pd.DataFrame
    report: pd.DataFrame

    def __iter__(self):  # allows ``lines, report = clean_transactions(...)``
        return iter((self.lines, self.report))


def is_non_product(
    stock_codes: pd.Series,
    codes: Iterable[str] = NON_PRODUCT_CODES,
    prefixes: Iterable[str] = NON_PRODUCT_PREFIXES,
) -> pd.Series:
    """True where a StockCode is postage, a fee, a discount or another non-product line."""
    text = stock_codes.astype("string").str.strip()
    mask = text.isin(list(codes))
    for prefix in prefixes:
        mask |= text.str.startswith(prefix, na=False)
    return mask.fillna(False).astype(bool)


def date_window(dates: pd.Series, now: pd.Timestamp | None = None) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The dates a log may use: from the 0.5th percentile minus one year to the 99.5th
    percentile plus one year, and no later than tomorrow (``now`` + 1 day, UTC).

    Percentiles are taken on the lower value (no interpolation), so the bounds are dates
    in the log; a handful of stray lines cannot move them.
    """
    known = dates.dropna()
    tomorrow = (pd.Timestamp.now(tz="UTC").tz_localize(None) if now is None else pd.Timestamp(now)) + pd.Timedelta(days=1)
    if known.empty:
        return pd.Timestamp.min, tomorrow
    low, high = (known.quantile(q, interpolation="lower") for q in BULK_QUANTILES)
    return window_around(low, high, tomorrow)


def window_around(low: pd.Timestamp, high: pd.Timestamp, tomorrow: pd.Timestamp) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``date_window`` from its percentiles (shared with the out-of-core path)."""
    return pd.Timestamp(low) - OUTLIER_MARGIN, min(pd.Timestamp(high) + OUTLIER_MARGIN, tomorrow)


def clean_transactions(
    transactions: pd.DataFrame,
    rules: Rules = "default",
    non_product_codes: Iterable[str] = NON_PRODUCT_CODES,
    non_product_prefixes: Iterable[str] = NON_PRODUCT_PREFIXES,
) -> CleaningResult:
    """Apply the cleaning rules in order; see the module docstring for each rule."""
    if rules not in ("default", "seed"):
        raise ValueError(f"rules must be 'default' or 'seed', not {rules!r}")
    lines = transactions.copy()
    lines["TotalPrice"] = lines["Quantity"] * lines["UnitPrice"]
    steps: list[dict] = [_report_row("loaded", lines, lines)]

    def apply(rule: str, keep: pd.Series, revenue_removed: float | None = None) -> None:
        nonlocal lines
        before = lines
        lines = lines.loc[keep]
        steps.append(_report_row(rule, before, lines, revenue_removed))

    apply("missing customer", lines["CustomerID"].notna())
    apply("missing date", lines["InvoiceDate"].notna())
    first, last = date_window(lines["InvoiceDate"])
    apply("outlier dates", lines["InvoiceDate"].between(first, last))
    apply("missing quantity", lines["Quantity"].notna())
    apply("missing price", lines["UnitPrice"].notna())
    if rules == "seed":
        apply("quantity <= 0", lines["Quantity"] > 0)
    else:
        before = lines
        lines, netted_revenue = _net_cancellations(lines)
        steps.append(_report_row("cancellations", before, lines, netted_revenue))
        apply("non-positive price", lines["UnitPrice"] > 0)
        apply(
            "non-product codes",
            ~is_non_product(lines["StockCode"], non_product_codes, non_product_prefixes),
        )
        apply("duplicate lines", ~lines.duplicated(subset=lines.columns.drop("TotalPrice")))

    report = pd.DataFrame(steps)
    return CleaningResult(lines.reset_index(drop=True), report)


def _gross_revenue(lines: pd.DataFrame) -> float:
    return float(lines["TotalPrice"].where(lines["Quantity"] > 0, 0.0).sum())


def _report_row(rule: str, before: pd.DataFrame, after: pd.DataFrame, revenue_removed: float | None = None) -> dict:
    if revenue_removed is None:
        revenue_removed = _gross_revenue(before) - _gross_revenue(after)
    return {
        "rule": rule,
        "rows_removed": len(before) - len(after),
        "revenue_removed": round(revenue_removed, 2),
        "rows_left": len(after),
        "revenue_left": round(_gross_revenue(after), 2),
    }


def _net_cancellations(lines: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    """Net cancelled quantities against earlier purchases, latest purchase first.

    Returns the lines without cancellation lines and with netted purchases reduced
    (dropped when reduced to zero), and the gross revenue removed by the netting.
    """
    key = ["CustomerID", "StockCode"]
    is_cancel = lines["InvoiceNo"].str.startswith("C", na=False) | (lines["Quantity"] <= 0)
    cancels = lines.loc[is_cancel]
    purchases = lines.loc[~is_cancel]
    if cancels.empty or purchases.empty:
        return purchases, 0.0

    owed = cancels.assign(Cancelled=-cancels["Quantity"].clip(upper=0)).groupby(key, observed=True).agg(
        Cancelled=("Cancelled", "sum"), LastCancel=("InvoiceDate", "max")
    )
    owed = owed[owed["Cancelled"] > 0]
    candidates = purchases.join(owed, on=key, how="inner")
    candidates = candidates[candidates["InvoiceDate"] <= candidates["LastCancel"]]
    candidates = candidates.sort_values("InvoiceDate", ascending=False, kind="stable")
    taken_before = candidates.groupby(key, observed=True)["Quantity"].cumsum() - candidates["Quantity"]
    removed = (candidates["Cancelled"] - taken_before).clip(lower=0).clip(upper=candidates["Quantity"])
    removed = removed[removed > 0]

    purchases = purchases.copy()
    purchases.loc[removed.index, "Quantity"] = purchases.loc[removed.index, "Quantity"] - removed
    revenue_removed = float((removed * purchases.loc[removed.index, "UnitPrice"]).sum())
    purchases["TotalPrice"] = purchases["Quantity"] * purchases["UnitPrice"]
    return purchases.loc[purchases["Quantity"] > 0], revenue_removed
