"""Lifetime value checked against the segments' backtest.

At each cut-off of a ``Backtest`` the lifetime-value model (``segkit.value.clv``) is fitted
again on the lines before the cut-off only (``refit_clv`` from the model's own parameters:
the same maximum likelihood, by scipy, no pymc), its predicted spend over the backtest's
horizon is set beside what each customer actually spent (``holdout_comparison``) and
summed per segment of that cut-off (``holdout_summary``, ``spend_ratio_by_segment``): the
``segkit clv --diagnostics`` comparison, on the backtest's dates and segments.

Each cut-off's ratio has a 95 % interval from a bootstrap over customers (as the
backtest's figures: resampling every customer known at the cut-off). Pooled over the
cut-offs, a segment's ``spend_ratio`` is its predicted spend summed over the cut-offs
divided by its actual spend summed likewise (1: on target, 0.72: predicted 28 % too
little); ``spend_ratio_lo`` / ``_hi`` are the lowest low and the highest high of the
cut-offs' intervals, so the spread across dates (the season) is in it, not only the
sampling error.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from segkit.pipeline.backtest import Backtest, evidence_sentences
from segkit.value.clv import holdout_comparison, holdout_summary, spend_ratio_by_segment

__all__ = ["value_backtest", "value_evidence", "apply_value_evidence", "ALL_CUSTOMERS"]

#: The row of every customer known at a cut-off (``holdout_summary``'s name for it).
ALL_CUSTOMERS = "All customers"


def _ratio_interval(predicted: np.ndarray, actual: np.ndarray, member: np.ndarray,
                    weights: np.ndarray) -> tuple[float, float]:
    """95 % bootstrap interval of ``sum(predicted) / sum(actual)`` over the ``member`` rows
    (``weights``: one row of customer counts per replicate); NaN without actual spend."""
    w = weights[:, member]
    total_actual = w @ actual[member]
    ok = total_actual > 0
    if not ok.any():
        return np.nan, np.nan
    ratios = (w @ predicted[member])[ok] / total_actual[ok]
    return float(np.percentile(ratios, 2.5)), float(np.percentile(ratios, 97.5))


def value_backtest(backtest: Backtest, lines: pd.DataFrame, params: Mapping[str, Any], n_boot: int = 200,
                   random_state: int = 42) -> pd.DataFrame:
    """Predicted against actual spend per segment at each cut-off of ``backtest``.

    ``lines``: the clean lines the backtest ran on; ``params``: the model's lifetime-value
    parameters (``clv_params_``), the start of each cut-off's refit. One row per (cut-off,
    segment), "All customers" first at each cut-off, then one pooled row per segment
    (``cutoff`` = "pooled"); columns ``cutoff, segment, customers, predicted_spend,
    actual_spend, spend_ratio`` (predicted / actual; NaN when they spent nothing),
    ``spend_ratio_lo`` / ``_hi`` (``n_boot`` bootstrap replicates over customers) and on the
    pooled rows ``cutoffs``. Segment names are
    the backtest's own (before ``apply_evidence`` renames them). Customers the segments do
    not cover (outside an observation window) count only in "All customers".
    """
    rng = np.random.default_rng(random_state)
    rows = []
    for cutoff in backtest.cutoffs:
        comparison = holdout_comparison(lines, cutoff, start=params, horizon_days=backtest.horizon_days)
        segments = backtest.members.get(cutoff)
        summary = holdout_summary(comparison, segments)
        ratios = spend_ratio_by_segment(summary)
        n = len(comparison)
        weights = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(float)
        predicted = comparison["predicted_spend"].to_numpy(dtype=float)
        actual = comparison["actual_spend"].to_numpy(dtype=float)
        names = (segments.astype("string").reindex(comparison.index.astype("string")).fillna("(none)")
                 if segments is not None else pd.Series("(none)", index=comparison.index)).to_numpy(dtype=object)
        for name, row in summary.iterrows():
            if name == "(none)":
                continue
            member = np.ones(n, dtype=bool) if name == ALL_CUSTOMERS else names == name
            lo, hi = _ratio_interval(predicted, actual, member, weights)
            rows.append({"cutoff": cutoff.strftime("%Y-%m-%d"), "segment": str(name),
                         "customers": int(row["Customers"]), "predicted_spend": float(row["predicted_spend"]),
                         "actual_spend": float(row["actual_spend"]),
                         "spend_ratio": float(ratios.loc[name, "SpendRatio"]), "spend_ratio_lo": lo,
                         "spend_ratio_hi": hi})
    per = pd.DataFrame(rows)
    pooled = []
    for name, group in per.groupby("segment", sort=False):
        actual = group["actual_spend"].sum()
        pooled.append({"cutoff": "pooled", "segment": name, "customers": int(group["customers"].sum()),
                       "predicted_spend": float(group["predicted_spend"].sum()), "actual_spend": float(actual),
                       "spend_ratio": float(group["predicted_spend"].sum() / actual) if actual > 0 else np.nan,
                       "spend_ratio_lo": float(group["spend_ratio_lo"].min()),
                       "spend_ratio_hi": float(group["spend_ratio_hi"].max()), "cutoffs": int(len(group))})
    return pd.concat([per, pd.DataFrame(pooled)], ignore_index=True)


def value_evidence(table: pd.DataFrame, backtest: Backtest, params: Mapping[str, Any],
                   renames: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What ``model.json`` stores as ``evidence["value"]``: the pooled rows of
    ``value_backtest`` by segment (under ``renames``' new names), "All customers" apart."""
    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from segkit.pipeline.artifacts import jsonable

    renames = renames or {}
    pooled = table[table["cutoff"] == "pooled"].set_index("segment")
    figures = {str(name): {k: (int(v) if k in ("customers", "cutoffs") else float(v))
                           for k, v in row.drop("cutoff").items() if pd.notna(v)}
               for name, row in pooled.iterrows()}
    return jsonable({
        "horizon_days": int(backtest.horizon_days),
        "cutoffs": [c.strftime("%Y-%m-%d") for c in backtest.cutoffs],
        "purchase_model": str(params.get("purchase_model", "bgnbd")),
        "rule": "at each cut-off the lifetime-value model is fitted again on the lines before it and its predicted "
                "spend over the horizon is summed per segment of that cut-off; spend_ratio: predicted over actual, "
                "summed over the cut-offs; _lo/_hi: the lowest low and highest high of the cut-offs' 95 % "
                "bootstrap intervals over customers",
        "all": figures.pop(ALL_CUSTOMERS, {}),
        "segments": {renames.get(name, name): fig for name, fig in figures.items()},
    })


def apply_value_evidence(model, backtest: Backtest, lines: pd.DataFrame, currency: str = "£") -> pd.DataFrame | None:
    """Check ``model``'s lifetime value against ``backtest`` (``value_backtest``), store it
    as ``model.evidence_["value"]`` and add its sentence to the definitions' ``Evidence``.
    Call it after ``apply_evidence``. Returns the table; None (and nothing stored) when the
    model has no lifetime value or no evidence."""
    params = getattr(model, "clv_params_", None)
    evidence = getattr(model, "evidence_", None)
    if not params or not evidence:
        return None
    table = value_backtest(backtest, lines, params)
    evidence["value"] = value_evidence(table, backtest, params, evidence.get("renamed"))
    sentences = evidence_sentences(evidence, currency)
    model.definitions_ = model.definitions_.assign(
        Evidence=[sentences.get(str(n), "") for n in model.definitions_.index])
    return table
