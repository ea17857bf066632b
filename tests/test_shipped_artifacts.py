"""The model shipped in artifacts/ loads and fits the built-in sample it was trained on."""
from __future__ import annotations

from segkit.artifacts import load_artifacts
from segkit.config import ARTIFACTS_DIR
from segkit.model import SegmentationModel
from segkit.workflow import model_fits_data


def test_shipped_artifacts_load_and_match_the_sample(sample_data):
    model = load_artifacts(ARTIFACTS_DIR)
    assert model.card_["training_data"]["is_sample"] is True
    # Stale artifacts (sample or pipeline changed) would make the dashboard retrain at every start.
    assert model_fits_data(model.card_, sample_data), "retrain the shipped model: SEGKIT_DATA= segkit train"
    refit = SegmentationModel(model.features, model.log_transform, model.n_clusters, model.random_state,
                                lifecycle=model.lifecycle_rules_).fit(
        sample_data.customers)
    assert (model.predict(sample_data.customers) == refit.labels_).all()
