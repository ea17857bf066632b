"""What customers like these did next, measured on the log itself.

``backtest_segments`` walks rolling-origin cut-offs through a log of clean lines. Every
cut-off keeps at least the model's observation window (``min_history_days``) of lines
before it and the whole horizon after it. At each cut-off the customers are segmented
with the lines before the cut-off only, by a fresh fit with the model's own settings
(preset, K, lifecycle rules, features: ``sklearn.base.clone`` of the model), and then
for every segment it measures what its members did in the ``horizon_days`` after the
cut-off:

- ``return_rate``: share who bought again (at least one line in the horizon);
- ``mean_spend`` / ``median_spend``: spend in the horizon per member (0 for those who
  did not buy);
- ``revenue_share``: the segment's share of all the horizon's spend by the customers
  known at the cut-off.

Each figure at a cut-off has a 95 % interval from a bootstrap over customers
(``_lo`` / ``_hi``). The pooled row of a segment gives the mean over the cut-offs and,
as its interval, the envelope of the cut-offs' intervals: the lowest low and the highest
high, so the spread across dates (the season) is in it, not only the sampling error.

``evidence`` is the pooled table as ``model.json`` stores it; ``evidence_sentence``
says it in words; ``earned_names`` renames a group called "Lost" whose members come
back ("Lapsed") so that the no-paid-channels advice only goes where the log backs it.
``advice_from_evidence`` then checks every segment's advice against its own measured
outcome (``label.ADVICE_RULES``, kept as data): a segment whose evidence contradicts its
advice gets the advice its evidence supports (``label.EVIDENCE_ADVICE``), and its
definition says why.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from segkit.errors import SegkitDataError
from segkit.pipeline.workflow import lines_until
from segkit.schema import snapshot_date_for

__all__ = [
    "Backtest", "backtest_segments", "rolling_cutoffs", "lines_until", "evidence_sentence",
    "evidence_sentences", "value_sentence", "earned_names", "apply_evidence", "segment_evidence", "NO_EVIDENCE", "LOST_MAX_RETURN",
    "STATS", "DEFAULT_HORIZON_DAYS", "rename_segments", "name_unmeasured", "restate_stage", "UNMEASURED_REASON",
    "UNMEASURED_SENTENCE_END", "MEASURED_SENTENCE_END", "advice_from_evidence", "advice_table", "follow_advice",
]

DEFAULT_HORIZON_DAYS = 90
#: Default number of cut-offs.
DEFAULT_CUTOFFS = 6
#: History before the first cut-off when the model counts the whole log (no observation
#: window): the longest silence its lifecycle rules name (Lost: 180 days).
DEFAULT_MIN_HISTORY_DAYS = 180
#: A group may be called "Lost" (and told "no paid channels") only when the highest
#: return within the horizon any cut-off's interval allows is below this share.
LOST_MAX_RETURN = 0.10
#: The figures measured per segment, in the order of the output columns.
STATS = ("return_rate", "mean_spend", "median_spend", "revenue_share")


@dataclass
class Backtest:
    """Result of ``backtest_segments``.

    ``table``: one row per (cut-off, segment) and one pooled row per segment
    (``cutoff`` = "pooled"); columns ``cutoff, segment, customers, returned`` and each of
    ``STATS`` with ``_lo`` / ``_hi``; pooled rows add ``cutoffs`` (how many cut-offs had
    the segment) and ``<stat>_sd`` (spread of the cut-offs' figures); their ``customers``
    and ``returned`` are summed over the cut-offs (a customer counts once per cut-off).
    """

    table: pd.DataFrame
    cutoffs: list[pd.Timestamp]
    horizon_days: int
    settings: dict[str, Any] = field(default_factory=dict)
    #: Each cut-off's segment of every customer known then (the fit's own names, indexed
    #: by CustomerID), for checks on the same customers (``value_backtest``); not stored.
    members: dict[pd.Timestamp, pd.Series] = field(default_factory=dict, repr=False)

    @property
    def pooled(self) -> pd.DataFrame:
        """The pooled rows, indexed by segment."""
        rows = self.table[self.table["cutoff"] == "pooled"]
        return rows.drop(columns="cutoff").set_index("segment")

    @property
    def per_cutoff(self) -> pd.DataFrame:
        return self.table[self.table["cutoff"] != "pooled"]

    def evidence(self) -> dict[str, Any]:
        """What ``model.json`` stores as ``evidence``: cut-offs, horizon, and the pooled
        figures per segment."""
        # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
        from segkit.pipeline.artifacts import jsonable

        segments = {}
        for name, row in self.pooled.iterrows():
            segments[str(name)] = jsonable({k: (int(v) if k in ("customers", "returned", "cutoffs") else float(v))
                                             for k, v in row.items() if pd.notna(v)})
        return {"horizon_days": int(self.horizon_days),
                "cutoffs": [c.strftime("%Y-%m-%d") for c in self.cutoffs],
                "interval": "95 % bootstrap over customers at each cut-off; pooled: the mean over the cut-offs, "
                            "interval from the lowest to the highest cut-off interval",
                "settings": jsonable(self.settings), "segments": segments}




def rolling_cutoffs(first: pd.Timestamp, last: pd.Timestamp, horizon_days: int = DEFAULT_HORIZON_DAYS,
                    min_history_days: int = DEFAULT_MIN_HISTORY_DAYS, n_cutoffs: int = DEFAULT_CUTOFFS,
                    exclude: Iterable = ()) -> list[pd.Timestamp]:
    """Up to ``n_cutoffs`` cut-offs (midnights), evenly spaced from the first day with
    ``min_history_days`` of log before it to the last day with ``horizon_days`` of log
    after it (``first``/``last``: the log's first and last line). Dates in ``exclude``
    (held out) are skipped. Empty when the log is too short."""
    start = pd.Timestamp(first).normalize() + pd.Timedelta(days=int(min_history_days))
    # the horizon [c, c + h) must end by the day after the last line
    end = snapshot_date_for(last) - pd.Timedelta(days=int(horizon_days))
    if end < start:
        return []
    span = (end - start).days
    n = max(1, min(int(n_cutoffs), span + 1))
    days = sorted({int(round(i * span / (n - 1))) for i in range(n)} if n > 1 else {0})
    held = {pd.Timestamp(d).normalize() for d in exclude}
    return [start + pd.Timedelta(days=d) for d in days if start + pd.Timedelta(days=d) not in held]


def _settings_model(model=None, preset: str = "default", k: int = 4, random_state: int = 42):
    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from sklearn.base import clone

    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from segkit.modeling.model import SegmentationModel

    if model is not None:
        return clone(model)
    return SegmentationModel.from_preset(preset, n_clusters=int(k), random_state=random_state)


def segment_at(lines: pd.DataFrame, cutoff, model=None, preset: str = "default", k: int = 4,
               window_days: int | None = None, extra_features=(), random_state: int = 42,
               customers: pd.DataFrame | None = None) -> pd.DataFrame:
    """Customers with the lines before ``cutoff`` only, segmented by a fresh fit with the
    model's settings; ``Segment`` column added (the fit's own names). ``customers``: their
    features at the cut-off when already computed (``customer_features`` of those lines with
    the same window and extra features, e.g. ``LifecycleFit.features``)."""
    # start-up: ibis and DuckDB load on first use, not on import (0.4 s, measured)
    from segkit.features.customers import customer_features

    cutoff = pd.Timestamp(cutoff)
    if customers is None:
        history = lines[lines["InvoiceDate"] < cutoff]
        customers = customer_features(history, snapshot_date=cutoff, window_days=window_days,
                                      extra_features=tuple(extra_features))
    fitted = _settings_model(model, preset, k, random_state).fit(customers)
    # With lifecycle rules, codes mean the same at every cut-off (tier rank from the highest,
    # then the stages): a fitted model's own names go with them, so its "VIP" is compared
    # with the top tier of every cut-off even where that tier's profile earns another name.
    own = getattr(model, "segment_names_", None)
    labels = own if own and fitted.lifecycle_rules_ is not None and len(own) == len(fitted.segment_names_) \
        else fitted.segment_names_
    names = pd.Series(fitted.labels_, index=customers.index).map(labels)
    return customers.assign(Segment=names.astype("string"))


def horizon_outcome(lines: pd.DataFrame, customers: pd.Index, cutoff, horizon_days: int) -> pd.DataFrame:
    """Per customer of ``customers``: ``Returned`` (bought in ``[cutoff, cutoff +
    horizon)``) and ``Spend`` there (net of returns in the horizon, at least 0)."""
    cutoff = pd.Timestamp(cutoff)
    window = lines[(lines["InvoiceDate"] >= cutoff) & (lines["InvoiceDate"] < cutoff + pd.Timedelta(days=horizon_days))]
    ids = window["CustomerID"].astype("string")
    value = window["Quantity"].to_numpy(dtype=float) * window["UnitPrice"].to_numpy(dtype=float)
    spend = pd.Series(value, index=ids.to_numpy()).groupby(level=0).sum().clip(lower=0)
    buyers = pd.Index(ids[window["Quantity"].to_numpy() > 0].unique())
    out = pd.DataFrame(index=customers)
    out["Returned"] = out.index.isin(buyers)
    out["Spend"] = spend.reindex(out.index).fillna(0.0).to_numpy(dtype=float)
    return out


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Median of ``values`` under each row of ``weights`` (bootstrap counts)."""
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[:, order]
    cum = np.cumsum(w, axis=1)
    half = cum[:, -1:] / 2.0
    idx = (cum < half).sum(axis=1)
    return v[np.clip(idx, 0, len(v) - 1)]


def _cutoff_rows(segments: pd.Series, outcome: pd.DataFrame, n_boot: int, rng) -> list[dict]:
    """Per segment: the figures and their bootstrap intervals (resampling customers)."""
    names = segments.astype(str).to_numpy()
    returned = outcome["Returned"].to_numpy(dtype=float)
    spend = outcome["Spend"].to_numpy(dtype=float)
    n = len(names)
    weights = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(float) if n_boot else np.ones((0, n))
    total = spend.sum()
    boot_total = weights @ spend
    rows = []
    for name in pd.unique(names):
        member = names == name
        r, s, w = returned[member], spend[member], weights[:, member]
        size = w.sum(axis=1)
        ok = size > 0
        point = {"return_rate": r.mean(), "mean_spend": s.mean(), "median_spend": float(np.median(s)),
                 "revenue_share": s.sum() / total if total > 0 else np.nan}
        with np.errstate(invalid="ignore", divide="ignore"):
            boot = {"return_rate": (w @ r)[ok] / size[ok], "mean_spend": (w @ s)[ok] / size[ok],
                    "median_spend": _weighted_median(s, w[ok]) if ok.any() else np.array([]),
                    "revenue_share": ((w @ s) / boot_total)[ok & (boot_total > 0)]}
        row = {"segment": name, "customers": int(member.sum()), "returned": int(r.sum())}
        for stat in STATS:
            row[stat] = float(point[stat])
            values = boot[stat]
            row[f"{stat}_lo"], row[f"{stat}_hi"] = (float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))) \
                if len(values) else (np.nan, np.nan)
        rows.append(row)
    return rows


def _pooled_rows(per: pd.DataFrame) -> list[dict]:
    rows = []
    for name, group in per.groupby("segment", sort=False):
        row = {"cutoff": "pooled", "segment": name, "customers": int(group["customers"].sum()),
               "returned": int(group["returned"].sum()), "cutoffs": int(len(group))}
        for stat in STATS:
            row[stat] = float(group[stat].mean())
            row[f"{stat}_lo"] = float(group[f"{stat}_lo"].min())
            row[f"{stat}_hi"] = float(group[f"{stat}_hi"].max())
            row[f"{stat}_sd"] = float(group[stat].std(ddof=1)) if len(group) > 1 else 0.0
        rows.append(row)
    return rows


def backtest_segments(
    lines: pd.DataFrame,
    model=None,
    preset: str = "default",
    k: int = 4,
    window_days: int | None = None,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    cutoffs: Sequence | None = None,
    n_cutoffs: int = DEFAULT_CUTOFFS,
    min_history_days: int | None = None,
    exclude: Iterable = (),
    until=None,
    extra_features=(),
    n_boot: int = 200,
    random_state: int = 42,
    features: Mapping[pd.Timestamp, pd.DataFrame] | None = None,
) -> Backtest:
    """Backtest the segments on the log itself (see the module docstring).

    ``lines``: clean lines (``CustomerData.lines``). ``model``: a (fitted or not)
    ``SegmentationModel`` whose settings are refitted at each cut-off; without it,
    ``preset`` and ``k``. ``window_days``: the model's observation window (None: the
    whole history). ``cutoffs``: explicit dates; else ``rolling_cutoffs`` with
    ``n_cutoffs``, ``min_history_days`` (default: ``window_days``, or 180 days) and
    ``exclude`` (dates held out). ``until``: lines after that day are ignored first.
    ``features``: customer features already computed at some of the cut-offs, with this
    window and these ``extra_features`` (``LifecycleFit.features``: ``segkit train`` fits the
    thresholds on the same cut-offs), used instead of computing them again.

    >>> import segkit
    >>> lines, _ = segkit.clean_transactions(segkit.generate_sample_transactions(n_customers=300, seed=1))
    >>> backtest = backtest_segments(lines, n_boot=20)
    >>> len(backtest.cutoffs), backtest.horizon_days
    (6, 90)
    >>> vip = backtest.pooled.loc["VIP"]  # pooled over the cut-offs
    >>> bool(vip["return_rate_lo"] <= vip["return_rate"] <= vip["return_rate_hi"])
    True
    """
    lines = lines_until(lines, until)
    if lines.empty:
        raise SegkitDataError("There are no lines to backtest" + (f" up to {pd.Timestamp(until):%Y-%m-%d}." if until
                                                                  is not None else "."))
    horizon_days = int(horizon_days)
    if horizon_days < 1:
        raise SegkitDataError(f"The horizon must be at least 1 day, not {horizon_days}.")
    history = int(min_history_days if min_history_days is not None else (window_days or DEFAULT_MIN_HISTORY_DAYS))
    first, last = lines["InvoiceDate"].min(), lines["InvoiceDate"].max()
    if cutoffs is None:
        cutoffs = rolling_cutoffs(first, last, horizon_days, history, n_cutoffs, exclude)
    cutoffs = [pd.Timestamp(c) for c in cutoffs]
    if not cutoffs:
        covered = (last.normalize() - first.normalize()).days + 1
        raise SegkitDataError(
            f"The log covers {covered} days, too few to backtest: every cut-off needs {history} days of history "
            f"before it and the {horizon_days}-day horizon after it ({history + horizon_days} days); "
            "use a shorter --horizon-days or a longer log.")
    rng = np.random.default_rng(random_state)
    rows, members = [], {}
    for cutoff in cutoffs:
        segmented = segment_at(lines, cutoff, model, preset, k, window_days, extra_features, random_state,
                               customers=(features or {}).get(cutoff))
        members[cutoff] = segmented["Segment"]
        outcome = horizon_outcome(lines, segmented.index, cutoff, horizon_days)
        for row in _cutoff_rows(segmented["Segment"], outcome, n_boot, rng):
            rows.append({"cutoff": cutoff.strftime("%Y-%m-%d"), **row})
    per = pd.DataFrame(rows)
    # start-up: scipy.optimize loads on first use, not on import (0.6 s, measured)
    from segkit.modeling.label import segment_order

    order = {name: i for i, name in enumerate(segment_order(per["segment"].unique()))}
    per = per.sort_values(["cutoff", "segment"], key=lambda s: s.map(order) if s.name == "segment" else s,
                          kind="stable")
    pooled = pd.DataFrame(_pooled_rows(per))
    pooled = pooled.sort_values("segment", key=lambda s: s.map(order), kind="stable")
    table = pd.concat([per, pooled], ignore_index=True)
    settings = {"window_days": window_days, "min_history_days": history, "n_boot": n_boot}
    if model is not None:
        settings.update({"k": int(model.n_clusters), "features": [str(f) for f in (model.features or [])],
                         "lifecycle": model.lifecycle_rules_.as_dict() if model.lifecycle_rules_ is not None else None})
    else:
        settings.update({"preset": preset, "k": int(k)})
    return Backtest(table, cutoffs, horizon_days, settings, members)


def _pct(x: float) -> str:
    return f"{100 * x:.0f} %"


def evidence_sentence(figures: Mapping[str, Any], n_cutoffs: int, horizon_days: int, currency: str = "£") -> str:
    """One segment's evidence in words, e.g. "Customers like these at 6 earlier dates:
    38 % bought again within 90 days (31-45 %), spending £189 on average."
    ``figures``: a pooled row (``Backtest.pooled``) or ``evidence["segments"][name]``."""
    dates = f"{n_cutoffs} earlier date" + ("s" if n_cutoffs != 1 else "")
    lo, hi = figures.get("return_rate_lo"), figures.get("return_rate_hi")
    interval = f" ({100 * lo:.0f}-{100 * hi:.0f} %)" if lo is not None and hi is not None else ""
    return (f"Customers like these at {dates}: {_pct(figures['return_rate'])} bought again within {horizon_days} days"
            f"{interval}, spending {currency}{figures['mean_spend']:,.0f} on average.")


def value_sentence(figures: Mapping[str, Any], n_cutoffs: int, horizon_days: int) -> str:
    """The lifetime-value check of one segment in words (``value_backtest``), e.g. "At 6
    earlier dates, predicted spend for customers like these over the next 90 days was 0.72
    times what they actually spent (under-forecast by 28 %; 0.55-0.95 over the dates)." ``figures``: ``evidence["value"]["segments"][name]``; the range is the envelope
    of the dates' 95 % intervals."""
    ratio = figures.get("spend_ratio")
    dates = f"{n_cutoffs} earlier date" + ("s" if n_cutoffs != 1 else "")
    if ratio is None or not np.isfinite(ratio):
        return (f"At {dates}, customers like these spent nothing in the next {horizon_days} days, so the lifetime "
                "value has no actual spend to be checked against.")
    if abs(ratio - 1) < 0.005:
        words = "on target"
    else:
        words = f"{'under' if ratio < 1 else 'over'}-forecast by {_pct(abs(ratio - 1))}"
    lo, hi = figures.get("spend_ratio_lo"), figures.get("spend_ratio_hi")
    spread = f"; {lo:.2f}-{hi:.2f} over the dates" if lo is not None and hi is not None else ""
    return (f"At {dates}, predicted spend for customers like these over the next {horizon_days} days was "
            f"{ratio:.2f} times what they actually spent ({words}{spread}).")


def evidence_sentences(evidence: Mapping[str, Any] | None, currency: str = "£") -> dict[str, str]:
    """Segment name -> its evidence sentence, from a ``model.json`` ``evidence`` (empty
    when there is none). A renamed segment's figures are found under its new name. When
    the evidence holds the lifetime-value check (``evidence["value"]``), its
    ``value_sentence`` follows."""
    if not evidence:
        return {}
    n, horizon = len(evidence.get("cutoffs") or []), int(evidence.get("horizon_days", DEFAULT_HORIZON_DAYS))
    out = {name: evidence_sentence(fig, int(fig.get("cutoffs", n)), horizon, currency)
           for name, fig in (evidence.get("segments") or {}).items()}
    value = evidence.get("value") or {}
    value_n = len(value.get("cutoffs") or [])
    for name, fig in (value.get("segments") or {}).items():
        if name in out:
            out[name] += " " + value_sentence(fig, int(fig.get("cutoffs", value_n)),
                                              int(value.get("horizon_days", horizon)))
    return out


#: What is said for every segment of a model saved without a backtest.
NO_EVIDENCE = ("Not measured: this model has no backtest, so nothing here says what customers like "
               "these did next (segkit train measures it).")


def segment_evidence(model, segments: Iterable[str], currency: str = "£") -> dict[str, str]:
    """Segment name -> what customers like these did next, in words, for each of
    ``segments``: ``evidence_sentence`` of the model's ``evidence_`` (``model.json``),
    ``NO_EVIDENCE`` when the model has none, and a sentence saying it was not measured for
    a name the backtest does not know (an RFM rule segment, or a segment no cut-off had)."""
    # start-up: scipy.optimize loads on first use, not on import (0.6 s, measured)
    from segkit.modeling.label import RFM_PREFIX

    evidence = getattr(model, "evidence_", None)
    sentences = evidence_sentences(evidence, currency)
    out = {}
    for name in map(str, segments):
        if name in sentences:
            out[name] = sentences[name]
        elif not evidence:
            out[name] = NO_EVIDENCE
        elif name.startswith(RFM_PREFIX):
            out[name] = ("Not measured: RFM rule segments are not backtested; the model segment of these customers "
                         "has its own evidence.")
        else:
            out[name] = (f"Not measured: the backtest at {len(evidence.get('cutoffs') or [])} earlier dates found "
                         "no customers like these.")
    return out


#: The name a group called "Lost" gets when its members come back too often to be lost.
LAPSED = "Lapsed"


def earned_names(evidence: Mapping[str, Any], max_return: float = LOST_MAX_RETURN) -> dict[str, str]:
    """Old name -> new name for the groups whose evidence does not back their name:
    "Lost" becomes "Lapsed" unless every cut-off's interval of its return rate is below
    ``max_return`` (i.e. the pooled ``return_rate_hi`` < ``max_return``)."""
    renames = {}
    for name, fig in (evidence.get("segments") or {}).items():
        if name == "Lost" and not (fig.get("return_rate_hi", 1.0) < max_return):
            renames[name] = LAPSED
    return renames


#: Why a long-silent group no backtest has measured is not called "Lost" (its definition says it).
UNMEASURED_REASON = ("Called '{new}', not '{old}': nothing has measured what customers like these did next (no "
                     "backtest), and '{old}', with its advice to stop paid channels, needs a measured return under "
                     "{pct:.0f} %.")
#: Why a long-silent group the backtest measured returning under the limit is called "Lost".
MEASURED_LOST_REASON = ("Called '{new}': customers like these came back under {pct:.0f} % of the time at every earlier "
                        "date measured.")


def _rename_reason(old: str, new: str) -> str:
    """Why a group is called ``new`` and not ``old``, in one sentence for its definition."""
    if old == "At risk":
        return (f"Called '{new}', not '{old}': at the held-out dates too many customers like these bought again to "
                "call them at risk (an 'At risk' group must return below the Active group's interval and under half "
                "of recent buyers' rate).")
    if new == "Lost":
        return MEASURED_LOST_REASON.format(new=new, pct=100 * LOST_MAX_RETURN)
    return (f"Called '{new}', not '{old}': customers like these came back too often at the earlier dates "
            f"(a '{old}' group must return under {100 * LOST_MAX_RETURN:.0f} %).")


def rename_segments(model, renames: Mapping[str, str], reasons: Mapping[str, str] | None = None) -> dict[str, str]:
    """Rename segments of a fitted ``model`` (old name -> new name; names it does not have
    are left out): segment names, profile and definitions follow, each renamed definition
    ending with why (``reasons[old]``, else ``_rename_reason``) and with the new name's
    recommendation. Returns the renames made."""
    # start-up: scipy.optimize loads on first use, not on import (0.6 s, measured)
    from segkit.modeling.label import recommendation_for

    renames = {old: new for old, new in renames.items() if old in model.segment_names_.values() and old != new}
    if not renames:
        return {}
    reasons = reasons or {}
    model.segment_names_ = {c: renames.get(n, n) for c, n in model.segment_names_.items()}
    model.profile_["Segment"] = model.profile_["Segment"].map(lambda n: renames.get(n, n))
    model.profile_["Recommendation"] = model.profile_["Segment"].map(recommendation_for)
    definitions = model.definitions_.rename(index=renames)
    for old, new in renames.items():
        if new in definitions.index:
            reason = reasons.get(old) or _rename_reason(old, new)
            definitions.loc[new, "Definition"] = f"{definitions.loc[new, 'Definition']} {reason}"
            definitions.loc[new, "Recommendation"] = recommendation_for(new)
    model.definitions_ = definitions
    return renames


def name_unmeasured(model) -> dict[str, str]:
    """Call the long-silent group of ``model`` "Lapsed", not "Lost", when nothing measured
    what such customers did next (a model trained without a backtest: fixed lifecycle
    thresholds, the page's own model, a model retrained on the page): "Lost" and its advice
    to stop paid channels need a measured return under ``LOST_MAX_RETURN``. Returns the
    renames made ({"Lost": "Lapsed"} or nothing)."""
    reason = UNMEASURED_REASON.format(old="Lost", new=LAPSED, pct=100 * LOST_MAX_RETURN)
    return rename_segments(model, {"Lost": LAPSED}, {"Lost": reason})


def restate_stage(sentence: str, old: str, new: str) -> str:
    """A lifecycle sentence (``LifecycleChoice.sentence``) with the stage ``old`` called ``new``."""
    return sentence.replace(f" {old} from ", f" {new} from ")


def _lost_earned_by_measure(model, evidence: Mapping[str, Any], max_return: float) -> dict[str, str]:
    """{"Lapsed": "Lost"} when ``model`` calls its long-silent group "Lapsed" only because it
    was not measured (``name_unmeasured``, recorded in ``lifecycle_fit_["renamed"]`` of fixed
    thresholds) and ``evidence`` now measures it returning under ``max_return`` at every
    cut-off; else nothing."""
    fit = getattr(model, "lifecycle_fit_", None) or {}
    if fit.get("fitted") is not False or (fit.get("renamed") or {}).get("Lost") != LAPSED:
        return {}
    figures = (evidence.get("segments") or {}).get(LAPSED)
    if figures is not None and figures.get("return_rate_hi", 1.0) < max_return:
        return {LAPSED: "Lost"}
    return {}


def apply_evidence(model, backtest: Backtest, currency: str = "£", rename: bool = True,
                   renames: Mapping[str, str] | None = None) -> dict[str, str]:
    """Store ``backtest``'s evidence in the model (``model.evidence_``, saved as
    ``evidence`` in ``model.json``) and rename the groups it does not back
    (``earned_names``): segment names, profile and definitions follow, with the
    evidence sentence added to the definitions. Returns the renames made. ``rename=False``
    only stores the evidence (``segkit train`` does not backtest the seed preset at all: it
    reproduces the original page). ``renames``: more renames to make whatever the evidence
    (``LifecycleFit.renames``: a Lost the fitted thresholds did not earn).

    A model with fixed thresholds calls its long-silent group "Lapsed" until measured
    (``name_unmeasured``); when this backtest measures it returning under
    ``LOST_MAX_RETURN`` at every cut-off it is called "Lost" (and its lifecycle sentence
    says so)."""
    evidence = backtest.evidence()
    extra = {old: new for old, new in (renames or {}).items() if old in model.segment_names_.values()}
    renames = {**extra, **(earned_names(evidence) if rename else {}),
               **(_lost_earned_by_measure(model, evidence, LOST_MAX_RETURN) if rename else {})}
    renames = rename_segments(model, renames)
    if renames:
        evidence["segments"] = {renames.get(n, n): f for n, f in evidence["segments"].items()}
        evidence["renamed"] = renames
    if renames.get(LAPSED) == "Lost":
        fit = dict(model.lifecycle_fit_)
        fit["sentence"] = restate_stage(fit.get("sentence", ""), LAPSED, "Lost").replace(
            UNMEASURED_SENTENCE_END, MEASURED_SENTENCE_END)
        fit["stage_names"] = {**(fit.get("stage_names") or {}), "Lost": "Lost"}
        model.lifecycle_fit_ = fit
    sentences = evidence_sentences(evidence, currency)
    model.definitions_ = model.definitions_.assign(
        Evidence=[sentences.get(str(n), "") for n in model.definitions_.index])
    changed = advice_from_evidence(evidence)
    definitions = model.definitions_.copy()
    for name, change in changed.items():
        if name in definitions.index:
            definitions.loc[name, "Recommendation"] = change["advice"]
            definitions.loc[name, "Definition"] = f"{definitions.loc[name, 'Definition']} {change['why']}"
    model.definitions_ = definitions
    if changed:
        evidence["advice_changed"] = changed
    model.evidence_ = evidence
    model.advice_rules_ = advice_table()
    follow_advice(model)
    return renames


def _reference_rates(segments: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """The return rates advice conditions compare with: "average" (every customer at the
    cut-offs) and "active" (the value tiers' customers), pooled over the cut-offs."""
    # start-up: scipy.optimize loads on first use, not on import (0.6 s, measured)
    from segkit.modeling.label import STAGE_DEFINITIONS, base_name

    def rate(names) -> float | None:
        customers = sum(float(segments[n].get("customers", 0)) for n in names)
        returned = sum(float(segments[n].get("returned", 0)) for n in names)
        return returned / customers if customers > 0 else None

    rates = {"average": rate(list(segments)), "active": rate([n for n in segments if base_name(n) not in STAGE_DEFINITIONS])}
    return {k: v for k, v in rates.items() if v is not None}


def _meets(rule: Mapping[str, Any], figures: Mapping[str, Any], references: Mapping[str, float]) -> bool | None:
    """Whether ``figures`` meet an advice condition; None when it cannot be judged."""
    if rule.get("figure") is None:
        return True
    value, than = figures.get(rule["figure"]), rule["than"]
    bound = references.get(than) if isinstance(than, str) else float(than)
    if value is None or bound is None:
        return None
    return bool(value >= bound) if rule["op"] == ">=" else bool(value < bound)


def advice_table() -> dict[str, Any]:
    """The advice rules as ``model.json`` stores them (``advice_rules``): per segment name
    its advice and the condition on its measured outcome that advice needs, and the advice
    a contradicted segment gets instead (first condition met)."""
    # start-up: scipy.optimize loads on first use, not on import (0.6 s, measured)
    from segkit.modeling.label import ADVICE_RULES, EVIDENCE_ADVICE, RECOMMENDATIONS

    return {"rules": [{"segment": name, "advice": RECOMMENDATIONS[name], **rule} for name, rule in ADVICE_RULES.items()],
            "otherwise": [dict(row) for row in EVIDENCE_ADVICE],
            "references": {"average": "return rate of every customer at the cut-offs",
                           "active": "return rate of the value tiers' customers (not New and not silent)"}}


def advice_from_evidence(evidence: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Segment -> {"advice", "was", "why"} for each segment of a ``model.json`` ``evidence``
    whose measured outcome contradicts what its advice needs (``label.ADVICE_RULES``):
    ``advice`` is the first of ``label.EVIDENCE_ADVICE`` its evidence meets, ``why`` one
    sentence for its definition. Segments the rules do not know, or whose condition cannot
    be judged, keep their advice."""
    # start-up: scipy.optimize loads on first use, not on import (0.6 s, measured)
    from segkit.modeling.label import ADVICE_RULES, EVIDENCE_ADVICE, base_name, recommendation_for

    segments = evidence.get("segments") or {}
    references = _reference_rates(segments)
    horizon = int(evidence.get("horizon_days", DEFAULT_HORIZON_DAYS))
    changed = {}
    for name, figures in segments.items():
        rule = ADVICE_RULES.get(base_name(name))
        if rule is None or _meets(rule, figures, references) is not False:
            continue
        advice = next(row["advice"] for row in EVIDENCE_ADVICE if _meets(row, figures, references) is not False)
        than = rule["than"]
        reference = f" ({_pct(references[than])})" if isinstance(than, str) else ""
        measured = (f"up to {_pct(figures['return_rate_hi'])} of customers like these bought again within {horizon} "
                    "days at a cut-off" if rule["figure"] == "return_rate_hi" else
                    f"{_pct(figures[rule['figure']])} of customers like these bought again within {horizon} days")
        why = f"Not the usual '{base_name(name)}' advice: it needs {rule['needs']}{reference}, and {measured}."
        changed[str(name)] = {"advice": advice, "was": recommendation_for(name), "why": why}
    return changed


def follow_advice(model) -> None:
    """The profile's ``Recommendation`` of each segment is its definition's (the advice its
    evidence supports)."""
    advice = model.definitions_["Recommendation"].to_dict() if "Recommendation" in model.definitions_ else {}
    if "Segment" in model.profile_ and "Recommendation" in model.profile_:
        model.profile_["Recommendation"] = [advice.get(n, r) for n, r in
                                            zip(model.profile_["Segment"], model.profile_["Recommendation"])]


#: How a fixed-threshold sentence ends while its long-silent group is unmeasured, and once a
#: backtest has measured it returning under the limit (``LifecycleChoice.sentence``).
UNMEASURED_SENTENCE_END = (f"; nobody is called Lost, which needs a measured return under "
                           f"{100 * LOST_MAX_RETURN:.0f} % within the horizon")
MEASURED_SENTENCE_END = (f"; the backtest measured customers silent that long returning under "
                         f"{100 * LOST_MAX_RETURN:.0f} %, so they are called Lost")


def parse_until(text: str | None) -> pd.Timestamp | None:
    """``--until`` as a day; one sentence when it is not a date."""
    if text is None:
        return None
    try:
        return pd.Timestamp(text).normalize()
    except ValueError:
        raise SegkitDataError(f"--until must be a date like 2011-09-01, not '{text}'.") from None
