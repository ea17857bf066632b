"""Segment names come from profiles, are unique and survive a refit; RFM segments."""
from __future__ import annotations

import numpy as np
import pandas as pd

from segkit.label import RECOMMENDATIONS, RFM_SEGMENT_RULES, name_segments, rfm_scores
from segkit.model import SegmentationModel


def test_names_are_unique_and_do_not_depend_on_cluster_index(sample_data):
    customers = sample_data.customers
    a = SegmentationModel(n_clusters=5, random_state=1).fit(customers)
    b = SegmentationModel(n_clusters=5, random_state=99).fit(customers)
    assert len(set(a.segment_names_.values())) == 5
    # Same customers end up under the same names whatever the cluster numbering.
    names_a = pd.Series(a.labels_).map(a.segment_names_)
    names_b = pd.Series(b.labels_).map(b.segment_names_)
    assert (names_a == names_b).mean() > 0.97


def test_names_follow_the_profile(sample_data):
    customers = sample_data.customers
    model = SegmentationModel(n_clusters=5).fit(customers)
    profile = model.profile_.set_index("Segment")
    assert profile["AvgTotalSpend"].idxmax() == "VIP"
    lapsed = profile["AvgRecency"].idxmax()
    assert lapsed in ("Lost", "At risk")


def test_permuted_labels_get_permuted_names(sample_data):
    customers = sample_data.customers
    labels = SegmentationModel(n_clusters=4).fit(customers).labels_
    names = name_segments(customers, labels)
    permuted = name_segments(customers, (labels + 1) % 4)
    assert all(permuted[(c + 1) % 4] == n for c, n in names.items())


def test_more_clusters_than_names_still_unique(sample_data):
    model = SegmentationModel(n_clusters=9).fit(sample_data.customers)
    assert len(set(model.segment_names_.values())) == 9


def test_every_name_has_a_recommendation():
    assert {"VIP", "Loyal", "Regular", "Budget", "At risk", "Lost", "New"} <= set(RECOMMENDATIONS)


def test_rfm_scores_are_quintiles_and_named(sample_data):
    rfm = rfm_scores(sample_data.customers)
    for col in "RFM":
        assert set(rfm[col]) == {1, 2, 3, 4, 5}
        assert rfm[col].value_counts().max() - rfm[col].value_counts().min() <= 1
    # Most recent customers score R=5.
    recent = sample_data.customers["Recency"].idxmin()
    assert rfm.loc[recent, "R"] == 5
    assert set(rfm["RFM_Segment"]) <= {name for name, _, _ in RFM_SEGMENT_RULES}
    champions = rfm[rfm["RFM_Segment"] == "Champions"]
    assert (champions["R"] == 5).all() and len(champions) > 0
