"""Saved models reload to the same predictions; tampering and failed saves are handled."""
from __future__ import annotations

import json

import pytest

from segkit.errors import SegkitArtifactError
from segkit.modeling.model import SegmentationModel
from segkit.pipeline.artifacts import (
    current_version_dir,
    list_versions,
    load_artifacts,
    rollback,
    save_artifacts,
)


@pytest.fixture
def saved(tmp_path, sample_data):
    model = SegmentationModel(n_clusters=4).fit(sample_data.customers)
    card = save_artifacts(model, tmp_path, sample_data.training_info())
    return model, card.parent


def tree(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def edit_card(folder, change, keep_checksum=True):
    """Edit model.json as someone with a text editor would; optionally fix up card_sha256
    too (what a careful tamperer does), to reach the deeper checks."""
    import segkit.pipeline.artifacts as artifacts

    path = folder / "model.json"
    card = json.loads(path.read_text())
    change(card)
    if keep_checksum:
        card["card_sha256"] = artifacts._card_digest(card)
    path.write_text(json.dumps(card))


def test_reloaded_model_predicts_the_same_labels_and_names(saved, sample_data):
    model, folder = saved
    loaded = load_artifacts(folder)
    assert (loaded.predict(sample_data.customers) == model.labels_).all()
    assert loaded.segment_names_ == model.segment_names_
    assert loaded.segment(sample_data.customers).equals(model.segment(sample_data.customers))
    assert loaded.definitions_.equals(model.definitions_)
    assert sorted(p.name for p in folder.iterdir()) == ["model.json", "pipeline.joblib"]
    assert current_version_dir(folder.parent.parent) == folder and loaded.version_ == folder.name


def test_model_card_records_what_users_need(saved, sample_data):
    _, folder = saved
    card = json.loads((folder / "model.json").read_text())
    assert card["features"] == ["NumPurchases", "TotalSpend"]
    assert card["transforms"] == {"NumPurchases": "log1p", "TotalSpend": "log1p"}
    assert card["scaler"] == "StandardScaler" and card["algorithm"] == "BisectingKMeans"
    assert card["k"] == 4 and len(card["segments"]) == 4 + 3
    assert card["lifecycle"] == {"new_days": 30, "at_risk_days": 120, "lost_days": 180}
    # Every segment is defined in the card, in words and in its members' numbers.
    assert [d["Segment"] for d in card["definitions"]] == list(card["segments"].values())
    assert all(d["Definition"] and d["Recommendation"] for d in card["definitions"])
    assert card["training_data"]["fingerprint"] == sample_data.fingerprint
    assert card["training_data"]["customers"] == len(sample_data.customers)
    assert "scikit-learn" in card["versions"] and set(card["files"]) == {"pipeline.joblib"}
    assert 0 < card["metrics"]["silhouette"] < 1


def test_altered_file_is_refused_before_unpickling(saved):
    _, folder = saved
    with open(folder / "pipeline.joblib", "ab") as fh:
        fh.write(b"tampered")
    with pytest.raises(SegkitArtifactError, match="pipeline.joblib' does not match its sha256"):
        load_artifacts(folder.parent.parent)


def test_model_card_cannot_point_outside_its_folder(saved, tmp_path_factory):
    _, folder = saved
    card = json.loads((folder / "model.json").read_text())
    card["files"]["../evil.joblib"] = card["files"].pop("pipeline.joblib")
    (folder / "model.json").write_text(json.dumps(card))
    with pytest.raises(SegkitArtifactError):
        load_artifacts(folder.parent.parent)


def test_inconsistent_card_says_what_does_not_match(saved):
    _, folder = saved
    edit_card(folder, lambda card: card.update(features=["TotalSpend"]))
    with pytest.raises(SegkitArtifactError, match="scaler expects 2 features, model.json lists 1"):
        load_artifacts(folder.parent.parent)


def test_missing_folder_says_how_to_train(tmp_path):
    with pytest.raises(SegkitArtifactError, match="segkit train"):
        load_artifacts(tmp_path / "nothing")


FAIL_POINTS = ["mkdtemp", "dump_pipeline", "write_card", "fsync", "rename", "pointer"]


@pytest.mark.parametrize("step", FAIL_POINTS)
def test_a_save_failing_at_any_step_leaves_the_previous_model_current_and_whole(saved, sample_data, monkeypatch, step):
    model, version_dir = saved
    root = version_dir.parent.parent
    before = tree(root)
    other = SegmentationModel(n_clusters=3).fit(sample_data.customers)
    import segkit.pipeline.artifacts as artifacts

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    import joblib

    if step == "mkdtemp":
        monkeypatch.setattr(artifacts.tempfile, "mkdtemp", fail)
    elif step == "dump_pipeline":
        monkeypatch.setattr(joblib, "dump", lambda obj, path: fail())
    elif step == "write_card":
        real_write = artifacts.Path.write_text
        monkeypatch.setattr(artifacts.Path, "write_text",
                            lambda self, *a, **k: fail() if self.name == "model.json" else real_write(self, *a, **k))
    elif step == "fsync":
        monkeypatch.setattr(artifacts.os, "fsync", fail)
    elif step == "rename":
        monkeypatch.setattr(artifacts.os, "rename", fail)
    elif step == "pointer":
        monkeypatch.setattr(artifacts.os, "replace", fail)
    with pytest.raises(SegkitArtifactError, match="previous model is unchanged"):
        save_artifacts(other, root)
    assert tree(root) == before  # same files, same bytes, no temporary leftovers
    loaded = load_artifacts(root)
    assert loaded.version_ == version_dir.name and loaded.n_clusters == 4


def test_read_only_folder_gets_one_sentence_naming_it(tmp_path, sample_data):
    import os

    if os.geteuid() == 0:  # root writes anywhere: simulate the refusal the kernel gives others
        folder = tmp_path / "file-not-folder"
        folder.write_text("x")
    else:
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o500)
    model = SegmentationModel(n_clusters=3).fit(sample_data.customers)
    with pytest.raises(SegkitArtifactError, match=f"Could not save the model in '{folder}'"):
        save_artifacts(model, folder)


def test_versions_are_kept_listed_and_rolled_back(saved, sample_data):
    first, version_dir = saved
    root = version_dir.parent.parent
    second = save_artifacts(SegmentationModel(n_clusters=3).fit(sample_data.customers), root, sample_data.training_info())
    versions = list_versions(root)
    assert list(versions["version"]) == [second.parent.name, version_dir.name]
    assert list(versions["current"]) == [True, False] and list(versions["k"]) == [3, 4]
    assert load_artifacts(root).n_clusters == 3
    rollback(root, version_dir.name)
    assert load_artifacts(root).n_clusters == 4
    with pytest.raises(SegkitArtifactError, match="No model version 'nope'"):
        rollback(root, "nope")
    with pytest.raises(SegkitArtifactError):
        rollback(root, "../..")


def test_the_flat_layout_of_earlier_releases_still_loads(saved, tmp_path):
    import shutil

    model, version_dir = saved
    flat = tmp_path / "flat"
    shutil.copytree(version_dir, flat)
    assert load_artifacts(flat).segment_names_ == model.segment_names_


def test_an_edited_card_is_refused(saved):
    _, folder = saved
    edit_card(folder, lambda card: card["segments"].update({"0": "Budget"}), keep_checksum=False)
    with pytest.raises(SegkitArtifactError, match="edited after training"):
        load_artifacts(folder.parent.parent)


def test_removing_log1p_from_the_card_is_caught_against_the_pipeline(saved):
    _, folder = saved
    edit_card(folder, lambda card: card.update(transforms={"NumPurchases": "identity", "TotalSpend": "identity"}))
    with pytest.raises(SegkitArtifactError, match="declares transforms .* but the pipeline applies"):
        load_artifacts(folder.parent.parent)


def write_format_1(model, folder, transforms):
    """A model saved the way segkit 0.1 did: scaler and K-Means apart, transforms as a list."""
    import hashlib

    import joblib

    folder.mkdir()
    joblib.dump(model.pipeline_.named_steps["scaler"], folder / "scaler.joblib")
    joblib.dump(model.pipeline_.steps[-1][1], folder / "kmeans.joblib")
    card = {"format": 1, "features": list(model.features), "transforms": transforms, "k": model.n_clusters,
            "segments": {str(c): n for c, n in model.segment_names_.items()},
            "profile": json.loads(model.profile_.reset_index().to_json(orient="records")),
            "files": {n: hashlib.sha256((folder / n).read_bytes()).hexdigest() for n in ("scaler.joblib", "kmeans.joblib")}}
    (folder / "model.json").write_text(json.dumps(card))


def test_format_1_models_still_load_and_removing_log1p_is_caught_by_the_scaler_statistics(tmp_path, sample_data):
    model = SegmentationModel.from_preset("clusters", n_clusters=4).fit(sample_data.customers)
    write_format_1(model, tmp_path / "v1", ["log1p", "standard_scaler"])
    loaded = load_artifacts(tmp_path / "v1")
    assert (loaded.predict(sample_data.customers) == model.labels_).all()
    write_format_1(model, tmp_path / "v1-edited", ["standard_scaler"])
    with pytest.raises(SegkitArtifactError, match="statistics for .* fit log1p values"):
        load_artifacts(tmp_path / "v1-edited")


def test_swapped_segment_names_are_caught_by_the_centres(saved):
    _, folder = saved

    def swap(card):
        s = card["segments"]
        s["0"], s["1"] = s["1"], s["0"]

    edit_card(folder, swap)
    with pytest.raises(SegkitArtifactError, match="do not match the centres' profiles"):
        load_artifacts(folder.parent.parent)


def test_with_a_key_the_card_must_carry_its_hmac(tmp_path, sample_data, monkeypatch):
    model = SegmentationModel(n_clusters=3).fit(sample_data.customers)
    monkeypatch.setenv("SEGKIT_MODEL_KEY", "team-secret")
    card = save_artifacts(model, tmp_path / "signed", sample_data.training_info())
    assert load_artifacts(tmp_path / "signed").n_clusters == 3
    monkeypatch.delenv("SEGKIT_MODEL_KEY")
    save_artifacts(model, tmp_path / "unsigned", sample_data.training_info())
    monkeypatch.setenv("SEGKIT_MODEL_KEY", "team-secret")
    with pytest.raises(SegkitArtifactError, match="no valid signature"):
        load_artifacts(tmp_path / "unsigned")
    monkeypatch.setenv("SEGKIT_MODEL_KEY", "another key")
    with pytest.raises(SegkitArtifactError, match="no valid signature"):
        load_artifacts(tmp_path / "signed")
    assert json.loads(card.read_text())["card_hmac"]


@pytest.mark.parametrize("text, message", [
    ("null", "holds null, not a model card"),
    ("[1, 2]", "holds list, not a model card"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"format": 1, "features": ["NumPurchases"], "transforms": [], "k": 2, "segments": ["VIP", "Budget"], "files": {}}',
     "segments should be a dict"),
    ('{"format": 1, "features": "NumPurchases", "transforms": [], "k": "two", "segments": {}, "files": {}}',
     "features should be a list; k should be a whole number"),
])
def test_malformed_cards_get_one_sentence(tmp_path, text, message):
    (tmp_path / "model.json").write_text(text)
    with pytest.raises(SegkitArtifactError, match=message):
        load_artifacts(tmp_path)


def test_cli_lists_versions_and_rolls_back(saved, sample_data, capsys):
    from segkit import cli

    _, version_dir = saved
    root = version_dir.parent.parent
    save_artifacts(SegmentationModel(n_clusters=3).fit(sample_data.customers), root, sample_data.training_info())
    assert cli.main(["models", "--artifacts", str(root)]) == 0
    listing = capsys.readouterr().out
    assert version_dir.name in listing and listing.count("*") == 1
    assert cli.main(["rollback", version_dir.name, "--artifacts", str(root)]) == 0
    assert load_artifacts(root).n_clusters == 4
    assert cli.main(["rollback", "20990101T000000Z-0", "--artifacts", str(root)]) == 2
    assert "No model version '20990101T000000Z-0'" in capsys.readouterr().err


def test_the_next_save_removes_what_a_killed_save_left_and_keeps_a_running_ones(tmp_path, sample_data):
    """A train killed mid-save leaves a hidden staging folder (with a 0-byte pipeline) and a
    pointer temp file; the next save removes them, but not those of a save running now."""
    import os
    import time

    folder = tmp_path / "artifacts"
    save_artifacts(SegmentationModel(n_clusters=3).fit(sample_data.customers), folder, sample_data.training_info())
    old_stage = folder / "versions" / ".new-killed"
    old_stage.mkdir()
    (old_stage / "pipeline.joblib").write_bytes(b"")
    old_pointer = folder / ".CURRENT.abc123.tmp"
    old_pointer.write_text("20990101T000000000Z-deadbeef\n")
    long_ago = time.time() - 2 * 3600
    for path in (old_stage / "pipeline.joblib", old_stage, old_pointer):
        os.utime(path, (long_ago, long_ago))
    running = folder / "versions" / ".new-running"
    running.mkdir()
    model = SegmentationModel(n_clusters=3).fit(sample_data.customers)
    card = save_artifacts(model, folder, sample_data.training_info())
    assert not old_stage.exists() and not old_pointer.exists()
    assert running.exists()  # another save may be writing it right now
    assert load_artifacts(folder).segment_names_ == model.segment_names_
    assert card.parent.name in {p.name for p in (folder / "versions").iterdir()}
