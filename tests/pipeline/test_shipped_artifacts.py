"""The model shipped in artifacts/ loads and fits the built-in sample it was trained on.

``artifacts/SHIPPED`` names the shipped version; ``make train`` adds versions and moves
``CURRENT`` to them but leaves the shipped one (and this test) alone.
"""
from __future__ import annotations

from segkit.config import ARTIFACTS_DIR
from segkit.modeling.model import SegmentationModel
from segkit.pipeline.artifacts import load_artifacts, load_artifacts_from
from segkit.pipeline.workflow import model_fits_data


def test_shipped_artifacts_load_and_match_the_sample(sample_data):
    version = (ARTIFACTS_DIR / "SHIPPED").read_text().strip()
    model = load_artifacts_from(ARTIFACTS_DIR / "versions" / version)
    assert model.card_["training_data"]["is_sample"] is True
    # Stale artifacts (sample or pipeline changed) would make the dashboard retrain at every start.
    assert model_fits_data(model.card_, sample_data), "retrain the shipped model: SEGKIT_DATA= segkit train"
    refit = SegmentationModel(model.features, model.log_transform, model.n_clusters, model.random_state,
                              lifecycle=model.lifecycle_rules_).fit(sample_data.customers)
    assert (model.predict(sample_data.customers) == refit.labels_).all()


def test_a_fresh_clone_uses_the_shipped_model():
    import subprocess

    tracked = subprocess.run(["git", "show", "HEAD:artifacts/CURRENT"], cwd=ARTIFACTS_DIR.parent,
                             capture_output=True, text=True)
    if tracked.returncode == 0:  # in a git checkout: the committed pointer is the shipped version
        assert tracked.stdout.strip() == (ARTIFACTS_DIR / "SHIPPED").read_text().strip()
    assert load_artifacts(ARTIFACTS_DIR).n_clusters >= 2


def test_the_shipped_model_shows_the_sample_s_biggest_spenders_as_vip(sample_data):
    """What `make run` shows on the sample: a small VIP tier holding the biggest spenders,
    as the real file's model does (not a cluster of giants inside Loyal)."""
    version = (ARTIFACTS_DIR / "SHIPPED").read_text().strip()
    model = load_artifacts_from(ARTIFACTS_DIR / "versions" / version)
    segmented = model.segment(sample_data.customers)
    share = segmented["Segment"].value_counts(normalize=True)
    assert 0.03 <= share.get("VIP", 0) <= 0.10, share.round(3).to_dict()
    top_percent = segmented.nlargest(len(segmented) // 100, "TotalSpend")
    assert (top_percent["Segment"] == "VIP").all(), top_percent["Segment"].value_counts().to_dict()
