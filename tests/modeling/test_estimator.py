"""SegmentationModel as a scikit-learn clusterer: your own scaler, clusterer and
transforms; fit/predict/fit_predict/transform; Pipeline, GridSearchCV, clone,
check_estimator; the whole fitted pipeline saved and reloaded."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.cluster import (
    DBSCAN,
    HDBSCAN,
    AgglomerativeClustering,
    KMeans,
    MiniBatchKMeans,
)
from sklearn.metrics import silhouette_score
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, RobustScaler

from segkit.modeling.model import NearestMemberAssignment, SegmentationModel
from segkit.pipeline.artifacts import load_artifacts, save_artifacts


@pytest.mark.parametrize("clusterer", [GaussianMixture(random_state=0), MiniBatchKMeans(n_init=3, random_state=0),
                                       KMeans(n_init=3, random_state=0)], ids=lambda c: type(c).__name__)
def test_any_clusterer_trains_names_saves_and_reloads(clusterer, sample_data, tmp_path):
    customers = sample_data.customers
    model = SegmentationModel(n_clusters=3, clusterer=clusterer, scaler=RobustScaler()).fit(customers)
    assert type(model.pipeline_.steps[-1][1]) is type(clusterer)
    assert type(model.pipeline_.named_steps["scaler"]) is RobustScaler
    segmented = model.segment(customers)
    assert set(segmented["Segment"]) <= set(model.segment_names_.values())
    assert segmented["Confidence"].between(0, 1).all()
    save_artifacts(model, tmp_path, sample_data.training_info())
    loaded = load_artifacts(tmp_path)
    pd.testing.assert_frame_equal(loaded.segment(customers), segmented)
    assert loaded.card_["algorithm"] == type(clusterer).__name__ and loaded.card_["scaler"] == "RobustScaler"


def test_custom_features_and_per_column_transforms(sample_data, tmp_path):
    customers = sample_data.customers.assign(ReturnsShare=np.linspace(0, 0.3, len(sample_data.customers)))
    model = SegmentationModel(features=("NumPurchases", "TotalSpend", "ReturnsShare"), n_clusters=3,
                              transforms={"ReturnsShare": "identity"}).fit(customers)
    assert model.pipeline_.steps[0][0] == "transforms"
    # Names come from the features actually clustered: no prototypes for this set, so tiers are ranked.
    assert [model.segment_names_[c] for c in range(3)] == ["Tier 1", "Tier 2", "Tier 3"]
    assert "AvgReturnsShare" in model.profile_  # profiles show the features actually clustered
    save_artifacts(model, tmp_path, sample_data.training_info())
    loaded = load_artifacts(tmp_path)
    assert loaded.card_["transforms"] == {"NumPurchases": "log1p", "TotalSpend": "log1p", "ReturnsShare": "identity"}
    assert (loaded.predict(customers) == model.labels_).all()


def test_scikit_learn_api(sample_data):
    customers = sample_data.customers
    model = SegmentationModel(n_clusters=3)
    labels = model.fit_predict(customers)
    assert (labels == model.labels_).all() and (model.predict(customers) == labels).all()
    assert list(model.cluster_features_) == ["NumPurchases", "TotalSpend"]
    assert model.transform_scaled(customers).shape == (len(customers), 2)
    distances = model.set_output(transform="pandas").transform(customers)
    assert list(distances.columns) == list(model.get_feature_names_out()) == [
        f"distance_{model.segment_names_[code]}" for code in range(3)]
    # Column i is tier i: each tier's members are on average nearest to their own centre
    # (bisecting K-Means assigns along its tree, so a border customer may sit nearer another).
    for code in range(3):
        assert distances.to_numpy()[model.labels_ == code].mean(axis=0).argmin() == code
    copy = clone(model)
    assert copy.get_params() == model.get_params() and not hasattr(copy, "pipeline_")
    assert copy.set_params(n_clusters=4).n_clusters == 4


def test_numpy_arrays_fit_and_predict_without_lifecycle():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (50, 3)), rng.normal(6, 1, (50, 3))])
    model = SegmentationModel(features=None, lifecycle=None, log_transform=False, n_clusters=2).fit(X)
    assert list(model.feature_names_in_) == ["x0", "x1", "x2"]
    assert len(set(model.predict(X[:50]))) == 1 and len(set(model.predict(X[50:]))) == 1


def test_inside_pipeline_and_grid_search(sample_data):
    customers = sample_data.customers[["NumPurchases", "TotalSpend"]]
    pipe = Pipeline([("identity", FunctionTransformer(feature_names_out="one-to-one")),
                     ("segments", SegmentationModel(lifecycle=None, n_clusters=2))])
    pipe.set_output(transform="pandas")
    assert len(pipe.fit_predict(customers)) == len(customers)

    def silhouette(estimator, X, y=None):
        return silhouette_score(estimator.transform_scaled(X), estimator.predict(X))

    search = GridSearchCV(SegmentationModel(lifecycle=None), {"n_clusters": [2, 3, 4]}, scoring=silhouette, cv=3)
    search.fit(customers)
    assert search.best_params_["n_clusters"] in (2, 3, 4)


@pytest.mark.slow
def test_check_estimator_passes_every_check():
    from sklearn.utils.estimator_checks import check_estimator

    # Numpy arrays get scikit-learn's own validation and messages; customer DataFrames get
    # segkit's sentences for people. Lifecycle rules need Recency/Tenure/NumPurchases
    # columns, so the generic checks run without them.
    model = SegmentationModel(features=None, lifecycle=None, log_transform=False, n_clusters=3)
    results = check_estimator(model, on_fail=None)
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results if r["status"] == "failed"]
    assert not failed
    assert sum(r["status"] == "passed" for r in results) >= 45


def test_the_default_model_declares_every_check_it_fails_with_its_reason():
    """The model people use (lifecycle rules, log transform, named features) fails the
    generic checks that feed bare arrays; each such check is declared, with its reason,
    through scikit-learn's own ``expected_failed_checks``, and nothing else fails."""
    from sklearn.utils.estimator_checks import check_estimator

    model = SegmentationModel()
    declared = model.expected_failed_checks()
    assert declared and all(reason for reason in declared.values())
    results = check_estimator(model, on_fail=None, expected_failed_checks=declared)
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results if r["status"] == "failed"]
    assert not failed
    assert {r["check_name"] for r in results if r["status"] == "xfail"} == set(declared)
    assert sum(r["status"] == "passed" for r in results) >= 20
    stripped = SegmentationModel(features=None, lifecycle=None, log_transform=False)
    assert stripped.expected_failed_checks() == {}


def test_predict_takes_the_columns_of_feature_names_in_stage_columns_included(sample_data):
    """scikit-learn's convention: ``n_features_in_`` columns in, in the order of
    ``feature_names_in_``; with lifecycle rules those include the stage columns."""
    customers = sample_data.customers
    model = SegmentationModel(n_clusters=3).fit(customers)
    assert list(model.feature_names_in_) == ["NumPurchases", "TotalSpend", "Recency", "Tenure"]
    assert model.n_features_in_ == 4
    array = customers[list(model.feature_names_in_)].to_numpy()
    assert (model.predict(array) == model.labels_).all()
    assert set(model.labels_) - set(range(model.n_clusters)) <= {3, 4, 5}  # New, At risk, Lost after the K tiers
    with pytest.raises(Exception, match="expecting 4 features"):
        model.predict(customers[["NumPurchases", "TotalSpend"]].to_numpy())


def test_mixture_transform_gives_named_probabilities(sample_data):
    customers = sample_data.customers
    model = SegmentationModel(n_clusters=3, clusterer=GaussianMixture(random_state=0)).fit(customers)
    probabilities = model.transform(customers)
    assert np.allclose(probabilities.sum(axis=1), 1)
    assert all(name.startswith("probability_") for name in model.get_feature_names_out())


@pytest.mark.parametrize("make", [lambda: AgglomerativeClustering(), lambda: HDBSCAN(min_cluster_size=40, copy=True)],
                         ids=["Agglomerative", "HDBSCAN"])
def test_clusterers_without_predict_score_by_the_nearest_member(make, sample_data, tmp_path):
    customers = sample_data.customers
    k = 3
    if isinstance(make(), HDBSCAN):  # HDBSCAN picks its own number of clusters: ask it first
        probe = SegmentationModel(n_clusters=1, clusterer=make())
        X = probe._matrix(customers)[probe._clustered_rows(customers)]
        scaled = probe._make_pipeline(["NumPurchases", "TotalSpend"], len(X))[:-1].fit_transform(X)
        k = len(set(make().fit_predict(scaled)) - {-1})
    model = SegmentationModel(n_clusters=k, clusterer=make()).fit(customers)
    step = model.pipeline_.steps[-1][1]
    assert isinstance(step, NearestMemberAssignment)
    # Training customers keep the cluster they were given (noise joins its nearest member's).
    assert (model.predict(customers) == model.labels_).all()
    save_artifacts(model, tmp_path, sample_data.training_info())
    assert (load_artifacts(tmp_path).predict(customers) == model.labels_).all()


def test_a_clusterer_finding_another_number_of_clusters_is_refused_in_words(sample_data):
    from segkit.errors import SegkitDataError

    with pytest.raises(SegkitDataError, match=r"DBSCAN found \d+ clusters but n_clusters is 9; set n_clusters="):
        SegmentationModel(n_clusters=9, clusterer=DBSCAN(eps=0.5)).fit(sample_data.customers)


def test_confidence_is_the_margin_to_the_border_so_the_biggest_customers_are_certain(sample_data):
    """Confidence is not 1 - d1/d2 (far beyond its centre the two distances are alike, so
    the top VIP would get 0.33). The margin to the border between the two nearest centres gives 1
    at a centre or beyond it, 0 on the border."""
    customers = sample_data.customers
    model = SegmentationModel(n_clusters=3, lifecycle=None).fit(customers)
    confidence = model.confidence(customers)
    assert ((confidence >= 0) & (confidence <= 1)).all()
    biggest = customers["TotalSpend"].to_numpy().argmax()
    assert confidence[biggest] == 1.0
    # and customers near a border are not: some of the sample sit close to one
    assert confidence.min() < 0.1
