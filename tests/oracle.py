"""The pandas implementation of the cleaning rules and features, kept as an independent
oracle for the tests (segkit itself runs ``segkit.rules.lines`` on an engine).

This is segkit's pandas code as it stood before the rules were written once as
relational expressions; do not import it from segkit.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from segkit.rules.lines import (
    BULK_QUANTILES,
    NON_PRODUCT_CODES,
    NON_PRODUCT_PREFIXES,
    bounds_around,
)


def is_non_product(stock_codes: pd.Series, codes: Iterable[str] = NON_PRODUCT_CODES,
                   prefixes: Iterable[str] = NON_PRODUCT_PREFIXES) -> pd.Series:
    text = stock_codes.astype("string").str.strip()
    mask = text.isin(list(codes))
    for prefix in prefixes:
        mask |= text.str.startswith(prefix, na=False)
    return mask.fillna(False).astype(bool)


def date_window(dates: pd.Series, now=None):
    known = dates.dropna()
    tomorrow = (pd.Timestamp.now(tz="UTC").tz_localize(None) if now is None else pd.Timestamp(now)) + pd.Timedelta(days=1)
    if known.empty:
        return pd.Timestamp.min, tomorrow
    low, high = (known.quantile(q, interpolation="lower") for q in BULK_QUANTILES)
    return bounds_around(low, high, tomorrow)


def clean_transactions(transactions: pd.DataFrame, rules: str = "default"):
    """(clean lines with TotalPrice, report) exactly as segkit's pandas path computed them."""
    lines = transactions.copy()
    lines["TotalPrice"] = lines["Quantity"] * lines["UnitPrice"]
    steps: list[dict] = [_report_row("loaded", lines, lines)]

    def apply(rule, keep, revenue_removed=None):
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
        apply("non-product codes", ~is_non_product(lines["StockCode"]))
        apply("duplicate lines", ~lines.duplicated(subset=lines.columns.drop("TotalPrice")))
    return lines.reset_index(drop=True), pd.DataFrame(steps)


def _gross_revenue(lines):
    return float(lines["TotalPrice"].where(lines["Quantity"] > 0, 0.0).sum())


def _report_row(rule, before, after, revenue_removed=None):
    if revenue_removed is None:
        revenue_removed = _gross_revenue(before) - _gross_revenue(after)
    return {"rule": rule, "rows_removed": len(before) - len(after), "revenue_removed": round(revenue_removed, 2),
            "rows_left": len(after), "revenue_left": round(_gross_revenue(after), 2)}


def _net_cancellations(lines):
    key = ["CustomerID", "StockCode"]
    is_cancel = lines["InvoiceNo"].str.startswith("C", na=False) | (lines["Quantity"] <= 0)
    cancels = lines.loc[is_cancel]
    purchases = lines.loc[~is_cancel]
    if cancels.empty or purchases.empty:
        return purchases, 0.0
    owed = cancels.assign(Cancelled=-cancels["Quantity"].clip(upper=0)).groupby(key, observed=True).agg(
        Cancelled=("Cancelled", "sum"), LastCancel=("InvoiceDate", "max"))
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


def customer_features(lines: pd.DataFrame, snapshot_date=None) -> pd.DataFrame:
    """The customer table, as segkit's pandas path computed it."""
    from segkit.features.customers import FEATURE_COLUMNS
    from segkit.schema import snapshot_date_for, to_utc_naive

    if "TotalPrice" not in lines:
        lines = lines.assign(TotalPrice=lines["Quantity"] * lines["UnitPrice"])
    lines = lines.assign(InvoiceDate=to_utc_naive(lines["InvoiceDate"]))
    snapshot = snapshot_date_for(lines["InvoiceDate"].max()) if snapshot_date is None else pd.Timestamp(snapshot_date)
    grouped = lines.groupby("CustomerID", observed=True, sort=True)
    table = grouped.agg(NumPurchases=("InvoiceNo", "nunique"), TotalQuantity=("Quantity", "sum"),
                        TotalSpend=("TotalPrice", "sum"), FirstPurchase=("InvoiceDate", "min"),
                        LastPurchase=("InvoiceDate", "max"), DistinctProducts=("StockCode", "nunique"))
    table["Recency"] = (snapshot - table["LastPurchase"]).dt.days.astype("int64")
    table["Tenure"] = (table["LastPurchase"] - table["FirstPurchase"]).dt.days.astype("int64")
    counts = lines.groupby(["CustomerID", "Country"], observed=True).size().rename("n").reset_index()
    counts = counts.sort_values(["CustomerID", "n", "Country"], ascending=[True, False, True], kind="stable")
    table["Country"] = counts.drop_duplicates("CustomerID").set_index("CustomerID")["Country"]
    table.index = table.index.astype("string")
    table.index.name = "CustomerID"
    table = table.reindex(columns=FEATURE_COLUMNS).copy()
    table["TotalSpend"] = table["TotalSpend"].astype("float64").round(2)
    table["AvgOrderValue"] = (table["TotalSpend"] / table["NumPurchases"]).round(2)
    for col in ("NumPurchases", "DistinctProducts", "Recency", "Tenure"):
        table[col] = table[col].astype("int64")
    quantity = table["TotalQuantity"].astype("float64")
    table["TotalQuantity"] = quantity.astype("int64") if np.all(np.mod(quantity, 1) == 0) else quantity
    table["Country"] = table["Country"].astype("string")
    for col in ("FirstPurchase", "LastPurchase"):
        table[col] = table[col].astype("datetime64[ns]")
    return table.sort_index()


def customers_of(transactions: pd.DataFrame, rules: str = "default") -> pd.DataFrame:
    """Oracle customer table of a canonical log: clean, then aggregate."""
    return customer_features(clean_transactions(transactions, rules)[0])


def windowed_customers_of(transactions: pd.DataFrame, window_days: int, rules: str = "default") -> pd.DataFrame:
    """Oracle customer table over an observation window: counts and money over the last
    ``window_days`` days before the snapshot (0 without purchases there), dates, Recency,
    Tenure and country over the whole history."""
    from segkit.schema import snapshot_date_for

    lines = clean_transactions(transactions, rules)[0]
    snapshot = snapshot_date_for(lines["InvoiceDate"].max())
    history = customer_features(lines, snapshot)
    inside = lines[lines["InvoiceDate"] >= snapshot - pd.Timedelta(days=window_days)]
    counted = customer_features(inside, snapshot)
    table = history.copy()
    for column in ("NumPurchases", "TotalQuantity", "TotalSpend", "AvgOrderValue", "DistinctProducts"):
        table[column] = counted[column].reindex(table.index).fillna(0).astype(history[column].dtype)
    return table
