"""segkit.page.data: the page computes its customers as the saved model was trained (rules, window),
read from the model's card alone."""
from __future__ import annotations

from segkit.page.data import holds_lines, load_dashboard_data, saved_model_options
from segkit.pipeline.artifacts import MODEL_CARD, current_version_dir, save_artifacts
from segkit.pipeline.workflow import load_customer_data, train_model


def test_the_page_takes_the_saved_models_rules_and_window_and_defaults_without_a_readable_card(tmp_path, sample_log):
    data = load_customer_data(sample_log, rules="seed", window_days=180)
    model, _ = train_model(data, k=3)
    save_artifacts(model, tmp_path / "model", data.training_info())
    assert saved_model_options(tmp_path / "model") == {"rules": "seed", "window_days": 180}

    (current_version_dir(tmp_path / "model") / MODEL_CARD).write_text("{ cut off")
    assert saved_model_options(tmp_path / "model") == {}
    assert saved_model_options(None) == {}


def test_loaded_data_is_shown_as_it_is_and_holds_its_lines(sample_data):
    assert load_dashboard_data(sample_data) is sample_data
    assert holds_lines(sample_data)
