"""The segmentation model and the choice of K."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import BisectingKMeans, KMeans
from sklearn.preprocessing import StandardScaler

from segkit.errors import SegkitDataError
from segkit.modeling.label import LifecycleRules, lifecycle_stage
from segkit.modeling.model import SegmentationModel, evaluate_k, recommend_k


@pytest.mark.slow
def test_default_pipeline_clusters_the_active_customers_with_bisecting_kmeans(sample_data):
    customers = sample_data.customers
    model = SegmentationModel(n_clusters=4, random_state=0).fit(customers)
    assert list(model.pipeline_.named_steps) == ["log1p", "scaler", "cluster"]
    active = lifecycle_stage(customers, LifecycleRules()) == "Active"
    X = StandardScaler().fit_transform(np.log1p(customers.loc[active, ["NumPurchases", "TotalSpend"]]))
    plain = BisectingKMeans(4, random_state=0, n_init=10, bisecting_strategy="largest_cluster").fit(X)
    assert model.metrics_["inertia"] == pytest.approx(plain.inertia_)
    assert len(model.labels_) == len(customers)


def test_clusters_preset_is_log_scaler_kmeans_over_everyone(sample_data):
    customers = sample_data.customers
    model = SegmentationModel.from_preset("clusters", n_clusters=4, random_state=0).fit(customers)
    X = StandardScaler().fit_transform(np.log1p(customers[["Recency", "NumPurchases", "TotalSpend"]]))
    plain = KMeans(4, random_state=0, n_init=10).fit(X)
    assert model.metrics_["inertia"] == pytest.approx(plain.inertia_)


def test_seed_preset_clusters_raw_values(sample_data):
    model = SegmentationModel.from_preset("seed", n_clusters=3).fit(sample_data.customers)
    assert list(model.pipeline_.named_steps) == ["scaler", "cluster"]
    assert list(model.features) == ["NumPurchases", "TotalQuantity", "TotalSpend"]
    assert model.lifecycle_rules_ is None


def test_segment_adds_codes_names_stage_tier_and_recommendations(sample_data):
    model = SegmentationModel(n_clusters=4).fit(sample_data.customers)
    segmented = model.segment(sample_data.customers)
    assert set(segmented["Segment"]) <= set(model.segment_names_.values())
    assert {"New", "At risk", "Lost"} <= set(segmented["Segment"])
    assert segmented["Recommendation"].notna().all()
    assert (segmented["Cluster"].to_numpy() == model.labels_).all()
    assert set(segmented["Stage"]) <= {"New", "Active", "At risk", "Lost"}
    active = segmented["Stage"] == "Active"
    assert (segmented.loc[active, "Segment"] == segmented.loc[active, "ValueTier"]).all()
    assert model.profile_["Customers"].sum() == len(sample_data.customers)
    assert model.profile_["Share"].sum() == pytest.approx(1.0)


def test_evaluate_k_reports_every_metric_for_every_k(sample_data):
    table = evaluate_k(sample_data.customers, range(2, 7), n_bootstrap=3)
    assert table.index.tolist() == [2, 3, 4, 5, 6]
    for col in ("inertia", "silhouette", "calinski_harabasz", "davies_bouldin", "stability", "min_cluster_share"):
        assert table[col].notna().all(), col
    assert table["inertia"].is_monotonic_decreasing
    assert table["stability"].between(-1, 1).all()


def test_evaluate_k_with_lifecycle_rules_uses_only_the_active_customers(sample_data):
    rules = LifecycleRules()
    table = evaluate_k(sample_data.customers, [3], ["NumPurchases", "TotalSpend"], lifecycle=rules, n_bootstrap=1)
    assert table.attrs["sample_size"] == int((lifecycle_stage(sample_data.customers, rules) == "Active").sum())


def test_recommend_k_skips_tiny_clusters_and_unstable_k():
    table = pd.DataFrame({
        "k": [2, 3, 4, 5],
        "silhouette": [0.9, 0.8, 0.4, 0.35],
        "calinski_harabasz": [100, 90, 80, 70],
        "davies_bouldin": [0.5, 0.6, 0.9, 1.0],
        "stability": [0.95, 0.95, 0.9, 0.5],
        "min_cluster_share": [0.001, 0.003, 0.15, 0.2],
    }).set_index("k")
    # 2 is out of range, 3 has a tiny cluster (outliers), 5 is unstable: 4 remains.
    assert recommend_k(table) == 4


def test_fewer_customers_than_k_is_a_clear_error(sample_data):
    few = sample_data.customers.head(3)
    with pytest.raises(SegkitDataError, match="3 customers but K is 4"):
        SegmentationModel.from_preset("clusters", n_clusters=4).fit(few)
    with pytest.raises(SegkitDataError, match="3 customers but K is 4"):
        SegmentationModel(n_clusters=4).fit(few)


def test_a_log_of_a_few_weeks_still_gets_value_tiers(sample_data):
    customers = sample_data.customers
    young = customers.assign(Recency=customers["Recency"] % 20, Tenure=customers["Tenure"] % 5)
    model = SegmentationModel(n_clusters=3).fit(young)
    segmented = model.segment(young)
    assert model.clustered_customers_ == len(young)
    assert set(segmented["Segment"]) == {"New"} and segmented["ValueTier"].nunique() == 3


def test_scoring_a_table_without_the_features_names_them(sample_data):
    model = SegmentationModel(n_clusters=3).fit(sample_data.customers)
    with pytest.raises(SegkitDataError, match="no column Recency"):
        model.predict(sample_data.customers.drop(columns="Recency"))


def test_identical_customers_are_refused_by_evaluate_k_without_convergence_warnings():
    import warnings

    from segkit.errors import SegkitDataError
    from segkit.modeling.model import evaluate_k

    same = pd.DataFrame({"Recency": [5] * 12, "NumPurchases": [2] * 12, "TotalSpend": [40.0] * 12},
                        index=pd.Index([str(i) for i in range(12)], name="CustomerID"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any ConvergenceWarning fails the test
        with pytest.raises(SegkitDataError, match="have the same"):
            evaluate_k(same, range(2, 6))
        two = same.copy()
        two.iloc[:6, 1] = 50  # two distinct customers: K=2 only, quietly
        assert evaluate_k(two, range(2, 6), n_bootstrap=2).index.tolist() == [2]
