"""Saved models reload to the same predictions; tampering and failed saves are handled."""
from __future__ import annotations

import json

import numpy as np
import pytest

from segkit.artifacts import load_artifacts, save_artifacts
from segkit.errors import SegkitArtifactError
from segkit.model import SegmentationModel


@pytest.fixture
def saved(tmp_path, sample_data):
    model = SegmentationModel(n_clusters=4).fit(sample_data.customers)
    save_artifacts(model, tmp_path, sample_data.training_info())
    return model, tmp_path


def test_reloaded_model_predicts_the_same_labels_and_names(saved, sample_data):
    model, folder = saved
    loaded = load_artifacts(folder)
    assert (loaded.predict(sample_data.customers) == model.labels_).all()
    assert loaded.segment_names_ == model.segment_names_
    assert loaded.segment(sample_data.customers).equals(model.segment(sample_data.customers))
    assert loaded.definitions_.equals(model.definitions_)
    assert sorted(p.name for p in folder.iterdir()) == ["kmeans.joblib", "model.json", "scaler.joblib"]


def test_model_card_records_what_users_need(saved, sample_data):
    _, folder = saved
    card = json.loads((folder / "model.json").read_text())
    assert card["features"] == ["NumPurchases", "TotalSpend"]
    assert card["transforms"] == ["log1p", "standard_scaler"]
    assert card["k"] == 4 and len(card["segments"]) == 4 + 3
    assert card["lifecycle"] == {"new_days": 30, "at_risk_days": 120, "lost_days": 180}
    # Every segment is defined in the card, in words and in its members' numbers.
    assert [d["Segment"] for d in card["definitions"]] == list(card["segments"].values())
    assert all(d["Definition"] and d["Recommendation"] for d in card["definitions"])
    assert card["training_data"]["fingerprint"] == sample_data.fingerprint
    assert card["training_data"]["customers"] == len(sample_data.customers)
    assert "scikit-learn" in card["versions"] and set(card["files"]) == {"scaler.joblib", "kmeans.joblib"}
    assert 0 < card["metrics"]["silhouette"] < 1


def test_altered_file_is_refused_before_unpickling(saved):
    _, folder = saved
    with open(folder / "kmeans.joblib", "ab") as fh:
        fh.write(b"tampered")
    with pytest.raises(SegkitArtifactError, match="kmeans.joblib' does not match its sha256"):
        load_artifacts(folder)


def test_model_card_cannot_point_outside_its_folder(saved, tmp_path_factory):
    _, folder = saved
    card = json.loads((folder / "model.json").read_text())
    card["files"]["../evil.joblib"] = card["files"].pop("kmeans.joblib")
    (folder / "model.json").write_text(json.dumps(card))
    with pytest.raises(SegkitArtifactError):
        load_artifacts(folder)


def test_inconsistent_card_says_what_does_not_match(saved):
    _, folder = saved
    card = json.loads((folder / "model.json").read_text())
    card["features"] = ["TotalSpend"]
    (folder / "model.json").write_text(json.dumps(card))
    with pytest.raises(SegkitArtifactError, match="scaler expects 2 features, model.json lists 1"):
        load_artifacts(folder)


def test_missing_folder_says_how_to_train(tmp_path):
    with pytest.raises(SegkitArtifactError, match="segkit train"):
        load_artifacts(tmp_path / "nothing")


def test_failed_save_leaves_the_previous_set_intact(saved, sample_data, monkeypatch):
    _, folder = saved
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    other = SegmentationModel(n_clusters=3).fit(sample_data.customers)
    import segkit.artifacts as artifacts

    real_dump = artifacts.joblib.dump

    def broken_dump(obj, path):
        if str(path).endswith(".tmp") and "kmeans" in str(path):
            raise OSError("disk full")
        return real_dump(obj, path)

    monkeypatch.setattr(artifacts.joblib, "dump", broken_dump)
    with pytest.raises(OSError):
        save_artifacts(other, folder)
    after = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert after == before  # same files, same bytes, no temporary leftovers
    assert load_artifacts(folder).n_clusters == 4
