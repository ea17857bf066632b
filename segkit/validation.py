"""Out-of-sample check of segments: do they tell apart who buys, and how much, next?

Segment customers on their purchases before a cut-off date; look at each customer's
spend in the ``months`` after it (``next_period_spend``: sum of Quantity x UnitPrice of
their lines in the window, cancellations included, floored at 0). A segmentation is
useful to the extent its segments differ in that spend: ``eta_squared`` is the
between-segment share of the variance of log(1 + spend). The baseline is the 13-level
RFM score (quintiles 1..5 of -Recency, NumPurchases and TotalSpend, summed).
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from .features import customer_features
from .label import rfm_scores

__all__ = ["next_period_spend", "eta_squared", "rfm_score", "holdout", "holdout_summary"]


def next_period_spend(transactions: pd.DataFrame, cutoff: pd.Timestamp | str, months: int = 3) -> pd.Series:
    """Spend per CustomerID in ``[cutoff, cutoff + months)`` from raw (uncleaned) lines;
    cancellations count, totals floored at 0."""
    cutoff = pd.Timestamp(cutoff)
    end = cutoff + pd.DateOffset(months=months)
    window = transactions[(transactions["InvoiceDate"] >= cutoff) & (transactions["InvoiceDate"] < end)
                          & transactions["CustomerID"].notna()]
    spend = (window["Quantity"] * window["UnitPrice"]).groupby(window["CustomerID"]).sum()
    return spend.clip(lower=0)


def eta_squared(values: pd.Series, groups) -> float:
    """Between-group share of the variance of ``values`` (0..1)."""
    values = pd.Series(np.asarray(values, dtype="float64"))
    groups = pd.Series(np.asarray(groups), index=values.index)
    total = ((values - values.mean()) ** 2).sum()
    if total == 0:
        return float("nan")
    means = values.groupby(groups).transform("mean")
    return float(((means - values.mean()) ** 2).sum() / total)


def rfm_score(customers: pd.DataFrame) -> pd.Series:
    """R + F + M quintile scores (3..15), ties sharing one score."""
    scores = rfm_scores(customers)
    return (scores["R"] + scores["F"] + scores["M"]).rename("RFM score")


def holdout(lines: pd.DataFrame, transactions: pd.DataFrame, cutoff: pd.Timestamp | str, model_factory,
            months: int = 3) -> pd.DataFrame:
    """Customers as of ``cutoff`` with their segment from ``model_factory()`` fitted on
    clean ``lines`` before the cut-off, the RFM score, and what they did next:
    ``NextSpend`` and ``Returned`` (bought in the following ``months``)."""
    cutoff = pd.Timestamp(cutoff)
    customers = customer_features(lines[lines["InvoiceDate"] < cutoff], snapshot_date=cutoff)
    segmented = model_factory().fit(customers).segment(customers)
    spend = next_period_spend(transactions, cutoff, months)
    spend.index = spend.index.astype(customers.index.dtype) if spend.index.dtype != customers.index.dtype else spend.index
    segmented["RFMScore"] = rfm_score(customers)
    segmented["NextSpend"] = spend.reindex(customers.index).fillna(0.0).to_numpy()
    bought = transactions[(transactions["InvoiceDate"] >= cutoff)
                          & (transactions["InvoiceDate"] < cutoff + pd.DateOffset(months=months))]["CustomerID"]
    segmented["Returned"] = customers.index.isin(pd.Index(bought.dropna().unique()).astype(customers.index.dtype))
    return segmented


def holdout_summary(table: pd.DataFrame) -> dict:
    """Eta squared of log(1 + next spend) for the segments and the RFM score, and per
    segment the share who returned and the mean next spend."""
    outcome = np.log1p(table["NextSpend"])
    per_segment = table.groupby("Segment", observed=True).agg(
        Customers=("NextSpend", "size"), Returned=("Returned", "mean"), MeanNextSpend=("NextSpend", "mean"))
    return {
        "segments": int(table["Segment"].nunique()),
        "eta2_segments": eta_squared(outcome, table["Segment"].astype(str)),
        "eta2_rfm": eta_squared(outcome, table["RFMScore"]),
        "per_segment": per_segment,
    }
