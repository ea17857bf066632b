"""Lifecycle thresholds chosen on the log's earlier cut-offs, reported on later ones."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from synthetic_logs import mug_buyer

from segkit.modeling.label import LifecycleRules, lifecycle_stage, recommendation_for
from segkit.pipeline.backtest import LOST_MAX_RETURN
from segkit.pipeline.thresholds import QUIET, at_risk_earned, fit_lifecycle_rules, wilson_interval

NO_PAID = "no paid channels"


@pytest.fixture(scope="module")
def sample_fit(sample_data):
    return fit_lifecycle_rules(sample_data.lines, window_days=sample_data.window_days)


def test_cutoffs_split_into_choosing_and_held_out(sample_fit):
    assert len(sample_fit.choosing_cutoffs) == 4 and len(sample_fit.held_out_cutoffs) == 2
    assert max(sample_fit.choosing_cutoffs) < min(sample_fit.held_out_cutoffs)
    assert set(sample_fit.held_out["cutoff"]) == {c.strftime("%Y-%m-%d") for c in sample_fit.held_out_cutoffs}
    r = sample_fit.rules
    assert r.new_days == 30 and 30 <= r.at_risk_days <= r.lost_days


def test_thresholds_ignore_lines_after_the_choosing_horizons(sample_data, sample_fit):
    """Lines after the last choosing cut-off + horizon choose nothing: change them (the
    log's first and last day kept, so the cut-offs stay) and the thresholds stay."""
    lines = sample_data.lines
    boundary = max(sample_fit.choosing_cutoffs) + pd.Timedelta(days=sample_fit.horizon_days)
    late = lines["InvoiceDate"] >= boundary
    last = lines.index[lines["InvoiceDate"] == lines["InvoiceDate"].max()][:1]
    keep = ~late | (np.arange(len(lines)) % 2 == 0) | lines.index.isin(last)
    changed = lines[keep].copy()
    changed.loc[changed["InvoiceDate"] >= boundary, "Quantity"] *= 3
    assert late.sum() > 0 and len(changed) < len(lines)
    refit = fit_lifecycle_rules(changed, window_days=sample_data.window_days)
    assert refit.choosing_cutoffs == sample_fit.choosing_cutoffs
    assert refit.held_out_cutoffs == sample_fit.held_out_cutoffs
    assert refit.rules == sample_fit.rules and refit.lost_earned == sample_fit.lost_earned
    pd.testing.assert_frame_equal(refit.by_silence, sample_fit.by_silence)
    # the held-out figures do see the later lines
    assert not refit.held_out["mean_spend"].equals(sample_fit.held_out["mean_spend"])


def test_held_out_table_is_what_the_members_did(sample_data, sample_fit):
    from scipy.stats import binomtest

    from segkit.features.customers import customer_features

    lines = sample_data.lines
    names = sample_fit.stage_names
    for cutoff in sample_fit.held_out_cutoffs:
        customers = customer_features(lines[lines["InvoiceDate"] < cutoff], snapshot_date=cutoff)
        stage = pd.Series(lifecycle_stage(customers, sample_fit.rules), index=customers.index).map(names)
        later = lines[(lines["InvoiceDate"] >= cutoff)
                      & (lines["InvoiceDate"] < cutoff + pd.Timedelta(days=sample_fit.horizon_days))]
        bought = set(later.loc[later["Quantity"] > 0, "CustomerID"].astype(str))
        spend = (later["Quantity"] * later["UnitPrice"]).groupby(later["CustomerID"].astype(str)).sum().clip(lower=0)
        did = pd.DataFrame({"stage": stage,
                            "returned": customers.index.astype(str).isin(bought),
                            "spend": spend.reindex(customers.index.astype(str)).fillna(0).to_numpy()})
        expected = did.groupby("stage").agg(customers=("returned", "size"), returned=("returned", "sum"),
                                            rate=("returned", "mean"), spend=("spend", "mean"))
        stated = sample_fit.held_out[sample_fit.held_out["cutoff"] == cutoff.strftime("%Y-%m-%d")].set_index("stage")
        assert set(stated.index) == set(expected.index)
        for name, row in expected.iterrows():
            s = stated.loc[name]
            assert s["customers"] == row["customers"] and s["returned"] == row["returned"]
            assert s["return_rate"] == pytest.approx(row["rate"])
            assert s["mean_spend"] == pytest.approx(row["spend"])
            ci = binomtest(int(row["returned"]), int(row["customers"])).proportion_ci(method="wilson")
            assert (s["return_rate_lo"], s["return_rate_hi"]) == pytest.approx((ci.low, ci.high))


def test_wilson_interval_of_nobody_returning():
    lo, hi = wilson_interval([0, 0], [35, 34])
    assert lo.tolist() == [0.0, 0.0] and hi[0] < 0.10 <= hi[1]


def _regular_buyers(buy, rng, start: pd.Timestamp, end: pd.Timestamp) -> None:
    """150 customers (ids 10000-10149) buying every one to four weeks from ``start`` to ``end``."""
    for c in range(150):
        day = start + pd.Timedelta(days=int(rng.integers(0, 20)))
        while day < end:
            buy(10000 + c, day)
            day += pd.Timedelta(days=int(rng.integers(7, 29)))


def _log(comeback: float, seed: int = 5) -> pd.DataFrame:
    """Clean lines of 2011: 150 customers buying every one to four weeks all year; 400 who
    buy one to four times, two to four weeks apart, and then stop. A share ``comeback``
    of those who stop buy once more, 100 to 200 days later."""
    rng = np.random.default_rng(seed)
    rows = []

    buy = mug_buyer(rows, rng)

    start, end = pd.Timestamp("2011-01-01"), pd.Timestamp("2011-12-31")
    _regular_buyers(buy, rng, start, end)
    for c in range(400):
        day = start + pd.Timedelta(days=int(rng.integers(0, 330)))
        for _ in range(int(rng.integers(1, 5))):
            buy(20000 + c, day)
            day += pd.Timedelta(days=int(rng.integers(14, 29)))
        if rng.random() < comeback:
            buy(20000 + c, day + pd.Timedelta(days=int(rng.integers(100, 200))))
    lines = pd.DataFrame(rows)
    lines = lines[lines["InvoiceDate"] < end].sort_values("InvoiceDate")
    lines["TotalPrice"] = lines["Quantity"] * lines["UnitPrice"]
    for column in ("InvoiceNo", "StockCode", "Description", "CustomerID", "Country"):
        lines[column] = lines[column].astype("string")
    return lines.reset_index(drop=True)


def test_customers_who_never_return_are_lost_and_told_no_paid_channels():
    fit = fit_lifecycle_rules(_log(comeback=0.0))
    assert fit.lost_earned and fit.stage_names["Lost"] == "Lost"
    assert fit.rules.lost_days < 200
    lost = fit.held_out[fit.held_out["stage"] == "Lost"]
    assert len(lost) == 2 and (lost["return_rate_hi"] < LOST_MAX_RETURN).all()
    assert NO_PAID in recommendation_for(fit.stage_names["Lost"])
    assert "nobody is called Lost" not in "\n".join(fit.sentences())
    # a model with these rules calls them Lost and keeps the advice
    from segkit.features.customers import customer_features
    from segkit.modeling.model import SegmentationModel

    lines = _log(comeback=0.0)
    model = SegmentationModel(n_clusters=2, lifecycle=fit.rules).fit(customer_features(lines))
    assert NO_PAID in model.definitions_.loc["Lost", "Recommendation"]
    if fit.rules.lost_days <= fit.rules.at_risk_days:
        assert model.definitions_.loc["At risk", "Definition"].startswith("Nobody")


def test_customers_who_come_back_are_lapsed_with_their_rate():
    fit = fit_lifecycle_rules(_log(comeback=0.6))
    assert not fit.lost_earned and fit.stage_names["Lost"] == "Lapsed" and fit.renames == {"Lost": "Lapsed"}
    assert "Lost" not in set(fit.held_out["stage"])
    lapsed = fit.held_out[fit.held_out["stage"] == "Lapsed"]
    assert len(lapsed) == 2 and (lapsed["return_rate_hi"] >= LOST_MAX_RETURN).all()
    assert NO_PAID not in recommendation_for("Lapsed")
    words = "\n".join(fit.sentences())
    assert "nobody is called Lost" in words and "Lapsed: " in words and "% bought again within 90 days" in words


def _held(at_risk: tuple[int, int], active: tuple[int, int] = (700, 1000)) -> pd.DataFrame:
    """A held-out table of one cut-off: (returned, customers) of the At risk and Active groups."""
    rows = []
    for stage, (k, n) in (("Active", active), ("At risk", at_risk)):
        lo, hi = wilson_interval(k, n)
        rows.append({"cutoff": "2011-09-01", "stage": stage, "customers": n, "returned": k,
                     "return_rate": k / n, "return_rate_lo": float(lo), "return_rate_hi": float(hi)})
    return pd.DataFrame(rows)


def test_at_risk_is_earned_only_by_a_return_clearly_below_active():
    recent = {"2011-09-01": 0.75}
    assert at_risk_earned(_held((60, 200)), recent)  # 30 %: under half of 75 % and below Active's 67-73 %
    assert not at_risk_earned(_held((95, 200)), recent)  # 47 % (40-55 %): below Active, above half of recent
    assert not at_risk_earned(_held((130, 200)), recent)  # 65 %: as often as Active
    assert not at_risk_earned(_held((60, 200)), {"2011-09-01": 0.5})  # above half of recent buyers' 50 %
    assert at_risk_earned(_held((60, 200)).query("stage == 'Active'"), recent)  # nobody At risk: nothing to rename


def _pausers_log(seed: int = 7) -> pd.DataFrame:
    """Clean lines of 2011: 150 customers buying every one to four weeks; 600 who buy once;
    250 who buy two or three times, pause 130-170 days and buy again, all year."""
    rng = np.random.default_rng(seed)
    rows = []
    buy = mug_buyer(rows, rng)
    start, end = pd.Timestamp("2011-01-01"), pd.Timestamp("2011-12-31")
    _regular_buyers(buy, rng, start, end)
    for c in range(600):
        buy(20000 + c, start + pd.Timedelta(days=int(rng.integers(0, 360))))
    for c in range(250):
        day = start + pd.Timedelta(days=int(rng.integers(0, 120)))
        while day < end:
            for _ in range(int(rng.integers(2, 4))):
                buy(30000 + c, day)
                day += pd.Timedelta(days=int(rng.integers(14, 29)))
            day += pd.Timedelta(days=int(rng.integers(130, 170)))
    lines = pd.DataFrame(rows)
    lines = lines[lines["InvoiceDate"] < end].sort_values("InvoiceDate")
    lines["TotalPrice"] = lines["Quantity"] * lines["UnitPrice"]
    for column in ("InvoiceNo", "StockCode", "Description", "CustomerID", "Country"):
        lines[column] = lines[column].astype("string")
    return lines.reset_index(drop=True)


def _stage_returns(lines: pd.DataFrame, cutoff, rules: LifecycleRules, horizon: int = 90) -> pd.DataFrame:
    """Per stage at ``cutoff``, counted with pandas: customers and how many bought in the horizon."""
    cutoff = pd.Timestamp(cutoff)
    before = lines[lines["InvoiceDate"] < cutoff]
    by = before.groupby(before["CustomerID"].astype(str))
    frame = pd.DataFrame({"Recency": (cutoff - by["InvoiceDate"].max()).dt.days,
                          "Age": (cutoff - by["InvoiceDate"].min()).dt.days, "Purchases": by["InvoiceNo"].nunique()})
    stage = np.select([frame["Age"] < rules.new_days,
                       (frame["Recency"] >= rules.lost_days)
                       | ((frame["Recency"] >= rules.at_risk_days) & (frame["Purchases"] <= 1)),
                       frame["Recency"] >= rules.at_risk_days], ["New", "Lost", "At risk"], "Active")
    later = lines[(lines["InvoiceDate"] >= cutoff) & (lines["InvoiceDate"] < cutoff + pd.Timedelta(days=horizon))
                  & (lines["Quantity"] > 0)]
    frame["Returned"] = frame.index.isin(later["CustomerID"].astype(str).unique())
    frame["Recent"] = frame["Recency"] < 30
    table = frame.assign(stage=stage).groupby("stage")["Returned"].agg(customers="size", returned="sum")
    table.attrs["recent"] = frame.loc[frame["Recent"], "Returned"].mean()
    return table


def test_silent_customers_who_come_back_on_their_own_are_quiet_not_at_risk():
    lines = _pausers_log()
    fit = fit_lifecycle_rules(lines)
    assert not fit.at_risk_is_earned and fit.stage_names["At risk"] == QUIET and fit.renames["At risk"] == QUIET
    assert "At risk" not in set(fit.held_out["stage"])
    for cutoff in fit.held_out_cutoffs:
        counted = _stage_returns(lines, cutoff, fit.rules)
        lo, hi = wilson_interval(counted.loc["At risk", "returned"], counted.loc["At risk", "customers"])
        active_lo, _ = wilson_interval(counted.loc["Active", "returned"], counted.loc["Active", "customers"])
        assert not (hi < active_lo and hi < counted.attrs["recent"] / 2)  # what the name would claim
        stated = fit.held_out[(fit.held_out["cutoff"] == cutoff.strftime("%Y-%m-%d"))
                              & (fit.held_out["stage"] == QUIET)].iloc[0]
        assert (stated["customers"], stated["returned"]) == tuple(counted.loc["At risk", ["customers", "returned"]])
    words = "\n".join(fit.sentences())
    assert "nobody is called At risk" in words and f"{QUIET}: " in words
    assert "win back" not in recommendation_for(QUIET).lower() and NO_PAID not in recommendation_for(QUIET)
    # a model with these rules, its evidence applied, shows Quiet with its definition and advice
    from segkit.features.customers import customer_features
    from segkit.modeling.model import SegmentationModel
    from segkit.pipeline.backtest import apply_evidence, backtest_segments

    model = SegmentationModel(n_clusters=2, lifecycle=fit.rules).fit(customer_features(lines))
    apply_evidence(model, backtest_segments(lines, model=model, n_boot=10, n_cutoffs=2), renames=fit.renames)
    assert QUIET in model.segment_names_.values() and "At risk" not in model.segment_names_.values()
    quiet = model.definitions_.loc[QUIET]
    assert "Called 'Quiet', not 'At risk'" in quiet["Definition"] and quiet["Recommendation"] == recommendation_for(QUIET)
    assert QUIET in model.evidence_["segments"]


def test_customers_who_do_not_come_back_keep_at_risk():
    fit = fit_lifecycle_rules(_log(comeback=0.0))
    assert fit.at_risk_is_earned and "At risk" not in fit.renames
    at_risk = fit.held_out[fit.held_out["stage"] == "At risk"]
    active = fit.held_out[fit.held_out["stage"] == "Active"].set_index("cutoff")
    for _, row in at_risk.iterrows():
        assert row["return_rate_hi"] < active.loc[row["cutoff"], "return_rate_lo"]


def test_too_short_a_log_says_so(sample_data):
    from segkit.errors import SegkitDataError

    lines = sample_data.lines
    with pytest.raises(SegkitDataError, match="--lifecycle fixed"):
        fit_lifecycle_rules(lines[lines["InvoiceDate"] < lines["InvoiceDate"].min() + pd.Timedelta(days=270)])


def _csv(lines: pd.DataFrame, path) -> str:
    lines.drop(columns="TotalPrice").to_csv(path, index=False)
    return str(path)


def _card(folder) -> dict:
    return json.loads(next(folder.glob("versions/*/model.json")).read_text())


@pytest.mark.slow
def test_segkit_train_fits_the_thresholds_by_default(tmp_path, capsys):
    """Customers who stop buying after one to four purchases (two to four weeks apart) never
    come back: on this log silence past the longest gap means gone, so plain `segkit train`
    (no option) calls them At risk and Lost after 30 days of silence, not 120 and 180, and
    says how it chose that, in its output and in model.json."""
    from segkit import cli
    from segkit.pipeline.artifacts import load_artifacts

    lines = _log(comeback=0.0)
    assert cli.main(["train", "--data", _csv(lines, tmp_path / "log.csv"), "--k", "2",
                     "--artifacts", str(tmp_path / "model")]) == 0
    out = capsys.readouterr().out
    card = _card(tmp_path / "model")
    assert card["lifecycle"] == {"new_days": 30, "at_risk_days": 30, "lost_days": 30}
    assert card["lifecycle"] == fit_lifecycle_rules(lines).rules.as_dict()
    fitted = card["lifecycle_fit"]
    assert fitted["fitted"] is True and fitted["thresholds"] == card["lifecycle"]
    assert len(fitted["choosing_cutoffs"]) == 4 and len(fitted["held_out_cutoffs"]) == 2
    sentence = fitted["sentence"]
    assert sentence.startswith("Lifecycle thresholds fitted to this log: New under 30 days, At risk from 30 days")
    assert all(c in sentence for c in fitted["choosing_cutoffs"] + fitted["held_out_cutoffs"])
    assert sentence in out and "held out at" in out
    model = load_artifacts(tmp_path / "model")
    assert model.lifecycle_rules_ == LifecycleRules(30, 30, 30) and model.lifecycle_fit_ == fitted
    assert "Lost" in model.segment_names_.values()
    assert card["evidence"]["segments"]["Lost"]["return_rate_hi"] < LOST_MAX_RETURN  # earned, and so advised
    for name, row in pd.DataFrame(card["definitions"]).set_index("Segment").iterrows():
        if NO_PAID in row["Recommendation"]:
            assert card["evidence"]["segments"][name]["return_rate_hi"] < LOST_MAX_RETURN


@pytest.mark.slow
def test_too_short_a_log_trains_with_the_fixed_thresholds_and_says_why(tmp_path, sample_data, capsys):
    """Nine months of the sample leave too few cut-offs to fit on: `segkit train` uses the
    fixed 30/120/180 days and says so in one sentence, in its output, in model.json and on
    the page above "What the segments mean"."""
    from types import SimpleNamespace

    from segkit import cli
    from segkit.dashboard.segments import lifecycle_note_html

    lines = sample_data.lines
    short = lines[lines["InvoiceDate"] < lines["InvoiceDate"].min() + pd.Timedelta(days=270)]
    assert cli.main(["train", "--data", _csv(short, tmp_path / "short.csv"), "--k", "3",
                     "--artifacts", str(tmp_path / "model")]) == 0
    out = capsys.readouterr().out
    card = _card(tmp_path / "model")
    assert card["lifecycle"] == LifecycleRules().as_dict()
    fixed = card["lifecycle_fit"]
    assert fixed["fitted"] is False and fixed["thresholds"] == card["lifecycle"]
    sentence = fixed["sentence"]
    assert sentence.startswith("Lifecycle thresholds fixed at New under 30 days, At risk from 120 and Lapsed from 180 "
                               "days of silence, not fitted to this log: the log covers 2")
    assert "too short for the backtest's cut-offs" in sentence and sentence.count(". ") == 0
    assert sentence in out
    state = SimpleNamespace(card=card, segmentation="model")
    assert sentence in lifecycle_note_html(state).replace("&#x27;", "'")
    assert lifecycle_note_html(SimpleNamespace(card=card, segmentation="rfm")) == ""


@pytest.mark.slow
def test_fixed_when_asked_or_when_the_backtest_is_skipped_and_seed_untouched(tmp_path, sample_csv, capsys,
                                                                            monkeypatch):
    from segkit import cli

    assert cli.main(["train", "--data", str(sample_csv), "--k", "4", "--lifecycle", "fixed", "--no-backtest",
                     "--artifacts", str(tmp_path / "fixed")]) == 0
    card = _card(tmp_path / "fixed")
    assert card["lifecycle"] == LifecycleRules().as_dict()
    assert card["lifecycle_fit"]["fitted"] is False and "--lifecycle fixed" in card["lifecycle_fit"]["reason"]
    monkeypatch.setenv("SEGKIT_BACKTEST", "0")
    assert cli.main(["train", "--data", str(sample_csv), "--k", "4", "--artifacts", str(tmp_path / "skipped")]) == 0
    card = _card(tmp_path / "skipped")
    assert card["lifecycle"] == LifecycleRules().as_dict() and "evidence" not in card
    assert "SEGKIT_BACKTEST=0" in card["lifecycle_fit"]["sentence"]
    assert card["lifecycle_fit"]["sentence"] in capsys.readouterr().out
    assert cli.main(["train", "--data", str(sample_csv), "--k", "4", "--preset", "seed", "--lifecycle", "fitted",
                     "--artifacts", str(tmp_path / "seed")]) == 0
    assert "--lifecycle fitted ignored" in capsys.readouterr().out
    card = _card(tmp_path / "seed")
    assert card["lifecycle"] is None and "lifecycle_fit" not in card and "evidence" not in card


def test_a_model_the_page_trains_for_itself_says_its_thresholds_are_fixed(sample_data):
    from segkit.pipeline.page_model import PAGE_NOT_FITTED, model_trained_for_page

    model, _ = model_trained_for_page(sample_data)
    assert model.lifecycle_rules_ == LifecycleRules()
    assert model.lifecycle_fit_["fitted"] is False and PAGE_NOT_FITTED in model.lifecycle_fit_["sentence"]


def test_out_of_core_data_is_fixed_with_the_reason(sample_data):
    from segkit.pipeline.thresholds import choose_lifecycle
    from segkit.pipeline.workflow import CustomerData

    out_of_core = CustomerData(sample_data.source, False, sample_data.rules, None, None, sample_data.report,
                               sample_data.customers, sample_data.window_days)
    choice = choose_lifecycle(out_of_core)
    assert choice.rules == LifecycleRules() and not choice.fitted
    assert "out-of-core" in choice.sentence and choice.renames == {}


# -- the real data -------------------------------------------------------------------
@pytest.fixture(scope="module")
def real_fit(real_default_model):
    return real_default_model[2].fit


@pytest.fixture(scope="module")
def real_default_model(real_data):
    """The model plain `segkit train` trains on the real data (``train_with_lifecycle``, K=4)."""
    from segkit.pipeline.thresholds import train_with_lifecycle

    return train_with_lifecycle(real_data, k=4)


@pytest.mark.real_data
def test_real_default_model_states_what_each_stage_did_at_the_held_out_dates(real_data, real_default_model):
    """The default model's thresholds are fitted (not 30/120/180), and at the two held-out
    cut-offs each stage (segmented with the lines before the cut-off only) returned at a rate
    inside the interval model.json states for it; no stage told "no paid channels" returns
    at 10 % or more."""
    from segkit.pipeline.backtest import horizon_outcome, segment_at

    model, _, choice = real_default_model
    stated_fit = model.lifecycle_fit_
    assert choice.fitted and stated_fit["fitted"] is True and model.lifecycle_rules_ != LifecycleRules()
    assert model.lifecycle_rules_.as_dict() == stated_fit["thresholds"]
    held = pd.DataFrame(stated_fit["held_out"])
    assert len(stated_fit["held_out_cutoffs"]) == 2
    for cutoff in choice.fit.held_out_cutoffs:
        assert cutoff > max(choice.fit.choosing_cutoffs)
        segmented = segment_at(real_data.lines, cutoff, model)
        names = segmented["Segment"].astype(str).replace(choice.renames)
        stage = names.where(names.isin(list(stated_fit["stage_names"].values())), "Active")
        outcome = horizon_outcome(real_data.lines, segmented.index, cutoff, choice.fit.horizon_days)
        did = outcome["Returned"].groupby(stage).mean()
        stated = held[held["cutoff"] == cutoff.strftime("%Y-%m-%d")].set_index("stage")
        assert set(did.index) == set(stated.index)
        for name, rate in did.items():
            assert stated.loc[name, "return_rate_lo"] <= rate <= stated.loc[name, "return_rate_hi"], (cutoff, name)
            if NO_PAID in recommendation_for(name):
                assert rate < LOST_MAX_RETURN, (cutoff, name, rate)
    # on this wholesale log silent customers come back (a quarter or more): nobody is Lost
    assert not choice.fit.lost_earned and "Lost" not in stated_fit["stage_names"].values()
    assert (held.loc[held["stage"] == "Lapsed", "return_rate_lo"] >= LOST_MAX_RETURN).all()


@pytest.mark.real_data
def test_real_at_risk_is_shown_only_where_held_out_customers_returned_clearly_less(real_data, real_fit):
    """At the held-out cut-offs, counted with pandas: the customers silent from the fitted
    At risk threshold (more than one purchase) came back at 45-50 %, like New customers and
    above half of recent buyers' rate, so the fit does not call them At risk."""
    for cutoff in real_fit.held_out_cutoffs:
        counted = _stage_returns(real_data.lines, cutoff, real_fit.rules)
        lo, hi = wilson_interval(counted.loc["At risk", "returned"], counted.loc["At risk", "customers"])
        active_lo, _ = wilson_interval(counted.loc["Active", "returned"], counted.loc["Active", "customers"])
        clearly_below = hi < active_lo and hi < counted.attrs["recent"] / 2
        assert real_fit.stage_names["At risk"] == ("At risk" if clearly_below else QUIET), (cutoff, lo, hi)
    assert real_fit.stage_names["At risk"] == QUIET
    quiet = real_fit.held_out[real_fit.held_out["stage"] == QUIET]
    assert len(quiet) == 2 and (quiet["return_rate"] > 0.4).all()


@pytest.mark.slow
def test_the_page_says_how_its_model_chose_the_thresholds(sample_data, tmp_path):
    """Above "What the segments mean": the shipped sample model's fitted thresholds and the
    dates they were chosen on; a model the page trains for itself says they are fixed and why."""
    import shutil

    from segkit.config import ARTIFACTS_DIR, Settings
    from segkit.dashboard import Dashboard
    from segkit.pipeline.page_model import PAGE_NOT_FITTED

    shutil.copytree(ARTIFACTS_DIR, tmp_path / "shipped")
    page = Dashboard(sample_data, artifacts=tmp_path / "shipped", settings=Settings(currency="£", analyst=False),
                     query="")
    note = page.segments.lifecycle_note.value.replace("&#x27;", "'")
    card = page.state.card
    assert card["lifecycle_fit"]["fitted"] and card["lifecycle"] != LifecycleRules().as_dict()
    assert card["lifecycle_fit"]["sentence"] in note and "At risk from 120 days of silence, Lapsed from 242" in note
    assert "Lapsed" in page.segments.glossary.value and ">Lost<" not in page.segments.glossary.value
    own = Dashboard(sample_data, artifacts=tmp_path / "none", settings=Settings(currency="£", analyst=False), query="")
    note = own.segments.lifecycle_note.value.replace("&#x27;", "'")
    assert "Lifecycle thresholds fixed at New under 30 days, At risk from 120 and Lapsed from 180" in note
    assert PAGE_NOT_FITTED.replace("`", "") in note.replace("`", "")
    # its own model has no backtest: nobody is Lost or told to go without paid channels, on screen or in the CSVs
    words = " ".join([own.segments.glossary.value, own.segments.summary.value, own.table.table.value]).lower()
    assert ">lost<" not in words and NO_PAID not in words and ">lapsed<" in words
    assert "Lost" not in set(own.state.everyone["Segment"].astype(str))
    assert NO_PAID not in own.table.campaign_rows.to_csv().lower()


# -- unmeasured: nobody is "Lost" without a measured return under 10 % -------------------
def _shown_words(model) -> str:
    """Every name and piece of advice a model shows: names, profile and definitions."""
    return "\n".join([*map(str, model.segment_names_.values()), model.profile_.to_string(),
                      model.definitions_.to_string()])


def _assert_lapsed_not_lost(model) -> None:
    names = set(map(str, model.segment_names_.values()))
    assert "Lost" not in names and "Lapsed" in names
    assert "Lost" not in set(model.profile_["Segment"]) and "Lost" not in set(model.definitions_.index)
    assert NO_PAID not in _shown_words(model).lower()
    lapsed = model.definitions_.loc["Lapsed"]
    assert "nothing has measured what customers like these did next" in lapsed["Definition"]
    assert lapsed["Recommendation"] == recommendation_for("Lapsed")
    fit = model.lifecycle_fit_
    assert fit["fitted"] is False and fit["stage_names"]["Lost"] == "Lapsed" and fit["renamed"] == {"Lost": "Lapsed"}
    assert "At risk from 120 and Lapsed from 180 days of silence" in fit["sentence"]
    assert "nobody is called Lost" in fit["sentence"] and fit["sentence"].count(". ") == 0


def test_the_page_s_own_model_calls_nobody_lost(sample_data):
    """The page's own model (fixed thresholds, no backtest) and a model the page retrains
    with another K: the long-silent group is Lapsed, with advice that keeps paying for it."""
    from segkit.pipeline.page_model import model_trained_for_page, retrained

    model, _ = model_trained_for_page(sample_data)
    _assert_lapsed_not_lost(model)
    other = retrained(model, sample_data.customers, 2)
    _assert_lapsed_not_lost(other)
    assert other.lifecycle_fit_["sentence"] == model.lifecycle_fit_["sentence"]


def test_a_retrained_model_never_keeps_a_lost_its_backtest_earned():
    """Retrained on the page (no backtest), a model whose backtest had earned "Lost" says
    Lapsed: the evidence that earned the name is not the refit's."""
    from segkit.pipeline.page_model import retrained
    from segkit.pipeline.thresholds import train_with_lifecycle
    from segkit.pipeline.workflow import load_customer_data

    data = load_customer_data(_log(comeback=0.0).drop(columns="TotalPrice"))
    model, _, choice = train_with_lifecycle(data, k=2)
    assert choice.fit.lost_earned and "Lost" in model.segment_names_.values()
    refit = retrained(model, data.customers, 3)
    assert "Lost" not in refit.segment_names_.values() and "Lapsed" in refit.segment_names_.values()
    assert NO_PAID not in _shown_words(refit).lower()
    assert " Lapsed from " in refit.lifecycle_fit_["sentence"] and " Lost from " not in refit.lifecycle_fit_["sentence"]


def test_out_of_core_data_calls_nobody_lost(sample_data):
    from segkit.pipeline.thresholds import train_with_lifecycle
    from segkit.pipeline.workflow import CustomerData

    out_of_core = CustomerData(sample_data.source, False, sample_data.rules, None, None, sample_data.report,
                               sample_data.customers, sample_data.window_days)
    model, _, choice = train_with_lifecycle(out_of_core, k=3)
    assert not choice.fitted and choice.stage_names["Lost"] == "Lapsed"
    _assert_lapsed_not_lost(model)
    assert "out-of-core" in model.lifecycle_fit_["sentence"]


@pytest.mark.slow
@pytest.mark.parametrize("options", [["--lifecycle", "fixed", "--no-backtest"], ["--no-backtest"]])
def test_segkit_train_without_a_backtest_calls_nobody_lost(tmp_path, sample_csv, capsys, options):
    """`segkit train --no-backtest` (fixed thresholds, nothing measured): no "Lost", no
    "no paid channels" in its output, model.json or the model it loads back."""
    from segkit import cli
    from segkit.pipeline.artifacts import load_artifacts

    assert cli.main(["train", "--data", str(sample_csv), "--k", "3", *options,
                     "--artifacts", str(tmp_path / "model")]) == 0
    out = capsys.readouterr().out
    card = _card(tmp_path / "model")
    assert "evidence" not in card
    definitions = pd.DataFrame(card["definitions"]).set_index("Segment")
    assert "Lost" not in definitions.index and "Lapsed" in definitions.index
    assert NO_PAID not in json.dumps(card).lower() and NO_PAID not in out.lower()
    assert "  Lost:" not in out and "  Lapsed:" in out
    assert card["lifecycle_fit"]["sentence"] in out
    model = load_artifacts(tmp_path / "model")  # the names check accepts the rename
    _assert_lapsed_not_lost(model)


@pytest.mark.slow
def test_segkit_train_lifecycle_fixed_names_the_long_silent_by_the_backtest(tmp_path, capsys):
    """`segkit train --lifecycle fixed` with its backtest: the 180-day group is "Lost" (told
    no paid channels) only where customers like these returned under 10 % at every cut-off;
    where they come back it stays "Lapsed", with its measured rate."""
    from segkit import cli
    from segkit.pipeline.artifacts import load_artifacts

    for comeback, expected in ((0.0, "Lost"), (0.6, "Lapsed")):
        folder = tmp_path / f"model{comeback}"
        assert cli.main(["train", "--data", _csv(_log(comeback=comeback), tmp_path / "log.csv"), "--k", "2",
                         "--lifecycle", "fixed", "--artifacts", str(folder)]) == 0
        out = capsys.readouterr().out
        card = _card(folder)
        assert card["lifecycle"] == LifecycleRules().as_dict()
        names = set(pd.DataFrame(card["definitions"])["Segment"])
        assert expected in names and ({"Lost", "Lapsed"} - {expected}).isdisjoint(names), (comeback, names)
        figures = card["evidence"]["segments"][expected]
        assert (figures["return_rate_hi"] < LOST_MAX_RETURN) == (expected == "Lost")
        sentence = card["lifecycle_fit"]["sentence"]
        assert f"At risk from 120 and {expected} from 180 days of silence" in sentence and sentence in out
        assert ("nobody is called Lost" in sentence) == (expected == "Lapsed")
        for name, row in pd.DataFrame(card["definitions"]).set_index("Segment").iterrows():
            if NO_PAID in row["Recommendation"]:
                assert card["evidence"]["segments"][name]["return_rate_hi"] < LOST_MAX_RETURN
        assert set(load_artifacts(folder).segment_names_.values()) == names
        # `segkit backtest` on the same settings says what train will call the group
        assert cli.main(["backtest", "--data", str(tmp_path / "log.csv"), "--k", "2", "--lifecycle", "fixed",
                         "--out", str(tmp_path / "backtest.csv")]) == 0
        said = "returned under 10 % at every cut-off: segkit train calls it 'Lost'"
        assert (said in capsys.readouterr().out) == (expected == "Lost")


@pytest.mark.slow
def test_the_backtest_is_cached_with_the_model(sample_data, sample_csv, tmp_path, monkeypatch, capsys):
    """The backtest, the threshold fit and the lifetime-value check run once, in `segkit
    train`: the page opened on the saved model and `segkit score` read them from model.json
    and never run them again (each would fail here if called)."""
    import shutil

    from segkit import cli
    from segkit.config import ARTIFACTS_DIR, Settings
    from segkit.dashboard import Dashboard
    from segkit.pipeline import backtest, thresholds, value_backtest
    from segkit.pipeline.backtest import evidence_sentences

    def never(*_args, **_kwargs):
        raise AssertionError("the backtest ran again")

    for module, name in ((backtest, "backtest_segments"), (backtest, "segment_at"), (thresholds, "fit_lifecycle_rules"),
                         (thresholds, "choose_lifecycle"), (value_backtest, "value_backtest")):
        monkeypatch.setattr(module, name, never)
    shutil.copytree(ARTIFACTS_DIR, tmp_path / "shipped")
    page = Dashboard(sample_data, artifacts=tmp_path / "shipped", settings=Settings(currency="£", analyst=False),
                     query="")
    card = page.state.card
    said = evidence_sentences(card["evidence"])
    assert card["evidence"]["value"] and said
    assert page.state.evidence == {name: said[name] for name in page.state.segment_names}
    glossary = page.segments.glossary.value.replace("&#x27;", "'")
    assert all(sentence.split(" At ")[0] in glossary for sentence in said.values())
    out = tmp_path / "scored.csv"
    assert cli.main(["score", "--data", str(sample_csv), "--artifacts", str(tmp_path / "shipped"), "--out",
                     str(out)]) == 0
    scored = pd.read_csv(out, dtype={"CustomerID": str})
    assert (scored["Evidence"] == scored["Segment"].map(said)).all()


def test_the_backtest_reuses_the_customer_features_the_fit_computed(sample_data, sample_fit, monkeypatch):
    """`segkit train` fits the thresholds and backtests on the same cut-offs: the backtest
    takes the fit's customer features at each cut-off instead of computing them again, and
    its table is the same as when it computes them."""
    from segkit.features import customers as customers_module
    from segkit.pipeline import backtest
    from segkit.pipeline.backtest import backtest_segments
    from segkit.pipeline.workflow import train_model

    model = train_model(sample_data, k=3, lifecycle=sample_fit.rules)[0]
    alone = backtest_segments(sample_data.lines, model=model, window_days=sample_data.window_days, n_boot=20)
    assert set(sample_fit.features) == set(alone.cutoffs)

    def never(*_args, **_kwargs):
        raise AssertionError("customer features computed again")

    monkeypatch.setattr(customers_module, "customer_features", never)
    monkeypatch.setattr(backtest, "customer_features", never, raising=False)
    shared = backtest_segments(sample_data.lines, model=model, window_days=sample_data.window_days, n_boot=20,
                               features=sample_fit.features)
    pd.testing.assert_frame_equal(shared.table, alone.table)


@pytest.mark.real_data
def test_real_default_model_evidence_holds_at_dates_that_chose_nothing(real_data, real_default_model):
    """The default model's evidence, measured with two dates left out (not cut-offs of the
    evidence, nor of the thresholds' fit): at each of those dates every segment, segmented
    with the lines before it only, returned and spent within the intervals the evidence
    states for it (return rate and mean spend in the next 90 days)."""
    from copy import deepcopy

    from segkit.pipeline.backtest import apply_evidence, backtest_segments, horizon_outcome, segment_at

    model, _, choice = real_default_model
    model = deepcopy(model)
    held_out = ("2011-06-10", "2011-08-10")
    assert not {pd.Timestamp(d) for d in held_out} & set(choice.fit.choosing_cutoffs + choice.fit.held_out_cutoffs)
    result = backtest_segments(real_data.lines, model=model, exclude=held_out)
    assert not {pd.Timestamp(d) for d in held_out} & set(result.cutoffs)
    apply_evidence(model, result)
    stated = model.evidence_["segments"]
    for cutoff in held_out:
        segmented = segment_at(real_data.lines, cutoff, model)
        names = segmented["Segment"].astype(str).replace(choice.renames)
        outcome = horizon_outcome(real_data.lines, segmented.index, cutoff, result.horizon_days)
        did = outcome.groupby(names.to_numpy())[["Returned", "Spend"]].mean()
        assert len(did) >= 5 and set(did.index) <= set(stated) and "Lost" not in did.index
        for name, row in did.iterrows():
            s = stated[name]
            assert s["return_rate_lo"] <= row["Returned"] <= s["return_rate_hi"], (cutoff, name, row["Returned"], s)
            assert s["mean_spend_lo"] <= row["Spend"] <= s["mean_spend_hi"], (cutoff, name, row["Spend"], s)
