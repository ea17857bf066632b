"""Segment names come from profiles, are unique and survive a refit; RFM segments."""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score

from segkit.modeling.label import (
    RECOMMENDATIONS,
    RFM_SEGMENT_RULES,
    name_segments,
    rfm_scores,
)
from segkit.modeling.model import SegmentationModel


def test_names_are_unique_and_do_not_depend_on_cluster_index(sample_data):
    customers = sample_data.customers
    # Two seeds that find the same clusters under other numbers (on the sample K-Means has two
    # near-equal optima at K=5; seeds 1 and 5 find the same one).
    a = SegmentationModel.from_preset("clusters", n_clusters=5, random_state=1).fit(customers)
    b = SegmentationModel.from_preset("clusters", n_clusters=5, random_state=5).fit(customers)
    assert adjusted_rand_score(a.labels_, b.labels_) > 0.97 and (a.labels_ == b.labels_).mean() < 0.5
    assert len(set(a.segment_names_.values())) == 5
    # Same customers end up under the same names whatever the cluster numbering.
    names_a = pd.Series(a.labels_).map(a.segment_names_)
    names_b = pd.Series(b.labels_).map(b.segment_names_)
    assert (names_a == names_b).mean() > 0.97


def test_names_follow_the_profile(sample_data):
    customers = sample_data.customers
    model = SegmentationModel.from_preset("clusters", n_clusters=5).fit(customers)
    profile = model.profile_.set_index("Segment")
    assert profile["AvgTotalSpend"].idxmax() == "VIP"
    lapsed = profile["AvgRecency"].idxmax()
    assert lapsed in ("Lost", "At risk")


def test_permuted_labels_get_permuted_names(sample_data):
    customers = sample_data.customers
    labels = SegmentationModel.from_preset("clusters", n_clusters=4).fit(customers).labels_
    names = name_segments(customers, labels)
    permuted = name_segments(customers, (labels + 1) % 4)
    assert all(permuted[(c + 1) % 4] == n for c, n in names.items())


def test_more_clusters_than_names_still_unique(sample_data):
    model = SegmentationModel.from_preset("clusters", n_clusters=9).fit(sample_data.customers)
    assert len(set(model.segment_names_.values())) == 9


def test_every_name_has_a_recommendation():
    assert {"VIP", "Loyal", "Regular", "Budget", "At risk", "Lost", "New"} <= set(RECOMMENDATIONS)


def test_rfm_scores_are_quintiles_and_named(sample_data):
    rfm = rfm_scores(sample_data.customers)
    for col in "RFM":
        assert set(rfm[col]) == {1, 2, 3, 4, 5}
    # Most recent customers score R=5.
    recent = sample_data.customers["Recency"].idxmin()
    assert rfm.loc[recent, "R"] == 5
    assert set(rfm["RFM_Segment"]) <= {name for name, _, _ in RFM_SEGMENT_RULES}
    champions = rfm[rfm["RFM_Segment"] == "Champions"]
    assert (champions["R"] == 5).all() and len(champions) > 0


def test_rfm_scores_do_not_depend_on_row_order_and_ties_share_a_score(sample_data):
    customers = sample_data.customers
    rfm = rfm_scores(customers)
    shuffled = rfm_scores(customers.sample(frac=1.0, random_state=3)).loc[customers.index]
    pd.testing.assert_frame_equal(rfm, shuffled)
    one_time = customers["NumPurchases"] == 1
    assert one_time.sum() > 1 and rfm.loc[one_time, "F"].nunique() == 1


def test_value_tiers_take_names_that_describe_their_profile():
    from segkit.modeling.label import tier_names

    centres = np.array([[2.0, 1.7], [0.5, 0.6], [-0.4, -0.2], [-1.1, -1.3]])
    assert tier_names(centres, ("NumPurchases", "TotalSpend")) == ["VIP", "Loyal", "Regular", "Budget"]
    # No VIP-like tier: no tier is called VIP.
    assert "VIP" not in tier_names(centres[1:], ("NumPurchases", "TotalSpend"))
    assert tier_names(centres, ("Recency", "ChristmasShare")) == ["Tier 1", "Tier 2", "Tier 3", "Tier 4"]


def test_rfm_lost_advice_does_not_tell_to_stop_spending():
    """Issue 21: nothing measures what RFM "Lost" customers do next, so their advice may not
    tell to leave them or stop spending on them."""
    from segkit.modeling.label import RFM_SEGMENT_TEXT

    advice = RFM_SEGMENT_TEXT["Lost"][1].lower()
    for words in ("leave them", "stop", "no paid", "drop them", "ignore"):
        assert words not in advice or f"not {words}" in advice or "do not drop" in advice, advice
