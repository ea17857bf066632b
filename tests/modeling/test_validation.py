"""Segments a marketer can trust: every name true of its members, stable, nested, defined
and predictive (issue 8). Run on the built-in sample and on the real Online Retail data."""
from __future__ import annotations

import pandas as pd
import pytest

from segkit.modeling.label import RECOMMENDATIONS
from segkit.modeling.model import SegmentationModel
from segkit.pipeline.workflow import train_model


@pytest.fixture(scope="module", params=["sample", pytest.param("real", marks=pytest.mark.real_data)])
def customers(request):
    return request.getfixturevalue(f"{request.param}_data").customers


def test_no_member_contradicts_its_segment(customers):
    model, _ = train_model(customers)
    s = model.segment(customers)
    age = s["Recency"] + s["Tenure"]
    assert not ((s["Segment"] == "Lost") & (s["Recency"] < 60)).any()
    one_recent = (s["NumPurchases"] == 1) & (age < 30)
    assert not (one_recent & s["Segment"].isin(["Lost", "At risk"])).any()
    silent = s["Recency"] >= 270
    assert not (silent & s["Segment"].isin(["VIP", "Loyal", "New"])).any()
    assert (age[s["Segment"] == "New"] < model.lifecycle_rules_.new_days).all()
    # The lifecycle names hold for every member, as their definitions say.
    assert (s.loc[s["Segment"] == "At risk", "Recency"] >= model.lifecycle_rules_.at_risk_days).all()
    assert (s.loc[s["Segment"] == "At risk", "NumPurchases"] > 1).all()
    lost = s[s["Segment"] == "Lost"]
    assert ((lost["Recency"] >= model.lifecycle_rules_.lost_days)
            | ((lost["Recency"] >= model.lifecycle_rules_.at_risk_days) & (lost["NumPurchases"] == 1))).all()
    value = s[s["Stage"] == "Active"]
    assert (value["Recency"] < model.lifecycle_rules_.at_risk_days).all()


def test_recommendations_never_tell_to_drop_recent_buyers(customers):
    model, _ = train_model(customers)
    s = model.segment(customers)
    dropping = s["Recommendation"].str.contains("no paid", case=False)
    assert dropping.any()
    assert (s.loc[dropping, "Recency"] >= 60).all()


def test_another_random_state_renames_under_one_percent(customers):
    a = SegmentationModel(n_clusters=4, random_state=1).fit(customers).segment(customers)["Segment"]
    for seed in (7, 123):
        b = SegmentationModel(n_clusters=4, random_state=seed).fit(customers).segment(customers)["Segment"]
        assert (a != b).mean() < 0.01


def test_another_k_keeps_stages_and_tiers_nest(customers):
    fits = {k: SegmentationModel(n_clusters=k).fit(customers).segment(customers) for k in range(3, 8)}
    for k in range(3, 7):
        assert (fits[k]["Stage"] == fits[k + 1]["Stage"]).all()
        # Every tier of K + 1 lies inside one tier of K: a split, not a reshuffle.
        cross = pd.crosstab(fits[k + 1]["ValueTier"], fits[k]["ValueTier"])
        inside = cross.max(axis=1) / cross.sum(axis=1)
        assert (inside >= 0.99).all(), cross


def test_every_segment_has_a_definition_true_in_its_members_numbers(customers):
    model, _ = train_model(customers)
    s = model.segment(customers)
    d = model.definitions_
    assert list(d.index) == list(model.segment_names_.values())
    for name, row in d.iterrows():
        assert row["Definition"] and row["Recommendation"] == RECOMMENDATIONS[name.rsplit(" ", 1)[0] if name not in RECOMMENDATIONS else name]
        members = s[s["Segment"] == name]
        if len(members):
            assert row["InNumbers"].startswith(f"{len(members):,} customers")
            assert f"£{members['TotalSpend'].max():,.0f}" in row["InNumbers"]


@pytest.mark.real_data
def test_vip_count_does_not_depend_on_k_once_there_is_a_vip(real_data):
    counts = {k: int((SegmentationModel(n_clusters=k).fit(real_data.customers).segment(real_data.customers)["Segment"] == "VIP").sum())
              for k in range(4, 8)}
    assert len(set(counts.values())) == 1, counts


@pytest.mark.real_data
@pytest.mark.slow
@pytest.mark.parametrize("cutoff", ["2011-06-01", "2011-09-01"])
def test_segments_predict_next_quarter_at_least_as_well_as_the_rfm_score(real_data, cutoff):
    from segkit.modeling.validation import holdout, holdout_summary

    table = holdout(real_data.lines, real_data.transactions, cutoff, lambda: SegmentationModel(n_clusters=4))
    summary = holdout_summary(table)
    assert summary["segments"] <= 7
    assert summary["eta2_segments"] >= summary["eta2_rfm"], summary
    per = summary["per_segment"]
    assert per["Returned"].idxmin() == "Lost"
    assert per["MeanNextSpend"].idxmax() == "VIP"
