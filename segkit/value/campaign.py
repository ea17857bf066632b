"""Campaign planning per segment: what a mailing may bring back, from the backtest evidence.

For each segment: its size, recommendation, and what customers like these did in the
``horizon_days`` after earlier dates (``model.json`` ``evidence``: ``return_rate``, the
share who bought again, and ``mean_spend``, spend per member in the horizon). With a cost
per contact and an uplift (the relative increase in what the segment brings back that the
campaign is assumed to cause):

    expected extra revenue = customers x return rate x mean next spend x uplift
    net = expected extra revenue - customers x cost per contact

``mean_spend`` of the backtest is already averaged over every member (0 for those who did
not come back); the formula is the one the page states, with the spend per returning
customer (``mean_spend / return_rate``) as "mean next spend", so that return rate x mean
next spend is the expected spend per member. A segment the backtest did not measure gets
no figures (NaN, said "not measured"), never 0.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

__all__ = ["DEFAULT_COST_PER_CONTACT", "DEFAULT_UPLIFT", "CAMPAIGN_PLAN_COLUMNS", "campaign_plan", "formula_in_words"]

#: Defaults the page starts with: £1 per customer contacted, 10 % more revenue back.
DEFAULT_COST_PER_CONTACT = 1.0
DEFAULT_UPLIFT = 0.10
CAMPAIGN_PLAN_COLUMNS = ["Segment", "Customers", "Recommendation", "ReturnRate", "MeanNextSpend",
                         "ExpectedExtraRevenue", "Cost", "Net"]


def campaign_plan(sizes: Mapping[str, int] | pd.Series, recommendations: Mapping[str, str] | pd.Series,
                  evidence: Mapping[str, Any] | None, cost_per_contact: float = DEFAULT_COST_PER_CONTACT,
                  uplift: float = DEFAULT_UPLIFT) -> pd.DataFrame:
    """One row per segment of ``sizes`` (segment -> customers), in the order given.

    ``evidence``: a ``model.json`` ``evidence`` (``{"segments": {name: {"return_rate",
    "mean_spend", ...}}, "horizon_days": ...}``) or ``None``. ``uplift``: a share (0.10 for
    10 %). Columns ``CAMPAIGN_PLAN_COLUMNS``: ``ReturnRate`` (0-1), ``MeanNextSpend``
    (currency, per returning customer in the horizon), ``ExpectedExtraRevenue``, ``Cost``
    and ``Net`` (currency); the evidence columns and the revenue and net are NaN for a
    segment without evidence, ``Cost`` always holds. ``attrs["horizon_days"]`` is the horizon.
    """
    sizes = pd.Series(sizes, dtype="float64")
    found = dict((evidence or {}).get("segments") or {})
    recommendations = dict(recommendations)
    rows = []
    for name, customers in sizes.items():
        figures = found.get(str(name)) or {}
        rate = float(figures["return_rate"]) if "return_rate" in figures else np.nan
        spend = float(figures["mean_spend"]) if "mean_spend" in figures else np.nan
        per_returner = spend / rate if rate > 0 else (0.0 if rate == 0 else np.nan)
        extra = customers * rate * per_returner * uplift
        cost = customers * cost_per_contact
        rows.append({"Segment": str(name), "Customers": int(customers),
                     "Recommendation": str(recommendations.get(name, "")), "ReturnRate": rate,
                     "MeanNextSpend": per_returner, "ExpectedExtraRevenue": extra, "Cost": cost,
                     "Net": extra - cost})
    plan = pd.DataFrame(rows, columns=CAMPAIGN_PLAN_COLUMNS)
    plan.attrs["horizon_days"] = int((evidence or {}).get("horizon_days") or 0) or None
    return plan


def formula_in_words(cost_per_contact: float, uplift: float, horizon_days: int | None, currency: str = "£") -> str:
    """The plan's rule in one plain paragraph, with the inputs used."""
    horizon = f"the {horizon_days} days after" if horizon_days else "the backtest's horizon after"
    return (f"Expected extra revenue = customers × return rate × mean next spend × uplift; "
            f"net = expected extra revenue − customers × cost per contact. Return rate: the share of customers like "
            f"these who bought again in {horizon} earlier dates; mean next spend: what each of those who came back "
            f"spent then. Used here: {currency}{cost_per_contact:,.2f} per contact and {uplift:.0%} uplift "
            "(the campaign is assumed to add that share to what the segment brings back). A segment the backtest "
            "did not measure says \u201cnot measured\u201d.")
