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

from segkit.features.customers import customer_features
from segkit.modeling.label import rfm_scores

__all__ = ["next_period_spend", "eta_squared", "rfm_score", "holdout", "holdout_summary", "spend_terciles",
           "holdout_grid", "bootstrap_segments", "BASELINES", "linear_baseline", "baseline_comparison",
           "refit_intervals", "REFITS", "resampled_refits", "store_refits"]

#: Refits ``segkit train`` stores with the model for each customer's ``KeptInRefits``
#: (measured on the real data: docs/data-science.md, "Confidence").
REFITS = 20
#: Refits are fitted on a random sample of at most this many customers (K-Means settles
#: long before; it bounds the added train time on large logs).
REFIT_CUSTOMERS = 100_000


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


def spend_terciles(customers: pd.DataFrame) -> pd.Series:
    """A naive baseline: low / middle / high third of customers by TotalSpend (ties share a third)."""
    pct = customers["TotalSpend"].rank(method="average", pct=True)
    return pd.Series(np.ceil(pct * 3).clip(1, 3).astype(int), index=customers.index, name="SpendTercile")


def holdout_grid(lines: pd.DataFrame, transactions: pd.DataFrame, cutoffs: Iterable, k_values: Iterable[int],
                 model_factory, months: int = 3) -> pd.DataFrame:
    """One row per (cut-off, K): segments, eta squared of log(1 + next spend) for the
    segments, the RFM score and spend terciles, and whether Lost has the lowest return
    share and VIP the highest mean next spend. ``model_factory(k)`` returns an unfitted model."""
    rows = []
    for cutoff in cutoffs:
        for k in k_values:
            table = holdout(lines, transactions, cutoff, lambda: model_factory(k), months)
            summary = holdout_summary(table)
            per = summary["per_segment"]
            outcome = np.log1p(table["NextSpend"])
            rows.append({
                "cutoff": pd.Timestamp(cutoff).date().isoformat(), "K": k, "segments": summary["segments"],
                "eta2_segments": summary["eta2_segments"], "eta2_rfm_score": summary["eta2_rfm"],
                "eta2_spend_terciles": eta_squared(outcome, spend_terciles(table)),
                "lost_lowest_return": per["Returned"].idxmin() == "Lost" if "Lost" in per.index else None,
                "vip_highest_spend": per["MeanNextSpend"].idxmax() == "VIP" if "VIP" in per.index else None,
            })
    return pd.DataFrame(rows)


def bootstrap_segments(segmented: pd.DataFrame, n_boot: int = 200, random_state: int = 0,
                       level: float = 0.9) -> pd.DataFrame:
    """Bootstrap intervals (resampling customers, each keeping its label) for each
    segment's share of customers and mean spend.

    Labels are not refitted, so these are sampling intervals around fixed segments
    (close to binomial intervals for the shares); they say nothing about how stable
    the segments themselves are. For that, refit: ``refit_intervals``."""
    rng = np.random.default_rng(random_state)
    segments = segmented["Segment"].astype(str).to_numpy()
    spend = segmented["TotalSpend"].to_numpy(dtype="float64")
    names = pd.unique(segments)
    shares = {n: [] for n in names}
    means = {n: [] for n in names}
    for _ in range(n_boot):
        idx = rng.integers(0, len(segments), len(segments))
        s, m = segments[idx], spend[idx]
        for n in names:
            hit = s == n
            shares[n].append(hit.mean())
            means[n].append(m[hit].mean() if hit.any() else np.nan)
    lo, hi = (1 - level) / 2, 1 - (1 - level) / 2
    rows = []
    for n in names:
        hit = segments == n
        rows.append({"Segment": n, "Customers": int(hit.sum()), "Share": hit.mean(),
                     "ShareLow": np.nanquantile(shares[n], lo), "ShareHigh": np.nanquantile(shares[n], hi),
                     "MeanSpend": spend[hit].mean(), "MeanSpendLow": np.nanquantile(means[n], lo),
                     "MeanSpendHigh": np.nanquantile(means[n], hi)})
    return pd.DataFrame(rows).set_index("Segment")


#: What ``baseline_comparison`` calls each way of grouping or scoring customers.
BASELINES = ("Segments", "RFM score (3-15)", "Linear fit on log R, F, M")


def _r_squared(outcome: np.ndarray, fitted: np.ndarray) -> float:
    total = ((outcome - outcome.mean()) ** 2).sum()
    return float("nan") if total == 0 else float(1 - ((outcome - fitted) ** 2).sum() / total)


def _group_means(outcome: np.ndarray, groups: np.ndarray) -> np.ndarray:
    return pd.Series(outcome).groupby(pd.Series(groups)).transform("mean").to_numpy()


def linear_baseline(table: pd.DataFrame, folds: int = 5, random_state: int = 0) -> np.ndarray:
    """Out-of-fold predictions of log(1 + next spend) from a linear fit on log1p of
    Recency, NumPurchases and TotalSpend (scikit-learn ``LinearRegression``,
    ``cross_val_predict`` over shuffled ``folds``): the continuous baseline a
    segmentation has to beat."""
    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from sklearn.linear_model import LinearRegression
    from sklearn.model_selection import KFold, cross_val_predict

    X = np.log1p(table[["Recency", "NumPurchases", "TotalSpend"]].to_numpy(dtype="float64").clip(min=0))
    y = np.log1p(table["NextSpend"].to_numpy(dtype="float64"))
    return cross_val_predict(LinearRegression(), X, y, cv=KFold(folds, shuffle=True, random_state=random_state))


def baseline_comparison(table: pd.DataFrame, n_boot: int = 200, random_state: int = 0,
                        level: float = 0.95) -> pd.DataFrame:
    """How much of the variance of log(1 + next spend) the segments explain, against the
    RFM score and the continuous baseline (``linear_baseline``), each difference with a
    bootstrap interval over customers and a plain verdict.

    ``table`` is a ``holdout`` table (Segment, RFMScore, Recency, NumPurchases,
    TotalSpend, NextSpend). Segments and the RFM score are scored by eta squared (the
    share explained by group means), the linear fit by its cross-validated R². The
    interval of each difference comes from resampling customers ``n_boot`` times and
    scoring both on the same resample; when it holds 0 the verdict is "a tie", never a win.

    Returns one row per ``BASELINES`` entry: ``Explained``, and for the baselines
    ``SegmentsMinus`` (segments' score minus this one), ``Low``/``High`` (its interval)
    and ``Verdict``.
    """
    outcome = np.log1p(table["NextSpend"].to_numpy(dtype="float64"))
    fitted = {
        BASELINES[0]: _group_means(outcome, table["Segment"].astype(str).to_numpy()),
        BASELINES[1]: _group_means(outcome, table["RFMScore"].to_numpy()),
        BASELINES[2]: linear_baseline(table, random_state=random_state),
    }
    groups = {BASELINES[0]: table["Segment"].astype(str).to_numpy(), BASELINES[1]: table["RFMScore"].to_numpy()}
    rng = np.random.default_rng(random_state)
    draws: dict[str, list[float]] = {name: [] for name in BASELINES}
    for _ in range(n_boot):
        idx = rng.integers(0, len(outcome), len(outcome))
        y = outcome[idx]
        for name in BASELINES:
            # Group means are re-estimated on the resample; the linear fit keeps its out-of-fold predictions.
            prediction = _group_means(y, groups[name][idx]) if name in groups else fitted[name][idx]
            draws[name].append(_r_squared(y, prediction))
    lo, hi = (1 - level) / 2, 1 - (1 - level) / 2
    segments = np.asarray(draws[BASELINES[0]])
    rows = [{"Baseline": BASELINES[0], "Explained": _r_squared(outcome, fitted[BASELINES[0]])}]
    for name in BASELINES[1:]:
        difference = segments - np.asarray(draws[name])
        low, high = float(np.nanquantile(difference, lo)), float(np.nanquantile(difference, hi))
        verdict = ("a tie" if low <= 0 <= high
                   else "segments explain more" if low > 0 else "segments explain less")
        rows.append({"Baseline": name, "Explained": _r_squared(outcome, fitted[name]),
                     "SegmentsMinus": _r_squared(outcome, fitted[BASELINES[0]]) - _r_squared(outcome, fitted[name]),
                     "Low": low, "High": high, "Verdict": verdict})
    return pd.DataFrame(rows).set_index("Baseline")


def refit_intervals(customers: pd.DataFrame, model_factory, n_refits: int = 30, random_state: int = 0,
                    level: float = 0.9) -> tuple[pd.DataFrame, pd.Series]:
    """How much the segments move when the model is refitted on resampled customers.

    Each of ``n_refits`` rounds draws customers with replacement, fits
    ``model_factory()`` on them and segments every customer in ``customers``. Unlike
    ``bootstrap_segments`` (which keeps each customer's label), this measures the
    whole fit: scaling, clustering and naming.

    Returns ``(per_segment, kept)``. ``per_segment`` has, per segment of the model
    fitted on all customers: ``Share`` and ``MeanSpend`` with their ``level``
    intervals over the refits (``ShareLow``/``ShareHigh``, ``MeanSpendLow``/``MeanSpendHigh``)
    and ``Renamed`` (refits in which the name does not occur). ``kept`` is, per
    customer, the share of refits that give them the same segment as the full fit.
    """
    full = model_factory().fit(customers).segment(customers)["Segment"].astype(str)
    spend = customers["TotalSpend"].to_numpy(dtype="float64")
    rng = np.random.default_rng(random_state)
    same = np.zeros(len(customers))
    shares: dict[str, list[float]] = {name: [] for name in full.unique()}
    means: dict[str, list[float]] = {name: [] for name in full.unique()}
    for _ in range(n_refits):
        sample = customers.iloc[rng.integers(0, len(customers), len(customers))]
        sample = sample.set_axis(pd.RangeIndex(len(sample), name=customers.index.name))
        labels = model_factory().fit(sample).segment(customers)["Segment"].astype(str).to_numpy()
        same += labels == full.to_numpy()
        for name in shares:
            hit = labels == name
            shares[name].append(hit.mean())
            means[name].append(spend[hit].mean() if hit.any() else np.nan)
    lo, hi = (1 - level) / 2, 1 - (1 - level) / 2
    rows = []
    for name in shares:
        hit = (full == name).to_numpy()
        present = np.asarray(shares[name]) > 0
        rows.append({"Segment": name, "Customers": int(hit.sum()), "Share": hit.mean(),
                     "ShareLow": np.quantile(shares[name], lo), "ShareHigh": np.quantile(shares[name], hi),
                     "MeanSpend": spend[hit].mean(),
                     "MeanSpendLow": np.nanquantile(means[name], lo) if present.any() else np.nan,
                     "MeanSpendHigh": np.nanquantile(means[name], hi) if present.any() else np.nan,
                     "Renamed": int((~present).sum())})
    kept = pd.Series(same / n_refits, index=customers.index, name="KeptInRefits")
    return pd.DataFrame(rows).set_index("Segment"), kept


def resampled_refits(customers: pd.DataFrame, model_factory, n_refits: int = REFITS, random_state: int = 0) -> list:
    """``n_refits`` models ``model_factory()`` fitted each on ``customers`` drawn with
    replacement (the draws of ``refit_intervals`` for the same ``random_state``)."""
    rng = np.random.default_rng(random_state)
    refits = []
    for _ in range(n_refits):
        sample = customers.iloc[rng.integers(0, len(customers), len(customers))]
        sample = sample.set_axis(pd.RangeIndex(len(sample), name=customers.index.name))
        refits.append(model_factory().fit(sample))
    return refits


def store_refits(model, customers: pd.DataFrame, n_refits: int = REFITS, random_state: int = 0,
                 max_customers: int = REFIT_CUSTOMERS):
    """Refit ``model``'s settings on ``n_refits`` resamples of ``customers`` (its training
    customers) and keep, per refit, only what scoring needs: the fitted pipeline and the
    name of each of its clusters (``model.refits_``, saved with the model). Scoring then
    gives every customer ``KeptInRefits`` (``SegmentationModel.kept_in_refits``) without
    fitting anything. Above ``max_customers`` customers the resamples are drawn from a
    random sample of that many. Returns ``model``."""
    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from sklearn.base import clone

    if len(customers) > max_customers:
        customers = customers.sample(max_customers, random_state=random_state)
    refits = resampled_refits(customers, lambda: clone(model), n_refits, random_state)
    model.refits_ = [{"pipeline": refit.pipeline_,
                      "names": [refit.segment_names_.get(int(t)) for t in refit.tier_of_cluster_]}
                     for refit in refits]
    return model
