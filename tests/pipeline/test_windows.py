"""Observation windows and registered features flow through train, score and the CLI;
scoring a log shorter than the model's window is refused or warned about."""
from __future__ import annotations

import pandas as pd
import pytest

from segkit import cli
from segkit.errors import SegkitDataError
from segkit.features.customers import customer_features
from segkit.pipeline.artifacts import load_artifacts
from segkit.pipeline.workflow import (
    customers_for_scoring,
    load_customer_data,
    train_model,
)
from segkit.rules.registry import register_feature


@pytest.fixture(scope="module")
def logs(tmp_path_factory, sample_log):
    folder = tmp_path_factory.mktemp("logs")
    full, six_weeks = folder / "full.csv", folder / "six_weeks.csv"
    sample_log.to_csv(full, index=False)
    end = sample_log["InvoiceDate"].max()
    sample_log[sample_log["InvoiceDate"] >= end - pd.Timedelta(days=42)].to_csv(six_weeks, index=False)
    return full, six_weeks


def test_window_counts_purchases_inside_and_keeps_calendar_facts(sample_data):
    lines = sample_data.lines
    whole = sample_data.customers
    windowed = customer_features(lines, window_days=180)
    snapshot = whole["LastPurchase"].max().normalize() + pd.Timedelta(days=1)
    inside = lines[lines["InvoiceDate"] >= snapshot - pd.Timedelta(days=180)]
    assert windowed["TotalSpend"].sum() == pytest.approx((inside["Quantity"] * inside["UnitPrice"]).sum(), rel=1e-9)
    # Dates are facts of the calendar: the same as over the whole log, for every customer.
    pd.testing.assert_series_equal(windowed["Recency"], whole["Recency"])
    pd.testing.assert_series_equal(windowed["Tenure"], whole["Tenure"])
    silent = windowed["Recency"] >= 180
    assert (windowed.loc[silent, "NumPurchases"] == 0).all() and silent.any()


@pytest.mark.slow
def test_cli_window_and_feature_are_recorded_and_used_when_scoring(tmp_path, logs, capsys):
    full, six_weeks = logs
    artifacts, out = tmp_path / "model", tmp_path / "scored.csv"
    assert cli.main(["train", "--data", str(full), "--artifacts", str(artifacts), "--k", "3",
                     "--window-days", "180", "--feature", "ChristmasShare"]) == 0
    model = load_artifacts(artifacts)
    assert model.card_["training_data"]["window_days"] == 180
    assert list(model.cluster_features_) == ["NumPurchases", "TotalSpend", "ChristmasShare"]
    assert model.card_["transforms"]["ChristmasShare"] == "identity"
    assert cli.main(["score", "--data", str(full), "--artifacts", str(artifacts), "--out", str(out)]) == 0
    scored = pd.read_csv(out, dtype={"CustomerID": str}).set_index("CustomerID")
    data = load_customer_data(full, window_days=180, extra_features=["ChristmasShare"])
    assert scored["ChristmasShare"].round(6).equals(data.customers["ChristmasShare"].round(6).reindex(scored.index))
    capsys.readouterr()
    # Six weeks cannot fill a 180-day window: refused in one line, or scored with a warning.
    assert cli.main(["score", "--data", str(six_weeks), "--artifacts", str(artifacts), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "covers 43 days" in err and "180-day observation window" in err and len(err.strip().splitlines()) == 1
    assert cli.main(["score", "--data", str(six_weeks), "--artifacts", str(artifacts), "--out", str(out),
                     "--allow-short-window"]) == 0
    assert "warning" in capsys.readouterr().err


def test_whole_period_model_refuses_a_much_shorter_log(logs, sample_data):
    full, six_weeks = logs
    model, _ = train_model(sample_data, k=3)
    with pytest.raises(SegkitDataError, match="374 days of purchases"):
        customers_for_scoring(six_weeks, model)
    notes = []
    customers = customers_for_scoring(six_weeks, model, allow_short_window=True, notes=notes)
    assert len(customers) > 0 and "Scored anyway" in notes[0]
    assert len(customers_for_scoring(full, model)) == len(sample_data.customers)


def test_window_shorter_than_at_risk_threshold_is_refused(logs):
    full, _ = logs
    with pytest.raises(SegkitDataError, match="shorter than the At-risk threshold"):
        train_model(load_customer_data(full, window_days=30), k=3)


def test_a_registered_feature_of_your_own_reaches_the_model(sample_data):
    @register_feature("WeekendShare", transform="identity")
    def weekend_share(lines):
        spend = lines["Quantity"] * lines["UnitPrice"]
        weekend = spend.where(lines["InvoiceDate"].dt.day_of_week >= 5, 0.0)
        return weekend.groupby(lines["CustomerID"]).sum() / spend.groupby(lines["CustomerID"]).sum()

    data = load_customer_data(sample_data.transactions, extra_features=["WeekendShare"])
    assert data.customers["WeekendShare"].between(0, 1).all()
    model, _ = train_model(data, k=3, extra_features=["WeekendShare"])
    assert "WeekendShare" in model.cluster_features_
    with pytest.raises(SegkitDataError, match="No feature named Nope; registered features: "):
        load_customer_data(sample_data.transactions, extra_features=["Nope"])
