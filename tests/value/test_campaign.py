"""segkit.value.campaign: expected revenue of a campaign per segment, from the backtest evidence."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segkit.value.campaign import campaign_plan, formula_in_words

EVIDENCE = {"horizon_days": 90, "cutoffs": ["2011-06-01", "2011-07-01"],
            "segments": {"VIP": {"return_rate": 0.8, "mean_spend": 400.0, "customers": 50, "returned": 40},
                         "Lost": {"return_rate": 0.0, "mean_spend": 0.0, "customers": 90, "returned": 0}}}


def test_plan_figures_follow_the_stated_formula():
    plan = campaign_plan({"VIP": 100, "Lost": 300, "New": 20}, {"VIP": "Reward", "Lost": "No paid channels"},
                         EVIDENCE, cost_per_contact=2.0, uplift=0.25).set_index("Segment")
    vip = plan.loc["VIP"]
    assert vip["ReturnRate"] == 0.8 and vip["MeanNextSpend"] == pytest.approx(500.0)  # £400 per member / 80 % back
    assert vip["ExpectedExtraRevenue"] == pytest.approx(100 * 0.8 * 500.0 * 0.25)  # 10,000
    assert vip["Cost"] == 200.0 and vip["Net"] == pytest.approx(10_000 - 200)
    assert vip["Recommendation"] == "Reward"
    lost = plan.loc["Lost"]  # measured: nobody came back, so nothing to gain
    assert lost["ExpectedExtraRevenue"] == 0.0 and lost["Net"] == -600.0
    new = plan.loc["New"]  # not measured: no figure, not 0
    assert np.isnan(new["ReturnRate"]) and np.isnan(new["ExpectedExtraRevenue"]) and np.isnan(new["Net"])
    assert new["Cost"] == 40.0
    assert list(plan.index) == ["VIP", "Lost", "New"]


def test_a_model_without_evidence_measures_nothing():
    plan = campaign_plan(pd.Series({"VIP": 5}), {}, None)
    assert plan["ExpectedExtraRevenue"].isna().all() and plan["Cost"].tolist() == [5.0]


def test_plan_on_the_sample_backtest_matches_pandas(sample_data):
    """With a real backtest: expected extra revenue is segment size x the horizon spend per
    member measured at the cut-offs (pandas) x uplift."""
    from segkit.pipeline.backtest import backtest_segments

    lines = sample_data.lines
    result = backtest_segments(lines, preset="default", k=3, n_cutoffs=2, n_boot=20)
    evidence = result.evidence()
    sizes = pd.Series({name: 100 + i for i, name in enumerate(evidence["segments"])})
    plan = campaign_plan(sizes, {}, evidence, cost_per_contact=1.0, uplift=0.10).set_index("Segment")
    per = result.per_cutoff
    for name, size in sizes.items():
        rows = per[per["segment"] == name]
        assert plan.loc[name, "ExpectedExtraRevenue"] == pytest.approx(size * rows["mean_spend"].mean() * 0.10)
        assert plan.loc[name, "ReturnRate"] == pytest.approx(rows["return_rate"].mean())
        assert plan.loc[name, "Net"] == pytest.approx(plan.loc[name, "ExpectedExtraRevenue"] - size)


def test_formula_in_words_names_the_inputs():
    words = formula_in_words(1.0, 0.1, 90)
    assert "customers × return rate × mean next spend × uplift" in words
    assert "£1.00 per contact" in words and "10% uplift" in words and "the 90 days after" in words
