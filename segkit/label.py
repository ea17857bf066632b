"""Segment names and recommendations from cluster profiles, and classic RFM segments.

Cluster names never come from the cluster index. Each cluster's members are profiled
on the standardised logs of Recency, NumPurchases, TotalSpend and Tenure (z-scores over
all customers); each segment name has a prototype profile in that space
(``SEGMENT_PROTOTYPES``), and clusters get names by an optimal one-to-one assignment
(Hungarian algorithm) that minimises the total squared distance to the prototypes.
So names are unique per model, and a refit that finds the same clusters under another
``random_state`` gets the same names.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

__all__ = [
    "PROFILE_FEATURES",
    "SEGMENT_PROTOTYPES",
    "RECOMMENDATIONS",
    "RFM_SEGMENT_RULES",
    "name_segments",
    "cluster_profile_z",
    "rfm_scores",
]

PROFILE_FEATURES = ["Recency", "NumPurchases", "TotalSpend", "Tenure"]

#: Prototype z-scores of log1p(Recency, NumPurchases, TotalSpend, Tenure) per segment.
SEGMENT_PROTOTYPES: dict[str, tuple[float, float, float, float]] = {
    "VIP": (-0.9, 1.7, 1.8, 0.9),
    "Loyal": (-0.6, 0.8, 0.7, 0.7),
    "Regular": (-0.1, 0.0, 0.0, 0.2),
    "Budget": (-0.2, -0.4, -0.9, 0.0),
    "At risk": (1.0, 0.4, 0.4, 0.3),
    "Lost": (1.1, -0.8, -0.8, -0.8),
    "New": (-1.0, -0.8, -0.5, -1.0),
}

RECOMMENDATIONS: dict[str, str] = {
    "VIP": "Protect and reward: early access, a personal account contact, no blanket discounts.",
    "Loyal": "Grow the basket: loyalty points, cross-sell related ranges, ask for reviews and referrals.",
    "Regular": "Keep them coming: seasonal newsletters and bundles that nudge order frequency up.",
    "Budget": "Sell on value: multi-buy offers and free-shipping thresholds that lift order value.",
    "At risk": "Win them back now: personal reactivation offer and a check on what went wrong.",
    "Lost": "Low-cost reactivation only: one clearance campaign, then drop from paid channels.",
    "New": "Onboard: welcome series, second-order incentive within 30 days.",
}


def cluster_profile_z(customers: pd.DataFrame, labels: np.ndarray) -> pd.DataFrame:
    """Mean z-score of log1p(PROFILE_FEATURES) per cluster (rows: cluster, columns: feature)."""
    values = np.log1p(customers[PROFILE_FEATURES].astype(float).clip(lower=0))
    std = values.std(ddof=0).replace(0, 1.0)
    z = (values - values.mean()) / std
    return z.groupby(np.asarray(labels)).mean().sort_index()


def name_segments(customers: pd.DataFrame, labels: np.ndarray) -> dict[int, str]:
    """Give each cluster the segment name whose prototype is nearest (unique names).

    With more clusters than names, the extra clusters reuse their nearest name with a
    number ("Regular 2").
    """
    profile = cluster_profile_z(customers, labels)
    names = list(SEGMENT_PROTOTYPES)
    prototypes = np.array([SEGMENT_PROTOTYPES[n] for n in names])
    cost = ((profile.to_numpy()[:, None, :] - prototypes[None, :, :]) ** 2).sum(axis=2)
    result: dict[int, str] = {}
    rows, cols = linear_sum_assignment(cost)
    for r, c in zip(rows, cols):
        result[int(profile.index[r])] = names[c]
    used: dict[str, int] = {}
    for r, cluster in enumerate(profile.index):
        if int(cluster) not in result:
            base = names[int(np.argmin(cost[r]))]
            used[base] = used.get(base, 1) + 1
            result[int(cluster)] = f"{base} {used[base]}"
    return dict(sorted(result.items()))


def recommendation_for(segment: str) -> str:
    """The marketing recommendation for a segment name (numbered names share their base's)."""
    base = segment.rsplit(" ", 1)[0] if segment not in RECOMMENDATIONS else segment
    return RECOMMENDATIONS.get(base, RECOMMENDATIONS["Regular"])


#: Ordered rules: (segment, allowed R scores, allowed FM scores); the first match wins.
RFM_SEGMENT_RULES: list[tuple[str, set[int], set[int]]] = [
    ("Champions", {5}, {4, 5}),
    ("Loyal", {3, 4}, {4, 5}),
    ("Potential loyalist", {4, 5}, {2, 3}),
    ("New", {5}, {1}),
    ("Promising", {4}, {1}),
    ("Need attention", {3}, {3}),
    ("About to sleep", {3}, {1, 2}),
    ("Can't lose them", {1, 2}, {5}),
    ("At risk", {1, 2}, {3, 4}),
    ("Lost", {1}, {1}),
    ("Hibernating", {1, 2}, {1, 2}),
]


def _quintile(values: pd.Series, ascending: bool = True) -> pd.Series:
    ranks = values.rank(method="first", ascending=ascending)
    bins = min(5, len(values))
    scores = pd.qcut(ranks, bins, labels=False) + 1 if len(values) else ranks
    if bins < 5:
        scores = np.ceil(scores * 5 / bins)
    return scores.astype(int)


def rfm_scores(customers: pd.DataFrame) -> pd.DataFrame:
    """Classic RFM quintile scores (1-5, 5 best) and the named RFM segment.

    R: recent is 5; F: NumPurchases; M: TotalSpend; FM = round((F + M) / 2).
    Segments follow ``RFM_SEGMENT_RULES`` on (R, FM).
    """
    out = pd.DataFrame(index=customers.index)
    out["R"] = _quintile(customers["Recency"], ascending=False)
    out["F"] = _quintile(customers["NumPurchases"])
    out["M"] = _quintile(customers["TotalSpend"])
    out["RFM_Score"] = out["R"].astype(str) + out["F"].astype(str) + out["M"].astype(str)
    fm = np.floor((out["F"] + out["M"]) / 2 + 0.5).astype(int)
    segment = pd.Series("Hibernating", index=out.index, dtype="string")
    assigned = pd.Series(False, index=out.index)
    for name, r_set, fm_set in RFM_SEGMENT_RULES:
        hit = out["R"].isin(r_set) & fm.isin(fm_set) & ~assigned
        segment[hit] = name
        assigned |= hit
    out["RFM_Segment"] = segment
    return out
