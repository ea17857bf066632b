"""Clean transaction lines and report what each rule removed.

The rules themselves are written once, as relational expressions, in ``segkit.rules.lines``;
this module runs them in process (DuckDB) on a loaded log and hands back pandas.

Default rules, applied in this order:

1. ``missing customer`` - lines without a CustomerID cannot be attributed.
2. ``missing date`` - lines without a date (a "Grand Total" row, a blank cell).
3. ``outlier dates`` - dates far outside the bulk of the log (``date_bounds``): before
   the 0.5th percentile of the dates minus one year, after the 99.5th percentile plus
   one year, or after tomorrow. One line dated 2099 would otherwise move the snapshot date
   date and give every customer a recency of decades.
4. ``missing quantity`` - blank or ``#N/A`` quantities.
5. ``missing price`` - blank or ``#N/A`` (NaN) prices.
6. ``cancellations`` - lines of invoices starting with ``C`` (and any other line with
   quantity <= 0) are netted against the same customer's purchases of the same
   StockCode made up to the last cancellation, most recent purchase first (ties: file
   order); purchases netted to zero are dropped and the cancellation lines themselves
   are removed. This is what keeps C581484/C541433 from leaving customers 16446 and
   12346 as giant false top spenders.
7. ``non-positive price`` - UnitPrice <= 0 (free samples, adjustments).
8. ``non-product codes`` - postage, fees, discounts, manual lines, vouchers
   (``NON_PRODUCT_CODES`` / ``NON_PRODUCT_PREFIXES``, configurable).
9. ``duplicate lines`` - exact repeats of a line (canonical columns).

``rules="seed"`` reproduces the original dashboard: drop missing CustomerID, drop
Quantity <= 0 (after rules 2-5, which only remove lines no rule set can use). Either way
``TotalPrice = Quantity * UnitPrice`` (currency units).

Revenue in the report is gross sales: the sum of ``Quantity * UnitPrice`` over lines
with a positive quantity.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Iterable, Literal

import numpy as np
import pandas as pd

from segkit.engines.base import run_rules
from segkit.engines.duckdb import local_engine
from segkit.rules.lines import (
    BULK_QUANTILES,
    NON_PRODUCT_CODES,
    NON_PRODUCT_PREFIXES,
    OUTLIER_MARGIN,
    bounds_around,
    bulk_positions,
)
from segkit.schema import to_utc_naive
from segkit.schema import tomorrow as next_day

__all__ = [
    "BULK_QUANTILES",
    "OUTLIER_MARGIN",
    "NON_PRODUCT_CODES",
    "NON_PRODUCT_PREFIXES",
    "CleaningResult",
    "clean_transactions",
    "date_bounds",
    "bounds_around",
]

Rules = Literal["default", "seed"]


@dataclass(frozen=True)
class CleaningResult:
    """Clean lines (canonical columns plus ``TotalPrice``) and the per-rule report."""

    lines: pd.DataFrame
    report: pd.DataFrame

    def __iter__(self):  # allows ``lines, report = clean_transactions(...)``
        return iter((self.lines, self.report))


def date_bounds(dates: pd.Series, now: pd.Timestamp | None = None) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The dates a log may use: from the 0.5th percentile minus one year to the 99.5th
    percentile plus one year, and no later than tomorrow (``now`` + 1 day, UTC).

    Percentiles are taken on the lower value (no interpolation), so the bounds are dates
    in the log; a handful of stray lines cannot move them. The same two order statistics
    as ``segkit.engines.base.date_bounds`` (``rules.bulk_positions``), taken in memory with
    ``numpy.partition``: a live refresh asks for them at every new file.
    """
    tomorrow = next_day(now)
    stamps = pd.to_datetime(dates).dropna()
    if isinstance(stamps.dtype, pd.DatetimeTZDtype):
        stamps = to_utc_naive(stamps)
    if len(stamps) == 0:
        return pd.Timestamp.min, tomorrow
    low_at, high_at = bulk_positions(len(stamps))
    values = np.partition(stamps.to_numpy(dtype="datetime64[ns]"), [low_at, high_at])
    return bounds_around(pd.Timestamp(values[low_at]), pd.Timestamp(values[high_at]), tomorrow)


def clean_transactions(
    transactions: pd.DataFrame,
    rules: Rules = "default",
    non_product_codes: Iterable[str] = NON_PRODUCT_CODES,
    non_product_prefixes: Iterable[str] = NON_PRODUCT_PREFIXES,
    date_bounds: tuple[pd.Timestamp, pd.Timestamp] | None = None,
    window: tuple[pd.Timestamp, pd.Timestamp] | None = None,
) -> CleaningResult:
    """Apply the cleaning rules in order and report what each removed.

    The rules are ``segkit.rules.lines``, run in process by DuckDB: lines without a
    customer, date, quantity or price, outlier dates, cancellations netted against the
    purchases they cancel, non-positive prices, non-product codes and exact duplicates
    (``rules="default"``); or the original dashboard's two rules (``rules="seed"``).

    Parameters
    ----------
    transactions : pandas.DataFrame
        Canonical lines, as ``segkit.ingest.load.load_transactions`` returns them.
    rules : {"default", "seed"}, default "default"
        Which rule set to apply.
    non_product_codes, non_product_prefixes : iterable of str
        Stock codes (exact, and by prefix) that are not products (postage, fees, ...).
    date_bounds : tuple of pandas.Timestamp, optional
        The outlier-date bounds when already known (``segkit.clean.date_bounds`` of a larger
        log these lines are part of); default: taken from ``transactions``.
    window : tuple of pandas.Timestamp, optional
        Deprecated name of ``date_bounds`` ("window" is the observation window only).

    Returns
    -------
    CleaningResult
        ``lines``: the kept lines in their original order, with their columns and types,
        netted quantities and ``TotalPrice``; ``report``: one row per rule with
        ``rule, rows_removed, revenue_removed, rows_left, revenue_left``. It unpacks as
        ``lines, report = clean_transactions(...)``.

    Examples
    --------
    >>> from segkit.ingest.sample import generate_sample_transactions
    >>> lines, report = clean_transactions(generate_sample_transactions(n_customers=200))
    >>> list(report.columns)
    ['rule', 'rows_removed', 'revenue_removed', 'rows_left', 'revenue_left']
    >>> bool((lines["Quantity"] > 0).all())
    True
    """
    if rules not in ("default", "seed"):
        raise ValueError(f"rules must be 'default' or 'seed', not {rules!r}")
    if window is not None:
        warnings.warn("clean_transactions(window=...) is deprecated; pass date_bounds=... (the same bounds).",
                      DeprecationWarning, stacklevel=2)
        date_bounds = date_bounds if date_bounds is not None else window
    with local_engine() as engine:
        out = run_rules(engine, engine.lines(transactions), rules, customers=False, kept_lines=True, bounds=date_bounds,
                        non_product_codes=tuple(non_product_codes), non_product_prefixes=tuple(non_product_prefixes))
    kept = out["kept"]
    lines = transactions.iloc[kept["line_no"].to_numpy()].reset_index(drop=True)
    quantity = kept["Quantity"].to_numpy()
    if pd.api.types.is_integer_dtype(lines["Quantity"].dtype):
        quantity = quantity.astype(lines["Quantity"].dtype.type if hasattr(lines["Quantity"].dtype, "type") else "int64")
    lines["Quantity"] = pd.Series(quantity, index=lines.index).astype(lines["Quantity"].dtype)
    lines["TotalPrice"] = lines["Quantity"] * lines["UnitPrice"]
    return CleaningResult(lines, out["report"])
