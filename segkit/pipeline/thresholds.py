"""Lifecycle thresholds fitted to the shop's own log, chosen out of sample.

``fit_lifecycle_rules`` takes the backtest's rolling cut-offs (``rolling_cutoffs``), uses
the earlier ones to choose the thresholds and reports the stages they give at the later
ones, which choose nothing. At each cut-off the customers are described with the lines
before it only (``customer_features``) and each one's outcome is whether they bought in
the ``horizon_days`` after it (``horizon_outcome``).

``train_with_lifecycle`` is what ``segkit train``, ``segkit backtest``, the page's first
start (which runs ``segkit train``) and the notebooks call: it fits the thresholds by
default (``choose_lifecycle``), falls back to the fixed 30/120/180 days when the log is too
short for the cut-offs or its lines are not in memory, and says which in one sentence
(``LifecycleChoice.sentence``), stored in ``model.json`` under ``lifecycle_fit``.

The rule, on the choosing cut-offs pooled (customers counted once per cut-off):

- **New** stays at ``new_days`` (30): a customer's first month says nothing of their
  worth, whatever the return rate.
- **At risk** from the first silence band (``step_days`` wide, from ``step_days`` on) whose
  return rate within the horizon is below half of the *recent buyers'* (silent less than
  ``step_days``).
- **Lost** from the shortest silence ``L`` >= At risk such that the group the lifecycle
  rules would call Lost (silent ``L`` days or more, or At risk after a single purchase)
  has the upper end of its 95 % Wilson interval below ``LOST_MAX_RETURN`` (10 %) at every
  choosing cut-off, with at least ``min_customers`` members at each.
- When no ``L`` qualifies, no silence in the log backs "Lost": ``lost_days`` is set beyond
  the longest silence the choosing cut-offs can show, so only single-purchase customers
  silent since At risk (and, later, customers silent longer than anything measured) fall
  in that group, and it is called **Lapsed**, with its measured return rate.

A "Lost" chosen on the earlier cut-offs keeps its name only if its upper bound is below
10 % at every held-out cut-off too; else it is called "Lapsed". Likewise **At risk** keeps
its name only if, at every held-out cut-off, the group's return is clearly below active
customers': the upper end of its 95 % Wilson interval below the lower end of the Active
group's and below half of the recent buyers' return rate (the rule that chose its
threshold, applied to the group as named). Else it is called **Quiet** (``QUIET``), with
its measured rate and advice that fits customers who come back on their own. The held-out
cut-offs' horizons may overlap those of the last choosing cut-offs (the log is short): the
dates choose nothing, but they share part of a season.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from segkit.errors import SegkitDataError
from segkit.modeling.label import LifecycleRules, lifecycle_stage
from segkit.pipeline.backtest import (
    DEFAULT_CUTOFFS,
    DEFAULT_HORIZON_DAYS,
    DEFAULT_MIN_HISTORY_DAYS,
    LAPSED,
    LOST_MAX_RETURN,
    UNMEASURED_SENTENCE_END,
    horizon_outcome,
    lines_until,
    name_unmeasured,
    rename_segments,
    rolling_cutoffs,
)

__all__ = ["LifecycleFit", "fit_lifecycle_rules", "wilson_interval", "FIT_RULE", "QUIET", "at_risk_earned",
           "LifecycleChoice", "choose_lifecycle", "train_with_lifecycle", "FITTED", "FIXED"]

#: ``lifecycle=`` of ``choose_lifecycle`` and ``segkit train --lifecycle``: thresholds fitted
#: to the log (the default) or the fixed 30/120/180 days.
FITTED, FIXED = "fitted", "fixed"

#: What the At risk group is called when, at the held-out cut-offs, it does not return
#: clearly less than customers who are not at risk (``at_risk_earned``).
QUIET = "Quiet"

#: The rule in one sentence, stored with the thresholds.
FIT_RULE = ("At risk from the first {step}-day silence band whose return within {horizon} days is below half of "
            "recent buyers' (silent under {step} days); Lost from the shortest silence at which the group called Lost "
            "(that silence, or At risk after a single purchase) returns under {max_pct:.0f} % (upper 95 % Wilson bound) "
            "at every choosing cut-off, else nobody is Lost and the group is called Lapsed; New at {new} days. Chosen on "
            "the earlier cut-offs pooled, reported on the later ones. At risk keeps its name only if, at every later "
            "cut-off, its upper 95 % bound is below the Active group's lower bound and below half of recent buyers' "
            "return; else it is called Quiet.")


def wilson_interval(successes, n, z: float = 1.959964) -> tuple[np.ndarray, np.ndarray]:
    """95 % Wilson score interval of a share ``successes / n`` (arrays; ``n`` = 0 gives 0-1)."""
    k = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(n > 0, k / n, 0.0)
        denom = 1 + z ** 2 / n
        centre = (p + z ** 2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z ** 2 / (4 * n ** 2)) / denom
    lo = np.where(n > 0, np.clip(centre - half, 0, 1), 0.0)
    hi = np.where(n > 0, np.clip(centre + half, 0, 1), 1.0)
    return lo, hi


@dataclass
class LifecycleFit:
    """Result of ``fit_lifecycle_rules``.

    ``rules``: the chosen ``LifecycleRules``. ``lost_earned``: whether the long-silent group
    is called "Lost" (``stage_names["Lost"]`` is then "Lost", else "Lapsed").
    ``by_silence``: the choosing cut-offs pooled, one row per silence band (``silence_from``
    days): customers, returned, return_rate with ``_lo``/``_hi``. ``held_out``: one row per
    (held-out cut-off, stage): ``customers, returned, return_rate, return_rate_lo,
    return_rate_hi, mean_spend`` (spend in the horizon per member, 0 for those who did not
    buy), ``recent_return_rate`` (that cut-off's recent buyers'); ``stage`` is the name shown
    (Lost or Lapsed for the long-silent group, At risk or Quiet for the group silent since
    At risk).
    """

    rules: LifecycleRules
    lost_earned: bool
    choosing_cutoffs: list[pd.Timestamp]
    held_out_cutoffs: list[pd.Timestamp]
    horizon_days: int
    recent_return_rate: float
    by_silence: pd.DataFrame
    held_out: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)
    #: Whether the At risk group returns clearly less than active customers at every
    #: held-out cut-off (``at_risk_earned``); else it is shown as ``QUIET``.
    at_risk_is_earned: bool = True
    #: The customer features at each cut-off (lines before it, the model's window, no extra
    #: features), for the backtest on the same cut-offs (``backtest_segments(features=)``);
    #: not stored.
    features: dict[pd.Timestamp, pd.DataFrame] = field(default_factory=dict, repr=False)

    @property
    def stage_names(self) -> dict[str, str]:
        """Lifecycle stage -> the name it is shown under."""
        return {"New": "New", "Active": "Active", "At risk": "At risk" if self.at_risk_is_earned else QUIET,
                "Lost": "Lost" if self.lost_earned else LAPSED}

    @property
    def renames(self) -> dict[str, str]:
        """What ``apply_evidence`` must rename in a model with these rules."""
        return {stage: name for stage, name in self.stage_names.items() if stage != name}

    def as_dict(self) -> dict[str, Any]:
        """What ``model.json`` stores as ``lifecycle_fit``."""
        # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
        from segkit.pipeline.artifacts import jsonable

        step = self.settings.get("step_days", 30)
        return jsonable({
            "rule": FIT_RULE.format(step=step, horizon=self.horizon_days, max_pct=100 * LOST_MAX_RETURN,
                                    new=self.rules.new_days),
            "thresholds": self.rules.as_dict(), "lost_earned": bool(self.lost_earned),
            "at_risk_earned": bool(self.at_risk_is_earned),
            "stage_names": self.stage_names, "horizon_days": int(self.horizon_days),
            "choosing_cutoffs": [c.strftime("%Y-%m-%d") for c in self.choosing_cutoffs],
            "held_out_cutoffs": [c.strftime("%Y-%m-%d") for c in self.held_out_cutoffs],
            "recent_return_rate": float(self.recent_return_rate),
            "held_out": self.held_out.round(4).to_dict(orient="records"),
            "settings": self.settings,
        })

    def sentences(self, currency: str = "£") -> list[str]:
        """What the fit found and the held-out figures, in words (the thresholds themselves
        are ``LifecycleChoice.sentence``'s)."""
        r = self.rules
        out = [f"  recent buyers (silent under {self.settings.get('step_days', 30)} days) bought again within "
               f"{self.horizon_days} days at {100 * self.recent_return_rate:.0f} %."]
        if not self.lost_earned:
            out.append(f"  nobody is called Lost: no group of silent customers returned under "
                       f"{100 * LOST_MAX_RETURN:.0f} % at every cut-off, so the long-silent group is called {LAPSED}.")
        if not self.at_risk_is_earned:
            held = self.held_out

            def span(stage: str, column: str = "return_rate") -> str:
                values = 100 * held.loc[held["stage"] == stage, column]
                return f"{values.min():.0f}-{values.max():.0f} %" if len(values) else "none"

            recent = 100 * held["recent_return_rate"]
            out.append(f"  nobody is called At risk: at the held-out cut-offs the customers silent {r.at_risk_days} to "
                       f"{r.lost_days - 1} days bought again at {span(QUIET)} (Active: {span('Active')}, recent buyers: "
                       f"{recent.min():.0f}-{recent.max():.0f} %): too many come back to call them at risk (an At risk "
                       f"group must return below the Active group's interval and under half of recent buyers' rate), "
                       f"so they are called {QUIET}.")
        for cutoff, rows in self.held_out.groupby("cutoff", sort=False):
            out.append(f"  held out at {cutoff} (chose nothing):")
            for _, row in rows.iterrows():
                out.append(f"    {row['stage']}: {row['customers']:,} customers, {100 * row['return_rate']:.0f} % bought "
                           f"again within {self.horizon_days} days ({100 * row['return_rate_lo']:.0f}-"
                           f"{100 * row['return_rate_hi']:.0f} %), spending {currency}{row['mean_spend']:,.0f} on average.")
        return out


def _features_at(lines: pd.DataFrame, cutoff: pd.Timestamp, window_days: int | None) -> pd.DataFrame:
    """The customer features at ``cutoff`` (lines before it only), as the backtest computes them."""
    # start-up: ibis and DuckDB load on first use, not on import (0.4 s, measured)
    from segkit.features.customers import customer_features

    return customer_features(lines[lines["InvoiceDate"] < cutoff], snapshot_date=cutoff, window_days=window_days)


def _stages_at(lines: pd.DataFrame, customers: pd.DataFrame, cutoff: pd.Timestamp, horizon_days: int) -> pd.DataFrame:
    """``customers`` (features at ``cutoff``) with Recency, Tenure, NumPurchases and their
    outcome in the horizon (Returned, Spend)."""
    customers = customers[["Recency", "Tenure", "NumPurchases"]]
    return customers.join(horizon_outcome(lines, customers.index, cutoff, horizon_days))


def _stage_table(frame: pd.DataFrame, rules: LifecycleRules, names: dict[str, str]) -> pd.DataFrame:
    stage = pd.Series(lifecycle_stage(frame, rules), index=frame.index).map(names)
    grouped = frame.assign(stage=stage).groupby("stage", sort=False)
    table = grouped.agg(customers=("Returned", "size"), returned=("Returned", "sum"), mean_spend=("Spend", "mean"))
    order = [n for n in ("Active", "New", "At risk", QUIET, "Lost", LAPSED) if n in table.index]
    table = table.loc[order].reset_index()
    table["return_rate"] = table["returned"] / table["customers"]
    table["return_rate_lo"], table["return_rate_hi"] = wilson_interval(table["returned"], table["customers"])
    table["customers"] = table["customers"].astype(int)
    table["returned"] = table["returned"].astype(int)
    return table[["stage", "customers", "returned", "return_rate", "return_rate_lo", "return_rate_hi", "mean_spend"]]


def fit_lifecycle_rules(
    lines: pd.DataFrame,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    n_cutoffs: int = DEFAULT_CUTOFFS,
    held_out: int = 2,
    window_days: int | None = None,
    min_history_days: int | None = None,
    cutoffs: Sequence | None = None,
    step_days: int = 30,
    new_days: int = 30,
    min_customers: int = 20,
    max_return: float = LOST_MAX_RETURN,
    until=None,
) -> LifecycleFit:
    """Choose lifecycle thresholds on the log's earlier cut-offs and report them on the later ones.

    Parameters
    ----------
    lines : pandas.DataFrame
        Clean lines (``CustomerData.lines``): CustomerID, InvoiceDate, Quantity, UnitPrice.
    horizon_days : int, default 90
        Days after each cut-off in which a customer "bought again".
    n_cutoffs, held_out : int, default 6 and 2
        ``rolling_cutoffs`` through the log (or ``cutoffs`` given); the last ``held_out``
        choose nothing and are only reported.
    window_days, min_history_days : int, optional
        The model's observation window, and the history kept before the first cut-off
        (default: the window, or 180 days), as in ``backtest_segments``.
    step_days : int, default 30
        Width of the silence bands; the thresholds are multiples of it.
    new_days : int, default 30
        The New threshold (not fitted).
    min_customers : int, default 20
        The fewest members a Lost group needs at each choosing cut-off.
    max_return : float, default 0.10
        A group is called Lost only below this return rate (upper 95 % Wilson bound).

    Returns
    -------
    LifecycleFit
        The rules, whether Lost is earned, the choosing cut-offs' rates by silence and the
        held-out table. The rule is in the module docstring and ``FIT_RULE``.
    """
    lines = lines_until(lines, until)
    horizon_days, step_days = int(horizon_days), int(step_days)
    history = int(min_history_days if min_history_days is not None else (window_days or DEFAULT_MIN_HISTORY_DAYS))
    if cutoffs is None:
        cutoffs = rolling_cutoffs(lines["InvoiceDate"].min(), lines["InvoiceDate"].max(), horizon_days, history,
                                  n_cutoffs)
    cutoffs = sorted(pd.Timestamp(c) for c in cutoffs)
    if len(cutoffs) <= held_out:
        raise SegkitDataError(
            f"Fitting the lifecycle thresholds needs more than {held_out} cut-offs (the last {held_out} are held out); "
            f"the log gives {len(cutoffs)}, each with {history} days of history and the {horizon_days}-day horizon "
            "after it. Use --lifecycle fixed, a shorter --horizon-days or a longer log.")
    choosing, later = cutoffs[:len(cutoffs) - held_out], cutoffs[len(cutoffs) - held_out:]
    features = {c: _features_at(lines, c, window_days) for c in cutoffs}
    frames = {c: _stages_at(lines, features[c], c, horizon_days) for c in cutoffs}

    # Return rate by silence band, the choosing cut-offs pooled.
    pooled = pd.concat([frames[c].assign(cutoff=c) for c in choosing])
    band = (pooled["Recency"] // step_days * step_days).astype(int)
    by_silence = pooled.groupby(band.rename("silence_from"))["Returned"].agg(customers="size", returned="sum")
    by_silence["return_rate"] = by_silence["returned"] / by_silence["customers"]
    by_silence["return_rate_lo"], by_silence["return_rate_hi"] = wilson_interval(by_silence["returned"],
                                                                                  by_silence["customers"])
    by_silence = by_silence.reset_index()
    recent = float(by_silence.loc[by_silence["silence_from"] == 0, "return_rate"].iloc[0]) \
        if (by_silence["silence_from"] == 0).any() else float(pooled["Returned"].mean())
    longest = int(max((c - lines["InvoiceDate"].min()).days for c in choosing)) + 1
    below = by_silence[(by_silence["silence_from"] >= step_days) & (by_silence["return_rate"] < recent / 2)]
    at_risk = int(below["silence_from"].iloc[0]) if len(below) else longest

    # Lost: the shortest silence whose Lost group returns under max_return at every choosing cut-off.
    lost = None
    for candidate in range(at_risk, longest + step_days, step_days):
        rules = LifecycleRules(new_days, at_risk, candidate)
        ok = True
        for c in choosing:
            frame = frames[c]
            member = lifecycle_stage(frame, rules) == "Lost"
            n = int(member.sum())
            _, hi = wilson_interval(frame["Returned"].to_numpy()[member].sum(), n)
            if n < min_customers or not hi < max_return:
                ok = False
                break
        if ok:
            lost = candidate
            break
    rules = LifecycleRules(new_days, at_risk, lost if lost is not None else max(longest, at_risk + step_days))

    # Report on the held-out cut-offs; Lost must hold there too.
    raw = {"New": "New", "Active": "Active", "At risk": "At risk", "Lost": "Lost"}
    tables = [_stage_table(frames[c], rules, raw).assign(cutoff=c.strftime("%Y-%m-%d")) for c in later]
    held = pd.concat(tables, ignore_index=True)
    earned = lost is not None and bool((held.loc[held["stage"] == "Lost", "return_rate_hi"] < max_return).all())
    recent_then = {c.strftime("%Y-%m-%d"): float(frames[c].loc[frames[c]["Recency"] < step_days, "Returned"].mean())
                   for c in later}
    at_risk_ok = at_risk_earned(held, recent_then)
    if not earned:
        held["stage"] = held["stage"].replace({"Lost": LAPSED})
    if not at_risk_ok:
        held["stage"] = held["stage"].replace({"At risk": QUIET})
    held["recent_return_rate"] = held["cutoff"].map(recent_then)
    held = held[["cutoff"] + [c for c in held.columns if c != "cutoff"]]
    settings = {"step_days": step_days, "min_customers": int(min_customers), "max_return": float(max_return),
                "window_days": window_days, "min_history_days": history,
                "lost_chosen_on_earlier_cutoffs": lost is not None}
    return LifecycleFit(rules, earned, choosing, later, horizon_days, recent, by_silence, held, settings, at_risk_ok,
                        features)


def at_risk_earned(held_out: pd.DataFrame, recent_return: Mapping[str, float]) -> bool:
    """Whether the At risk group returns clearly less than active customers at every cut-off
    of ``held_out`` (rows per cut-off and stage, as ``LifecycleFit.held_out`` before
    renaming): the upper end of its 95 % interval below the lower end of the Active group's
    and below half of ``recent_return[cutoff]`` (the share of recent buyers who bought
    again). True when no cut-off has an At risk group (nobody is called At risk)."""
    for cutoff, rows in held_out.groupby("cutoff", sort=False):
        at_risk, active = rows[rows["stage"] == "At risk"], rows[rows["stage"] == "Active"]
        if at_risk.empty:
            continue
        upper = float(at_risk["return_rate_hi"].iloc[0])
        active_lo = float(active["return_rate_lo"].iloc[0]) if len(active) else 1.0
        half_recent = recent_return.get(cutoff, np.nan) / 2
        if not (upper < active_lo and upper < half_recent):
            return False
    return True



@dataclass
class LifecycleChoice:
    """The lifecycle thresholds a model is trained with and why (``choose_lifecycle``).

    ``rules``: the thresholds (``None`` for presets without lifecycle stages). ``fit``: the
    ``LifecycleFit`` when they were fitted, else ``None``. ``reason``: why they are fixed
    ("" when fitted or when there are no stages).
    """

    rules: LifecycleRules | None
    fit: LifecycleFit | None = None
    reason: str = ""
    #: Seconds the fit took (0 when fixed).
    seconds: float = 0.0

    @property
    def fitted(self) -> bool:
        return self.fit is not None

    @property
    def renames(self) -> dict[str, str]:
        """What ``apply_evidence`` must rename (``LifecycleFit.renames``; none when fixed)."""
        return self.fit.renames if self.fit is not None else {}

    @property
    def stage_names(self) -> dict[str, str]:
        """Lifecycle stage -> the name it is shown under: the fit's (``LifecycleFit.stage_names``),
        or with fixed thresholds "Lapsed" for the long-silent group, which nothing has measured
        (``backtest.name_unmeasured``; a backtest may still earn it "Lost")."""
        if self.fit is not None:
            return self.fit.stage_names
        return {"New": "New", "Active": "Active", "At risk": "At risk", "Lost": LAPSED}

    @property
    def sentence(self) -> str:
        """The thresholds used and how they were chosen, in one sentence ("" without stages)."""
        r = self.rules
        if r is None:
            return ""
        if self.fit is not None:
            fit, lost = self.fit, self.fit.stage_names["Lost"]
            choosing = ", ".join(c.strftime("%Y-%m-%d") for c in fit.choosing_cutoffs)
            held = " and ".join(c.strftime("%Y-%m-%d") for c in fit.held_out_cutoffs)
            return (f"Lifecycle thresholds fitted to this log: New under {r.new_days} days, "
                    f"{fit.stage_names['At risk']} from {r.at_risk_days} days of silence, {lost} from {r.lost_days} "
                    f"days, chosen on what customers did within {fit.horizon_days} days of {len(fit.choosing_cutoffs)} "
                    f"earlier dates ({choosing}) and checked at {held}.")
        return (f"Lifecycle thresholds fixed at New under {r.new_days} days, At risk from {r.at_risk_days} and "
                f"{LAPSED} from {r.lost_days} days of silence, not fitted to this log: {self.reason.rstrip('.')}"
                f"{UNMEASURED_SENTENCE_END}.")

    def sentences(self, currency: str = "£") -> list[str]:
        """What ``segkit train`` prints: the sentence, then the fit's held-out figures."""
        if self.rules is None:
            return []
        return [self.sentence] + (self.fit.sentences(currency) if self.fit is not None else [])

    def as_dict(self) -> dict[str, Any]:
        """What ``model.json`` stores as ``lifecycle_fit``: ``fitted``, ``sentence``,
        ``thresholds``; when fitted the fit's figures (``LifecycleFit.as_dict``), when fixed
        ``reason``."""
        if self.fit is not None:
            return {"fitted": True, "sentence": self.sentence, **self.fit.as_dict()}
        return {"fitted": False, "sentence": self.sentence, "reason": self.reason,
                "thresholds": self.rules.as_dict() if self.rules is not None else None,
                **({"stage_names": self.stage_names} if self.rules is not None else {})}


def choose_lifecycle(data, preset: str = "default", lifecycle: str = FITTED,
                     horizon_days: int = DEFAULT_HORIZON_DAYS, not_fitted_because: str | None = None,
                     **fit_options) -> LifecycleChoice:
    """The lifecycle thresholds to train ``data`` (a ``CustomerData``) with.

    ``lifecycle="fitted"`` (default): ``fit_lifecycle_rules`` on ``data.lines``; the fixed
    30/120/180 days, with the reason, when the caller says why it cannot
    (``not_fitted_because``, e.g. the backtest is skipped), when the lines are not in memory
    (out of core) or the log is too short for the cut-offs. ``lifecycle="fixed"``: the
    fixed thresholds, because they were asked for. Presets without lifecycle stages
    (``clusters``, ``seed``) get ``rules=None``: nothing to choose.
    """
    if preset != "default":
        return LifecycleChoice(None)
    fixed = LifecycleRules()
    if lifecycle == FIXED:
        return LifecycleChoice(fixed, reason="the fixed thresholds were asked for (--lifecycle fixed)")
    if lifecycle != FITTED:
        raise SegkitDataError(f"The lifecycle thresholds are '{FITTED}' or '{FIXED}', not '{lifecycle}'.")
    if not_fitted_because:
        return LifecycleChoice(fixed, reason=not_fitted_because)
    lines = data.lines if data.has_lines else None
    if lines is None:
        return LifecycleChoice(fixed, reason="the purchase lines are not in memory (out-of-core data), and fitting "
                                             "the thresholds needs them; use --engine pandas to fit them")

    started = time.perf_counter()
    try:
        fit = fit_lifecycle_rules(lines, horizon_days=horizon_days, window_days=data.window_days, **fit_options)
    except SegkitDataError:
        history = int(data.window_days or DEFAULT_MIN_HISTORY_DAYS)
        held_out = int(fit_options.get("held_out", 2))
        return LifecycleChoice(fixed, reason=(
            f"the log covers {data.covered_days} days, too short for the backtest's cut-offs (fitting needs more "
            f"than {held_out} dates, each with {history} days of history before it and {horizon_days} days after it)"))
    return LifecycleChoice(fit.rules, fit, seconds=time.perf_counter() - started)


def train_with_lifecycle(data, k="auto", preset: str = "default", lifecycle: str = FITTED,
                         horizon_days: int = DEFAULT_HORIZON_DAYS, not_fitted_because: str | None = None,
                         **train_options):
    """Train a model on ``data`` with the lifecycle thresholds ``choose_lifecycle`` gives
    (fitted to the log by default) and record the choice in it (``model.lifecycle_fit_``,
    saved as ``lifecycle_fit`` in ``model.json``).

    Returns ``(model, k_table, choice)``: ``workflow.train_model``'s two and the
    ``LifecycleChoice``. A group the fit did not earn "Lost" (or "At risk") is called what
    the log shows at once (``choice.renames``, recorded as ``lifecycle_fit["renamed"]``).
    With fixed thresholds nothing has measured the long-silent group, so it is called
    "Lapsed" at once (``backtest.name_unmeasured``); a backtest that measures it returning
    under 10 % calls it "Lost" again.

    >>> from segkit.ingest.sample import generate_sample_transactions
    >>> from segkit.pipeline.workflow import load_customer_data
    >>> data = load_customer_data(generate_sample_transactions(n_customers=300, seed=1))
    >>> model, _, choice = train_with_lifecycle(data, k=3)
    >>> choice.fitted, model.lifecycle_rules_ == choice.rules
    (True, True)
    """
    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from segkit.pipeline.workflow import train_model

    choice = choose_lifecycle(data, preset, lifecycle, horizon_days, not_fitted_because)
    model, table = train_model(data, k=k, preset=preset, lifecycle=choice.rules, **train_options)
    if choice.rules is not None:
        # The names the held-out cut-offs earned (Lapsed, Quiet) at once, so no model is shown
        # as "Lost" before its backtest; with fixed thresholds nothing measured the long-silent
        # group: not "Lost" either.
        done = rename_segments(model, choice.renames) if choice.fitted else name_unmeasured(model)
        model.lifecycle_fit_ = {**choice.as_dict(), "renamed": done}
    return model, table, choice
