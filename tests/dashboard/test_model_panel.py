"""segkit.dashboard.model_panel: "About the model" for viewers; retrain, recommend K and save (after confirming) for analysts."""
from __future__ import annotations

import pytest
from dashboard_checks import ANALYST, VIEWER, count_rows

from segkit.pipeline.workflow import train_model


def test_viewers_cannot_retrain_or_save(sample_data, tmp_path):
    from segkit.dashboard import Dashboard
    from segkit.errors import SegkitError

    dash = Dashboard(sample_data, artifacts=tmp_path, settings=VIEWER, query="")
    assert not hasattr(dash.model, "retrain_button") and "seg-retrain" not in dash.model.widget._dom_classes
    assert "About the model" in dash.model.about.children[0].value and "silhouette" in dash.model.card_html.value
    with pytest.raises(SegkitError, match="analyst mode"):
        dash.state.save()


def test_analyst_retrains_with_the_models_own_features_then_saves_after_confirming(dashboard, tmp_path, sample_data):
    from segkit.dashboard import Dashboard
    from segkit.pipeline.artifacts import read_model_card
    from segkit.pipeline.workflow import model_fits_data

    panel = dashboard.model
    assert not dashboard.state.saved and "not the saved model" in panel.card_html.value
    assert "Recommended K" in panel.k_view.value
    panel.evaluate_button.click()
    assert "Recommended K" in panel.retrain_status.value
    panel.k_choice.value = 3
    panel.retrain_button.click()
    state = dashboard.state
    assert state.model.n_clusters == 3 and "Retrained with K = 3" in panel.retrain_status.value
    n_segments = 3 + (3 if state.model.lifecycle is not None else 0)  # value tiers and lifecycle stages
    assert len(state.segment_names) == n_segments == len(dashboard.filters.segment_filter.options)
    assert count_rows(dashboard.segments.summary.value) == len(state.selection.summary)
    panel.save_button.click()  # asks first
    assert panel.confirm.layout.display == "" and not (tmp_path / "artifacts" / "model.json").exists()
    panel.cancel_save.click()
    assert panel.confirm.layout.display == "none"
    panel.save_button.click()
    panel.confirm_save.click()
    card = read_model_card(tmp_path / "artifacts")
    assert model_fits_data(card, sample_data) and card["k"] == 3
    assert state.saved and panel.save_button.layout.display == "none"
    again = Dashboard(sample_data, artifacts=tmp_path / "artifacts", settings=VIEWER, query="")
    assert again.state.saved and again.state.model.n_clusters == 3
    assert "Using the saved model" in again.model.card_html.value and "seg-error" not in again.header.message.value


def test_seed_preset_model_is_retrained_with_its_own_features(sample_data, tmp_path):
    from segkit.dashboard import Dashboard
    from segkit.pipeline.artifacts import save_artifacts

    seed, _ = train_model(sample_data, 4, preset="seed")
    save_artifacts(seed, tmp_path, sample_data.training_info())
    dash = Dashboard(sample_data, artifacts=tmp_path, settings=ANALYST, query="")
    dash.model.k_choice.value = 3
    dash.model.retrain_button.click()
    model = dash.state.model
    assert tuple(model.features) == tuple(seed.features) and model.log_transform == seed.log_transform
    assert model.n_clusters == 3

