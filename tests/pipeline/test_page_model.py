"""The model a page shows, chosen, refitted and saved by the pipeline (the dashboard's
state only calls these)."""
from __future__ import annotations

import time

import numpy as np
import pytest

from segkit.pipeline.artifacts import read_model_card, save_artifacts
from segkit.pipeline.page_model import newer_saved_card, retrained, save_model, saved_card_for
from segkit.pipeline.workflow import load_customer_data, train_model


@pytest.fixture(scope="module")
def model(sample_data):
    return train_model(sample_data, 4)[0]


def test_the_saved_card_serves_only_the_data_it_was_trained_on(sample_data, model, tmp_path):
    card, reason = saved_card_for(sample_data, tmp_path / "none")
    assert card is None and reason and not reason.endswith(".")
    save_artifacts(model, tmp_path, sample_data.training_info())
    card, reason = saved_card_for(sample_data, tmp_path)
    assert reason == "" and card == read_model_card(tmp_path)
    other = load_customer_data(sample_data.lines.head(5000), use_cache=False)
    card, reason = saved_card_for(other, tmp_path)
    assert card is None and f"the saved model in {tmp_path} was trained on other data" in reason


def test_a_refit_keeps_features_and_settings_and_changes_only_k(sample_data, model):
    again = retrained(model, sample_data.customers, 3)
    assert again is not model and model.n_clusters == 4 and again.n_clusters == 3
    assert tuple(again.features) == tuple(model.features) and again.log_transform == model.log_transform
    fresh = train_model(sample_data, 3)[0]  # the same settings fitted from scratch
    np.testing.assert_allclose(again.cluster_centres_, fresh.cluster_centres_)


def test_saving_returns_the_card_and_only_a_newer_save_is_news(sample_data, model, tmp_path):
    card = save_model(model, tmp_path, sample_data)
    assert card == read_model_card(tmp_path) and card["k"] == 4
    assert newer_saved_card(tmp_path, sample_data, card) is None  # the page shows it already
    assert newer_saved_card(tmp_path, sample_data, None) == card  # a page showing a model of its own
    time.sleep(1.1)  # model.json records the time to the second
    newer = save_model(retrained(model, sample_data.customers, 3), tmp_path, sample_data)
    assert newer_saved_card(tmp_path, sample_data, card) == newer and newer["k"] == 3
    assert newer_saved_card(tmp_path / "none", sample_data, card) is None
