"""How customers and segments move over time: cohorts, monthly trends, migration.

DataFrame in, DataFrame out; the figures are in ``segkit.views.plots`` (``cohort_heatmap``,
``segment_trend``, ``migration_sankey``).

- ``cohort_retention``: monthly acquisition cohorts (month of a customer's first purchase)
  against months since that first purchase: customers active and revenue.
- ``segment_trend``: revenue and active customers per segment per calendar month.
- ``migration_table``: segment at a cut-off against segment now, as counts or row shares.
- ``equal_window_segments``: each customer's segment at a cut-off and now, each counted
  over the same number of days, so a move is a change in what the customer did and never
  just more history.

For the page: pass the lines (and segments) already filtered by country or segment; every
function works on whatever subset it is given. The segments at a cut-off come from the
same model applied to the lines up to that date, over the model's own observation window
ending at the cut-off (``segkit.dashboard.value_panel.segments_at``; see ``03-score.ipynb``).
"""
from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from segkit.features.customers import customer_features, customer_features_as_of
from segkit.modeling.label import segment_order
from segkit.schema import snapshot_date_for

__all__ = ["NEW_CUSTOMER", "NOT_SCORED", "cohort_retention", "segment_trend", "migration_table",
           "migration_window", "equal_window_segments"]

#: Row of ``migration_table`` for customers who had not bought by the cut-off.
NEW_CUSTOMER = "(new since cut-off)"
#: Column of ``migration_table`` for customers scored at the cut-off but not now.
NOT_SCORED = "(not scored now)"


def _months(dates: pd.Series) -> pd.Series:
    return dates.dt.to_period("M")


def cohort_retention(lines: pd.DataFrame) -> pd.DataFrame:
    """Customers active and revenue per acquisition cohort and month since the first purchase.

    ``lines``: clean lines with ``CustomerID``, ``InvoiceDate`` and ``TotalPrice`` (or
    ``Quantity`` and ``UnitPrice``). A customer's cohort is the calendar month of their
    first purchase in ``lines``; ``MonthsSince`` counts calendar months from it (0 = the
    first month, where ``ActiveShare`` is 1 by definition).

    Returns one row per cohort and month with purchases: ``Cohort`` (first day of the
    month, Timestamp), ``MonthsSince`` (int), ``CohortSize`` (customers in the cohort),
    ``Active`` (of them, customers who bought in that month), ``ActiveShare`` (0-1),
    ``Revenue`` (currency, the cohort's purchases in that month), ``RevenuePerCustomer``
    (revenue over cohort size).
    """
    if "TotalPrice" not in lines:
        lines = lines.assign(TotalPrice=lines["Quantity"] * lines["UnitPrice"])
    columns = ["Cohort", "MonthsSince", "CohortSize", "Active", "ActiveShare", "Revenue", "RevenuePerCustomer"]
    if lines.empty:
        return pd.DataFrame(columns=columns)
    dates = lines["InvoiceDate"]
    frame = pd.DataFrame({"CustomerID": lines["CustomerID"].astype("string"),
                          "Month": (dates.dt.year * 12 + dates.dt.month - 1).astype("int64"),  # months since year 0
                          "Revenue": lines["TotalPrice"].astype("float64")})
    frame["Cohort"] = frame.groupby("CustomerID", observed=True)["Month"].transform("min")
    frame["MonthsSince"] = frame["Month"] - frame["Cohort"]
    table = frame.groupby(["Cohort", "MonthsSince"], observed=True).agg(
        Active=("CustomerID", "nunique"), Revenue=("Revenue", "sum")).reset_index()
    sizes = frame.groupby("Cohort", observed=True)["CustomerID"].nunique().rename("CohortSize")
    table = table.join(sizes, on="Cohort")
    table["ActiveShare"] = table["Active"] / table["CohortSize"]
    table["RevenuePerCustomer"] = table["Revenue"] / table["CohortSize"]
    table["Cohort"] = pd.to_datetime({"year": table["Cohort"] // 12, "month": table["Cohort"] % 12 + 1, "day": 1})
    return table[columns].sort_values(["Cohort", "MonthsSince"], ignore_index=True)


def _segment_series(segmented: pd.DataFrame | pd.Series) -> pd.Series:
    segments = segmented["Segment"] if isinstance(segmented, pd.DataFrame) else segmented
    segments = segments.astype("string")
    segments.index = segments.index.astype("string")
    return segments


def segment_trend(lines: pd.DataFrame, segmented: pd.DataFrame | pd.Series) -> pd.DataFrame:
    """Revenue and active customers per segment per calendar month.

    ``segmented``: the segment of each customer (a Series of names indexed by
    ``CustomerID``, or a DataFrame with a ``Segment`` column); lines of customers without a
    segment are left out. Returns ``Month`` (first day, Timestamp), ``Segment``, ``Revenue``
    (currency), ``Customers`` (customers who bought that month), ``Share`` (the segment's
    part of the month's revenue, 0-1), sorted by month and segment order. A segment is
    the customer's segment now, so the chart shows where today's segments came from.
    """
    if "TotalPrice" not in lines:
        lines = lines.assign(TotalPrice=lines["Quantity"] * lines["UnitPrice"])
    segments = _segment_series(segmented)
    frame = pd.DataFrame({"Month": _months(lines["InvoiceDate"]).dt.to_timestamp(),
                          "Segment": lines["CustomerID"].astype("string").map(segments),
                          "CustomerID": lines["CustomerID"].astype("string"),
                          "Revenue": lines["TotalPrice"].astype("float64")}).dropna(subset=["Segment"])
    table = frame.groupby(["Month", "Segment"], observed=True).agg(
        Revenue=("Revenue", "sum"), Customers=("CustomerID", "nunique")).reset_index()
    table["Segment"] = table["Segment"].astype(str)
    table["Share"] = table["Revenue"] / table.groupby("Month")["Revenue"].transform("sum")
    order = {name: i for i, name in enumerate(segment_order(table["Segment"]))}
    table = table.sort_values(["Month", "Segment"], key=lambda s: s.map(order) if s.name == "Segment" else s,
                              ignore_index=True)
    return table[["Month", "Segment", "Revenue", "Customers", "Share"]]


def _reading_order(names, order: Sequence[str] | None) -> list[str]:
    """``names`` in ``order`` (e.g. ``label.RFM_ORDER``), the rest after it by ``segment_order``."""
    names = {str(n) for n in names}
    first = [n for n in (order or ()) if n in names]
    return first + segment_order(names - set(first))


def migration_table(before: pd.Series, after: pd.Series, normalize: bool = False,
                    include_new: bool = True, order: Sequence[str] | None = None) -> pd.DataFrame:
    """Customers by segment at the cut-off (rows) and segment now (columns).

    ``before`` and ``after``: segment names indexed by ``CustomerID``. Customers only in
    ``after`` form the row ``NEW_CUSTOMER``, customers only in ``before`` the column
    ``NOT_SCORED`` (both left out with ``include_new=False``). With ``normalize`` each row
    holds shares (0-1) of its row's customers. Segments in the fixed reading order of the
    model's segments (``label.segment_order``), or in ``order`` (best first, e.g.
    ``label.RFM_ORDER`` for RFM segments).
    """
    before, after = _segment_series(before), _segment_series(after)
    if not include_new:
        both = before.index.intersection(after.index)
        before, after = before.loc[both], after.loc[both]
    everyone = before.index.union(after.index)
    rows = before.reindex(everyone).fillna(NEW_CUSTOMER).astype(str).rename("Segment before")
    cols = after.reindex(everyone).fillna(NOT_SCORED).astype(str).rename("Segment after")
    table = pd.crosstab(rows, cols, normalize="index" if normalize else False)
    row_order = (_reading_order(set(table.index) - {NEW_CUSTOMER}, order)
                 + ([NEW_CUSTOMER] if NEW_CUSTOMER in table.index else []))
    col_order = (_reading_order(set(table.columns) - {NOT_SCORED}, order)
                 + ([NOT_SCORED] if NOT_SCORED in table.columns else []))
    return table.loc[row_order, col_order]


def migration_window(lines: pd.DataFrame, cutoff: pd.Timestamp | str, window_days: int | None = None) -> int:
    """Days both sides of a migration count: ``window_days`` (a model's own observation
    window) or, for a model of whole logs, all the days the log holds before the cut-off."""
    if window_days:
        return int(window_days)
    return max(int((pd.Timestamp(cutoff) - lines["InvoiceDate"].min().normalize()).days), 1)


def equal_window_segments(segment_of, lines: pd.DataFrame, cutoff: pd.Timestamp | str,
                          window_days: int | None = None, extra_features=()) -> tuple[pd.Series, pd.Series]:
    """Each customer's segment at ``cutoff`` and now, over windows of equal length.

    Comparing a customer with six months of history against the same customer with
    twelve shows upgrades that are only more history. Here both sides count the same
    ``migration_window`` days: the days before ``cutoff``, and as many days before the
    day after the log's last purchase. Purchases, quantities and spend are counted within
    the window; dates (recency, tenure) over the whole history, as ``customer_features``
    does with ``window_days``, so a customer silent through a window keeps their row with
    nothing bought in it. ``segment_of`` maps such a customer table to segment names (a
    model's ``segment(...)["Segment"]``, or RFM names). Customers who had not bought by the
    cut-off are missing from the first Series (``migration_table`` makes them ``NEW_CUSTOMER``).

    Returns ``(then, now)``: names indexed by ``CustomerID`` (text), for ``migration_table``.
    """
    days = migration_window(lines, cutoff, window_days)

    then, now = pd.Timestamp(cutoff), snapshot_date_for(lines["InvoiceDate"].max())
    if not extra_features:  # both tables from one pass over the lines
        tables = customer_features_as_of(lines, [then, now], window_days=days)
    else:
        tables = {day: customer_features(lines[lines["InvoiceDate"] < day], snapshot_date=day, window_days=days,
                                         extra_features=list(extra_features))
                  for day in (then, now) if (lines["InvoiceDate"] < day).any()}

    def as_of(day: pd.Timestamp) -> pd.Series:
        if day not in tables or tables[day].empty:
            return pd.Series(dtype="string", name="Segment")
        return _segment_series(pd.Series(segment_of(tables[day]))).rename("Segment")

    return as_of(then), as_of(now)
