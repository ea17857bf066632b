"""Segment names, their definitions and recommendations, and classic RFM segments.

The default model names segments in two steps, so that every name is true of every member:

1. **Lifecycle stage**, a fact of the calendar (``LifecycleRules``): *New* (first purchase
   less than ``new_days`` ago), *At risk* (silent ``at_risk_days`` or more), *Lost*
   (silent ``lost_days`` or more; or silent ``at_risk_days`` or more after buying only in
   the lowest value tier), else *Active*.
2. **Value tier** for the active customers, from clustering their purchases and spend
   (``TIER_NAMES``: VIP, Loyal, Regular, Budget for four tiers), named by rank of value.

``segment_definitions`` writes each name's definition in plain words and in its members'
own numbers; ``RECOMMENDATIONS`` follow the definitions.

The ``seed`` preset (the original dashboard) clusters every customer and names clusters
by their profile, as below. Cluster names never come from the cluster index. Each cluster's members are profiled
on the standardised logs of Recency, NumPurchases, TotalSpend and Tenure (z-scores over
all customers); each segment name has a prototype profile in that space
(``SEGMENT_PROTOTYPES``), and clusters get names by an optimal one-to-one assignment
(Hungarian algorithm) that minimises the total squared distance to the prototypes.
So names are unique per model, and a refit that finds the same clusters under another
``random_state`` gets the same names.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "LifecycleRules",
    "TIER_NAMES",
    "TIER_PROTOTYPES",
    "SEGMENT_ORDER",
    "STAGES",
    "tier_names",
    "lifecycle_stage",
    "segment_definitions",
    "segment_profile",
    "segment_order",
    "recommendation_for",
    "PROFILE_FEATURES",
    "SEGMENT_PROTOTYPES",
    "RECOMMENDATIONS",
    "ADVICE_RULES",
    "base_name",
    "EVIDENCE_ADVICE",
    "RFM_SEGMENT_RULES",
    "name_segments",
    "cluster_profile_z",
    "rfm_scores",
    "RFM_SEGMENT_TEXT",
    "RFM_ORDER",
    "RFM_PREFIX",
    "RFM_LABELS",
    "rfm_label",
    "rfm_base",
    "rfm_segmented",
    "segment_crosstab",
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
    "Occasional": "Give a reason to come back sooner: reminders timed to their usual gap, small bundles.",
    "Budget": "Sell on value: multi-buy offers and free-shipping thresholds that lift order value.",
    "At risk": "Win them back now: a personal reactivation offer and a check on what went wrong.",
    "Lost": "Long silent: one low-cost win-back message (email, clearance offer); no paid channels unless they return.",
    # What a "Lost" group is called when the log shows its members come back (segkit.pipeline.backtest.earned_names).
    # Also what a long-silent group nothing has measured is called (segkit.pipeline.backtest.name_unmeasured).
    "Lapsed": "Silent for a while, not known to be gone (see the evidence): time a win-back offer to their usual "
              "season and keep them in paid reminders.",
    "New": "Onboard: welcome series and a second-order incentive within 30 days; too early to judge their value.",
    # What an "At risk" group is called when, at held-out dates, its members did not come back clearly less often
    # than active customers (segkit.pipeline.thresholds.at_risk_earned): a reminder, not a costly win-back.
    "Quiet": "Quiet for a while, yet many customers like these buy again on their own (see the evidence): a reminder "
             "timed to their usual gap and new ranges, not a discount or a costly win-back offer.",
}


#: What each segment's advice (``RECOMMENDATIONS``) needs of the segment's own measured
#: outcome (``segkit.pipeline.backtest.advice_from_evidence``, stored in ``model.json`` as
#: ``advice_rules``). A condition compares one pooled backtest figure (``figure``) with
#: ``than``: a share, "average" (the return rate of all customers at the cut-offs) or
#: "active" (the return rate of the value tiers' customers); ``needs`` says it in words.
_NOT_GONE = {"figure": "return_rate_hi", "op": ">=", "than": 0.10,
             "needs": "customers like these not measured returning under 10 %"}
ADVICE_RULES: dict[str, dict] = {
    "VIP": {"figure": "return_rate", "op": ">=", "than": "average",
            "needs": "a return rate at least the shop's average"},
    "Loyal": {"figure": "return_rate", "op": ">=", "than": "average",
              "needs": "a return rate at least the shop's average"},
    "Regular": _NOT_GONE,
    "Occasional": _NOT_GONE,
    "Budget": _NOT_GONE,
    "New": _NOT_GONE,
    "Lapsed": _NOT_GONE,
    "Quiet": _NOT_GONE,
    "At risk": {"figure": "return_rate", "op": "<", "than": "active",
                "needs": "a measured return below active customers'"},
    "Lost": {"figure": "return_rate_hi", "op": "<", "than": 0.10,
             "needs": "a measured return under 10 % at every cut-off"},
}
#: The advice a segment gets when its evidence contradicts its own: the first row whose
#: condition its evidence meets (the last has none).
EVIDENCE_ADVICE: list[dict] = [
    {"figure": "return_rate_hi", "op": "<", "than": 0.10,
     "advice": "Customers like these rarely came back (see the evidence): one low-cost win-back message; no paid "
               "channels unless they return."},
    {"figure": "return_rate", "op": "<", "than": "active",
     "advice": "Customers like these came back less often than active customers (see the evidence): reminders timed "
               "to their usual gap, no premium perks or costly offers until they buy again."},
    {"figure": None, "op": None, "than": None,
     "advice": "Customers like these came back at least as often as active customers (see the evidence): keep them "
               "in the regular newsletters and new ranges, no costly win-back offer."},
]


@dataclass(frozen=True)
class LifecycleRules:
    """Calendar rules for the lifecycle stage, in days before the snapshot date.

    A customer's *age* is days since their first purchase (Recency + Tenure).
    """

    new_days: int = 30
    at_risk_days: int = 120
    lost_days: int = 180

    def as_dict(self) -> dict[str, int]:
        return {"new_days": self.new_days, "at_risk_days": self.at_risk_days, "lost_days": self.lost_days}


#: Lifecycle stages, in the order the rules are applied (first match wins).
STAGES = ("New", "Lost", "At risk", "Active")

#: Value tiers: prototype z-scores of (log1p NumPurchases, log1p TotalSpend) over the
#: active customers, and the profile in words. A tier takes the name of the nearest
#: prototype (one-to-one), so a name always describes its members' value, whatever K.
TIER_PROTOTYPES: dict[str, tuple[float, float, str]] = {
    "VIP": (1.8, 1.8, "the most purchases and the highest spend"),
    "Loyal": (0.8, 0.7, "many purchases and high spend"),
    "Regular": (0.0, 0.0, "typical purchases and spend"),
    "Occasional": (-0.9, -0.1, "few purchases, but fair-sized orders"),
    "Budget": (-1.1, -1.2, "few purchases and low spend"),
}
TIER_NAMES = tuple(TIER_PROTOTYPES)
#: The order segments are listed in: value tiers from the highest, then the stages.
SEGMENT_ORDER = TIER_NAMES + ("New", "At risk", "Quiet", "Lost", "Lapsed")

#: Plain-words definitions; ``{...}`` fields come from ``LifecycleRules``.
STAGE_DEFINITIONS: dict[str, str] = {
    "New": "First purchase less than {new_days} days ago; too early to say what they are worth.",
    "At risk": "Bought more than once, but not for {at_risk_days} to {lost_days_minus_1} days.",
    "Quiet": "Bought more than once, but not for {at_risk_days} to {lost_days_minus_1} days.",
    "Lost": "No purchase for {lost_days} days or more, or for {at_risk_days} days or more after a single purchase.",
    "Lapsed": "No purchase for {lost_days} days or more, or for {at_risk_days} days or more after a single purchase.",
}
TIER_DEFINITION = ("Bought in the last {at_risk_days} days and not new; value tier {rank} of {k}: "
                   "{words}.")


def tier_names(centres_z: np.ndarray, features: tuple[str, ...] | list[str]) -> list[str]:
    """Names of value tiers given their centres (rows, highest tier first) in the scaled
    space of ``features``.

    For (NumPurchases, TotalSpend) each tier takes the nearest ``TIER_PROTOTYPES`` name,
    one-to-one (Hungarian algorithm); more tiers than names reuse the nearest name with a
    number ("Regular 2"). For other features (no prototypes to compare with) tiers are
    named by rank: "Tier 1" (highest) to "Tier K".
    """
    centres_z = np.asarray(centres_z, dtype=float)
    if tuple(features) != ("NumPurchases", "TotalSpend"):
        return [f"Tier {i + 1}" for i in range(len(centres_z))]
    names = list(TIER_PROTOTYPES)
    prototypes = np.array([TIER_PROTOTYPES[n][:2] for n in names])
    cost = ((centres_z[:, None, :] - prototypes[None, :, :]) ** 2).sum(axis=2)
    result: dict[int, str] = {}
    # start-up: scipy.optimize loads on first use, not on import (0.6 s, measured)
    from scipy.optimize import (
        linear_sum_assignment,  # SciPy loads only when names are chosen
    )

    rows, cols = linear_sum_assignment(cost)
    for r, c in zip(rows, cols):
        result[int(r)] = names[c]
    used: dict[str, int] = {}
    for r in range(len(centres_z)):
        if r not in result:
            base = names[int(np.argmin(cost[r]))]
            used[base] = used.get(base, 1) + 1
            result[r] = f"{base} {used[base]}"
    return [result[r] for r in range(len(centres_z))]


def lifecycle_stage(customers: pd.DataFrame, rules: LifecycleRules) -> np.ndarray:
    """Lifecycle stage of each customer (``STAGES``) from Recency, Tenure and NumPurchases.

    New: first purchase (Recency + Tenure days ago) less than ``new_days`` ago. Lost: no
    purchase for ``lost_days``, or for ``at_risk_days`` after a single purchase. At risk:
    no purchase for ``at_risk_days``. Else Active. Facts of the calendar: no clustering,
    so another K or random_state never changes a stage.
    """
    recency = customers["Recency"].to_numpy(dtype="float64")
    age = recency + customers["Tenure"].to_numpy(dtype="float64")
    one_purchase = customers["NumPurchases"].to_numpy(dtype="float64") <= 1
    stage = np.full(len(customers), "Active", dtype=object)
    lapsing = recency >= rules.at_risk_days
    stage[lapsing] = "At risk"
    stage[(recency >= rules.lost_days) | (lapsing & one_purchase)] = "Lost"
    stage[age < rules.new_days] = "New"
    return stage


#: A stage change this many days away or closer lowers ``Confidence`` in proportion:
#: a customer one day from the next stage is never shown as settled.
SETTLED_DAYS = 30


def days_to_stage_change(customers: pd.DataFrame, rules: LifecycleRules) -> np.ndarray:
    """Days until the calendar alone (no new purchase) moves each customer to another
    stage under ``rules``: New -> after ``new_days`` of age, Active -> At risk (or Lost
    after a single purchase) at ``at_risk_days`` of silence, At risk -> Lost at
    ``lost_days``. NaN for Lost customers: only a purchase moves them.
    """
    recency = customers["Recency"].to_numpy(dtype="float64")
    age = recency + customers["Tenure"].to_numpy(dtype="float64")
    stage = lifecycle_stage(customers, rules)
    days = np.full(len(customers), np.nan)
    days[stage == "Active"] = rules.at_risk_days - recency[stage == "Active"]
    days[stage == "At risk"] = rules.lost_days - recency[stage == "At risk"]
    days[stage == "New"] = rules.new_days - age[stage == "New"]
    return np.maximum(days, 1)


def _range_words(values: pd.Series, money: bool, currency: str) -> str:
    lo, med, hi = values.min(), values.median(), values.max()
    if money:
        return f"{currency}{lo:,.0f} to {currency}{hi:,.0f} (median {currency}{med:,.0f})"
    return f"{lo:,.0f} to {hi:,.0f} (median {med:,.0f})"


def segment_definitions(segmented: pd.DataFrame, rules: LifecycleRules | None = None,
                        names: list[str] | None = None, currency: str = "£") -> pd.DataFrame:
    """One row per segment: ``Definition`` (plain words), ``InNumbers`` (its members'
    ranges of purchases, spend and days since the last purchase) and ``Recommendation``.

    ``segmented`` has a ``Segment`` column and the customer features; ``rules`` is the
    model's ``LifecycleRules`` (``None`` for cluster-profile names, as in the seed preset).
    """
    names = names or list(pd.unique(segmented["Segment"].astype(str)))
    tiers = [n for n in names if n not in STAGE_DEFINITIONS]
    rows = []
    for name in names:
        members = segmented[segmented["Segment"].astype(str) == name]
        if rules is None:
            definition = (f"Customers whose average profile (days since last purchase, purchases, spend, tenure) "
                          f"is nearest the '{base_name(name)}' profile.")
        elif name in ("At risk", "Quiet") and rules.lost_days <= rules.at_risk_days:
            # fitted thresholds (segkit.pipeline.thresholds) can start Lost where At risk would
            definition = (f"Nobody: every customer silent {rules.at_risk_days} days or more is in the longest-silent "
                          "group.")
        elif name in STAGE_DEFINITIONS:
            definition = STAGE_DEFINITIONS[name].format(lost_days_minus_1=rules.lost_days - 1, **rules.as_dict())
        else:
            rank = tiers.index(name) + 1
            base = base_name(name)
            words = TIER_PROTOTYPES[base][2] if base in TIER_PROTOTYPES else (
                "the highest value" if rank == 1 else "the lowest value" if rank == len(tiers) else "between")
            definition = TIER_DEFINITION.format(rank=rank, k=len(tiers), words=words, **rules.as_dict())
            definition += " Ranked by purchases and spend." if base not in TIER_PROTOTYPES else ""
        if members.empty:
            numbers = "No customers."
        else:
            parts = [f"{len(members):,} customers"]
            for column, words, money, unit in (("NumPurchases", "purchases", False, ""), ("TotalSpend", "spend", True, ""),
                                               ("Recency", "last purchase", False, " days ago")):
                if column in members:
                    parts.append(f"{words} {_range_words(members[column], money, currency)}{unit}")
            numbers = "; ".join(parts)
        rows.append({"Segment": name, "Definition": definition, "InNumbers": numbers,
                     "Recommendation": recommendation_for(name)})
    return pd.DataFrame(rows).set_index("Segment")


def base_name(segment: str) -> str:
    """"Regular 2" -> "Regular": numbered names share their base's definition and advice."""
    if segment in RECOMMENDATIONS or " " not in segment or not segment.rsplit(" ", 1)[1].isdigit():
        return segment
    return segment.rsplit(" ", 1)[0]


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
    # start-up: scipy.optimize loads on first use, not on import (0.6 s, measured)
    from scipy.optimize import (
        linear_sum_assignment,  # SciPy loads only when names are chosen
    )

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
    return RECOMMENDATIONS.get(base_name(segment), RECOMMENDATIONS["Regular"])


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
    """Quintile score 1..5 from the percentile rank; tied values share one rank (their
    average), so scores never depend on row order and all one-time buyers score alike."""
    if values.empty:
        return values.astype("int64")
    pct = values.rank(method="average", ascending=ascending, pct=True)
    return np.ceil(pct * 5).clip(1, 5).astype("int64")


def _quintile_against(values: pd.Series, reference: pd.Series, ascending: bool = True) -> pd.Series:
    """Quintile score 1..5 of each value within ``reference`` (another set of customers),
    by the rule of ``_quintile``: a value equal to reference values gets their average rank,
    so a customer of ``reference`` scores as it does there."""
    ref = np.sort(reference.to_numpy(float) if ascending else -reference.to_numpy(float))
    v = values.to_numpy(float) if ascending else -values.to_numpy(float)
    below = np.searchsorted(ref, v, side="left")
    equal = np.searchsorted(ref, v, side="right") - below
    pct = (below + np.where(equal > 0, (equal + 1) / 2, 0.5)) / max(len(ref), 1)
    return pd.Series(np.ceil(pct * 5).clip(1, 5).astype("int64"), index=values.index)


def rfm_scores(customers: pd.DataFrame, reference: pd.DataFrame | None = None) -> pd.DataFrame:
    """Classic RFM quintile scores (1-5, 5 best) and the named RFM segment.

    R: recent is 5; F: NumPurchases; M: TotalSpend; FM = round((F + M) / 2).
    Segments follow ``RFM_SEGMENT_RULES`` on (R, FM). Quintiles are those of ``customers``
    themselves, or with ``reference`` (e.g. every customer of the page) those of the
    reference: newly scored customers then get the segments the reference's customers
    with the same values have.
    """
    out = pd.DataFrame(index=customers.index)
    if reference is None:
        out["R"] = _quintile(customers["Recency"], ascending=False)
        out["F"] = _quintile(customers["NumPurchases"])
        out["M"] = _quintile(customers["TotalSpend"])
    else:
        out["R"] = _quintile_against(customers["Recency"], reference["Recency"], ascending=False)
        out["F"] = _quintile_against(customers["NumPurchases"], reference["NumPurchases"])
        out["M"] = _quintile_against(customers["TotalSpend"], reference["TotalSpend"])
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


def segment_profile(customers: pd.DataFrame, labels: np.ndarray, names: dict[int, str],
                    features: Sequence[str] = ()) -> pd.DataFrame:
    """One row per cluster: size, share, means of the RFM features and of the clustered
    ``features`` (``Avg<feature>``), spend totals, name."""
    frame = customers.assign(Cluster=np.asarray(labels))
    grouped = frame.groupby("Cluster")
    profile = pd.DataFrame({
        "Segment": pd.Series(names),
        "Customers": grouped.size(),
    })
    profile["Customers"] = profile["Customers"].fillna(0).astype("int64")
    profile["Share"] = profile["Customers"] / profile["Customers"].sum()
    standard = ("NumPurchases", "TotalQuantity", "TotalSpend", "Recency", "Tenure", "AvgOrderValue")
    for col in dict.fromkeys(standard + tuple(str(f) for f in features)):
        if col in frame and pd.api.types.is_numeric_dtype(frame[col]):
            profile[f"Avg{col}" if not col.startswith("Avg") else col] = grouped[col].mean()
    if "TotalSpend" in frame:
        profile["SumTotalSpend"] = grouped["TotalSpend"].sum()
    profile["Recommendation"] = profile["Segment"].map(recommendation_for)
    profile.index.name = "Cluster"
    return profile


#: What each RFM segment means and what to do, in plain words (R: how recently, FM: how
#: often and how much, each a quintile score 1-5 over every customer, 5 best).
RFM_SEGMENT_TEXT: dict[str, tuple[str, str]] = {
    "Champions": ("Bought very recently (R 5) and buy often, for a lot (FM 4-5).",
                  "Reward them: early access and thanks, no blanket discounts."),
    "Loyal": ("Bought fairly recently (R 3-4) and buy often, for a lot (FM 4-5).",
              "Keep them close: loyalty perks, ask for reviews, upsell."),
    "Potential loyalist": ("Bought recently (R 4-5) with middling frequency and spend (FM 2-3).",
                           "Offer membership or a second-purchase incentive."),
    "New": ("Bought very recently (R 5) but little so far (FM 1).",
            "Welcome them: onboarding, a reason to come back soon."),
    "Promising": ("Bought recently (R 4) but little so far (FM 1).",
                  "Build the habit: recommendations from what they bought."),
    "Need attention": ("Middling on every count (R 3, FM 3).",
                       "Time-limited offers based on their past purchases."),
    "About to sleep": ("Not bought for a while (R 3) and bought little (FM 1-2).",
                       "Reactivate cheaply: popular products, a small discount."),
    "Can't lose them": ("Used to buy often and for a lot (FM 5) but not for a long time (R 1-2).",
                        "Win them back personally: call or write, a strong offer."),
    "At risk": ("Used to buy fairly well (FM 3-4) but not for a long time (R 1-2).",
                "Win-back campaign: personalised reminders and an offer."),
    "Lost": ("Bought little (FM 1) and long ago (R 1).",
             "Keep them in low-cost reminders (newsletter, seasonal mail); nothing here measures whether "
             "spending on them pays, so do not drop them on this label alone."),
    "Hibernating": ("Bought little (FM 1-2), and not recently (R 1-2).",
                    "Include in broad reactivation campaigns only."),
}
#: RFM segments in reading order (best first; Hibernating is the rules' fallback).
RFM_ORDER = tuple(dict.fromkeys([name for name, _, _ in RFM_SEGMENT_RULES] + ["Hibernating"]))
#: What an RFM rule segment is called where the model's segments are shown too (the page,
#: its downloads and the cross-tab): "RFM: At risk" is never the model's "At risk".
RFM_PREFIX = "RFM: "
#: ``RFM_ORDER`` as the page names them.
RFM_LABELS = tuple(RFM_PREFIX + name for name in RFM_ORDER)


def rfm_label(name: str) -> str:
    """``"At risk"`` -> ``"RFM: At risk"`` (an already prefixed name is kept)."""
    name = str(name)
    return name if name.startswith(RFM_PREFIX) else RFM_PREFIX + name


def rfm_base(name: str) -> str:
    """``"RFM: At risk"`` -> ``"At risk"``, the key of ``RFM_SEGMENT_TEXT``."""
    return str(name).removeprefix(RFM_PREFIX)


def rfm_segmented(segmented: pd.DataFrame, reference: pd.DataFrame | None = None) -> pd.DataFrame:
    """``segmented`` (customers with the model's ``Segment``) relabelled by the RFM rules.

    ``Segment`` becomes the RFM segment named with ``RFM_PREFIX`` ("RFM: At risk", never
    the model's "At risk"; ``rfm_scores`` over every row given, so pass all customers, not
    a filtered view; or against ``reference``'s quintiles), ``Cluster`` its position in
    ``RFM_ORDER`` (``RFM_LABELS``), ``Recommendation`` the RFM one; the model's segment stays as
    ``ModelSegment`` and the model's ``Confidence`` (about its clusters) is left out. R, F,
    M scores are added.
    """
    scores = rfm_scores(segmented, reference)
    out = segmented.drop(columns=["Confidence"], errors="ignore").copy()
    out["ModelSegment"] = segmented["Segment"].astype("string")
    names = scores["RFM_Segment"].astype("string")
    out["Segment"] = (RFM_PREFIX + names).astype("string")
    out["Cluster"] = names.map({name: i for i, name in enumerate(RFM_ORDER)}).astype("int64")
    out["Recommendation"] = names.map({name: text[1] for name, text in RFM_SEGMENT_TEXT.items()}).astype("string")
    out[["R", "F", "M"]] = scores[["R", "F", "M"]]
    return out


def segment_crosstab(model_segments: pd.Series, rfm_segments: pd.Series) -> pd.DataFrame:
    """Customers by model segment (rows) and RFM segment (columns, named "RFM: ..."
    whether ``rfm_segments`` carry the prefix or not), both indexed by CustomerID; rows in
    the model's reading order, columns in ``RFM_LABELS``, with totals."""
    rfm = rfm_segments.reindex(model_segments.index)
    both = pd.DataFrame({"Model segment": model_segments.astype(str),
                         "RFM segment": rfm.astype("string").map(rfm_label, na_action="ignore")}).dropna()
    if both.empty:
        return pd.DataFrame()
    table = pd.crosstab(both["Model segment"], both["RFM segment"], margins=True, margins_name="Total")
    rows = segment_order([r for r in table.index if r != "Total"]) + ["Total"]
    columns = [c for c in RFM_LABELS if c in table.columns] + ["Total"]
    return table.loc[rows, columns]


def segment_order(names) -> list[str]:
    """Segment names in the fixed reading order (VIP, Loyal, Regular, Budget, At risk,
    Lost, New; numbered names after their base, unknown names last, alphabetically)."""
    known = list(SEGMENT_ORDER)

    def key(name: str):
        base = name if name in known else name.rsplit(" ", 1)[0]
        return (known.index(base) if base in known else len(known), name)

    return sorted({str(n) for n in names}, key=key)
