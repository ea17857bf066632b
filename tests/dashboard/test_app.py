"""segkit.dashboard.app: the whole page (``Dashboard``, ``build_app``) driven from Python."""
from __future__ import annotations

import io

import pandas as pd
import pytest
from dashboard_checks import VIEWER

from segkit.pipeline.workflow import train_model


def test_dashboard_opens_a_link_and_writes_the_url(sample_data, tmp_path):
    from segkit.dashboard import Dashboard

    dash = Dashboard(sample_data, artifacts=tmp_path, settings=VIEWER, query="country=France&theme=dark")
    assert dash.state.filters.country == ("France",) and dash.state.theme == "dark"
    assert "France" in dash.table.table.value and "United Kingdom" not in dash.table.table.value
    assert dash.bridge.query == "country=France&theme=dark"
    dash.filters.country_filter.value = ("Germany",)
    assert dash.bridge.query == "country=Germany&theme=dark"
    # A pre-heated page learns the visitor's link when the browser shows it.
    dash.bridge.initial = "segment=" + dash.state.segment_names[0]
    dash.bridge.opened += 1
    assert dash.state.filters.segments == (dash.state.segment_names[0],) and dash.state.filters.country == ()


def test_a_page_built_before_a_save_takes_the_new_model_when_opened(sample_data, tmp_path):
    """The pre-heated kernel's page was built before someone saved: shown, it reloads."""
    from segkit.dashboard import Dashboard
    from segkit.pipeline.artifacts import save_artifacts

    old, _ = train_model(sample_data, 4)
    save_artifacts(old, tmp_path, sample_data.training_info())
    page = Dashboard(sample_data, artifacts=tmp_path, settings=VIEWER, query="")
    assert page.state.model.n_clusters == 4
    new, _ = train_model(sample_data, 3)
    import time

    time.sleep(1.1)  # model.json records the time to the second
    save_artifacts(new, tmp_path, sample_data.training_info())
    page.bridge.opened += 1
    assert page.state.model.n_clusters == 3 and page.state.saved
    assert "Using the saved model" in page.model.card_html.value and "now uses the model saved" in page.state.notice
    assert list(page.filters.segment_filter.options) == page.state.segment_names


@pytest.mark.slow
def test_dashboard_on_an_out_of_core_customer_table(tmp_path, monkeypatch):
    """``load_customer_data(path, engine="duckdb")`` (no lines in memory) gives a page."""
    from segkit.dashboard import Dashboard
    from segkit.ingest.sample import write_large_log
    from segkit.pipeline.workflow import load_customer_data

    log = write_large_log(tmp_path / "log.parquet", 20_000, seed=2)
    data = load_customer_data(log, engine="duckdb")
    assert data.lines is None
    dash = Dashboard(data, artifacts=tmp_path / "artifacts", settings=VIEWER, query="")
    assert dash.filters.date_start.disabled and dash.filters.category_filter.disabled
    assert "out of core" in dash.filters.widget.children[-2].value
    dash.filters.country_filter.value = (dash.filters.country_filter.options[0],)
    assert dash.state.message == "" and len(dash.state.selection) < len(data.customers)


def test_build_app_reports_a_bad_file(tmp_path):
    from segkit.dashboard import build_app

    bad = tmp_path / "sales.csv"
    bad.write_text("Date,Amount\n2011-01-01,3\n")
    page = build_app(bad, artifacts=tmp_path)
    assert "seg-error" in page.value and "sales.csv" in page.value


@pytest.mark.slow
def test_large_parquet_logs_are_aggregated_out_of_core(tmp_path, monkeypatch):
    from segkit.dashboard import Dashboard, OutOfCoreData, load_dashboard_data
    from segkit.ingest.sample import write_large_log

    log = write_large_log(tmp_path / "log.parquet", 60_000, seed=3)
    monkeypatch.setenv("SEGKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SEGKIT_LARGE_LOG_LINES", "50000")
    data = load_dashboard_data(log)
    assert isinstance(data, OutOfCoreData) and data.n_lines == 60_000
    assert list((tmp_path / "cache").glob("customers-log-*.parquet"))
    from segkit.pipeline.workflow import load_customer_data

    in_memory = load_customer_data(log).customers
    assert len(data.customers) == len(in_memory) and data.period[1] == in_memory["LastPurchase"].max()
    dash = Dashboard(data, artifacts=tmp_path / "artifacts", settings=VIEWER, query="")
    # computed by DuckDB over the file (tests/test_dashboard_large_log.py)
    assert not dash.filters.date_start.disabled and not dash.filters.category_filter.disabled
    before = dash.segments.summary.value
    dash.filters.country_filter.value = (dash.filters.country_filter.options[0],)
    assert dash.state.message == "" and dash.segments.summary.value != before
    import segkit.dashboard.table

    monkeypatch.setattr(segkit.dashboard.table, "EAGER_DOWNLOAD_ROWS", 100)  # the "Prepare CSV" path
    table = dash.table
    dash.filters.country_filter.value = ()
    assert table.download.value == "" and table.prepare_download.layout.display == "" and not table.big_download.content
    table.prepare_download.click()
    downloaded = pd.read_csv(io.BytesIO(table.big_download.content), dtype={"Customer": str})
    assert table.big_download.rows == len(downloaded) == len(data.customers)
    assert downloaded["Customer"].tolist() == table.customer_rows["Customer"].astype(str).tolist()
    assert table.big_download.filename == "segments.csv"


@pytest.mark.real_data
def test_real_data_dashboard(real_data, tmp_path):
    from segkit.dashboard import Dashboard

    dash = Dashboard(real_data, artifacts=tmp_path, settings=VIEWER, query="")
    assert not dash.state.saved and dash.header.banner.value == ""
    before = dash.segments.summary.value
    dash.filters.category_filter.value = "Bags"
    assert dash.state.message == "" and dash.segments.summary.value != before
    shown = dash.state.selection.shown
    assert (shown["Segment"] == dash.state.everyone.loc[shown.index, "Segment"]).all()


@pytest.mark.slow
def test_page_uses_the_saved_models_window_features_and_value(tmp_path):
    """A model trained on a 365-day window with a registered feature and lifetime value is
    used as saved: the page computes the same features, and shows confidence and value."""
    from segkit.dashboard import Dashboard
    from segkit.pipeline.artifacts import save_artifacts
    from segkit.pipeline.workflow import load_customer_data, train_model
    from segkit.views.tables import customers_as_shown

    data = load_customer_data(None, window_days=365, extra_features=["ChristmasShare"])
    model, _ = train_model(data, k=3, extra_features=["ChristmasShare"])
    model.clv_params_ = {"bgnbd": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},
                         "gamma_gamma": {"p": 6.25, "q": 3.74, "v": 15.44}, "time_unit": "D"}
    save_artifacts(model, tmp_path, data.training_info())
    state = Dashboard(None, tmp_path).state
    assert state.saved, state.status
    everyone = state.everyone
    assert (everyone["Segment"] == model.segment(data.customers)["Segment"].reindex(everyone.index)).all()
    table = customers_as_shown(everyone)
    assert {"Confidence", "PAlive", "CLV"} <= set(table.columns)
    assert table["PAlive"].between(0, 1).all() and (table["CLV"] >= 0).all()


@pytest.mark.slow
def test_rfm_view_travels_in_the_link_and_the_header_says_which_segments(sample_data, tmp_path):
    """``?segmentation=rfm&segment=...`` opens the RFM view with that RFM segment; the URL
    and the header follow the switch."""
    from segkit.dashboard import Dashboard

    plain = Dashboard(sample_data, artifacts=tmp_path, settings=VIEWER, query="segmentation=rfm")
    name = plain.state.segment_names[0]
    dash = Dashboard(sample_data, artifacts=tmp_path, settings=VIEWER, query=f"segmentation=rfm&segment={name}")
    assert dash.state.segmentation == "rfm" and dash.state.filters.segments == (name,)
    assert "RFM rule segments" in dash.header.model_line.value
    assert dash.bridge.query.startswith("segmentation=rfm&segment=")
    dash.state.segmentation = "model"
    assert "segmentation" not in dash.bridge.query and "groups of customers from the model" in dash.header.model_line.value
    odd = Dashboard(sample_data, artifacts=tmp_path, settings=VIEWER, query="segmentation=clusters")
    assert odd.state.segmentation == "model" and "segmentation 'clusters'" in odd.state.notice


@pytest.mark.slow
def test_a_large_log_page_uses_the_saved_models_window_and_features(tmp_path, monkeypatch):
    """A log aggregated out of core (over the large-log threshold) gets the saved model's
    observation window and registered features, as a log in memory does: the same customer
    table, so the model scores what it was trained on."""
    from segkit.dashboard import Dashboard, OutOfCoreData, load_dashboard_data
    from segkit.ingest.sample import write_large_log
    from segkit.pipeline.artifacts import save_artifacts
    from segkit.pipeline.workflow import load_customer_data, train_model

    log = write_large_log(tmp_path / "log.parquet", 60_000, seed=3)
    monkeypatch.setenv("SEGKIT_CACHE", str(tmp_path / "cache"))
    in_memory = load_customer_data(log, window_days=120, extra_features=["ChristmasShare"])
    model, _ = train_model(in_memory, k=3, extra_features=["ChristmasShare"])
    save_artifacts(model, tmp_path / "artifacts", in_memory.training_info())
    monkeypatch.setenv("SEGKIT_LARGE_LOG_LINES", "50000")
    large = load_dashboard_data(log, tmp_path / "artifacts")
    assert isinstance(large, OutOfCoreData) and large.window_days == 120
    assert "ChristmasShare" in large.customers.columns
    pd.testing.assert_frame_equal(large.customers, in_memory.customers, check_exact=False, rtol=1e-9,
                                  check_index_type=False, check_dtype=False)  # text ids: str or string
    state = Dashboard(large, tmp_path / "artifacts", settings=VIEWER, query="").state
    assert state.saved, state.status
    expected = model.segment(in_memory.customers)["Segment"]
    assert (state.everyone["Segment"] == expected.reindex(state.everyone.index)).all()


@pytest.mark.parametrize("large", [False, True])
@pytest.mark.slow
def test_the_page_cleans_as_the_saved_model_was_trained(tmp_path, monkeypatch, large):
    """A model trained on seed-cleaned lines is shown customers cleaned with the seed rules,
    in memory and out of core (the header names them), not the default rules' customers."""
    from segkit.dashboard import Dashboard, load_dashboard_data
    from segkit.ingest.sample import write_large_log
    from segkit.pipeline.artifacts import save_artifacts
    from segkit.pipeline.workflow import load_customer_data, train_model

    log = write_large_log(tmp_path / "log.parquet", 60_000, seed=3)
    monkeypatch.setenv("SEGKIT_CACHE", str(tmp_path / "cache"))
    seed = load_customer_data(log, rules="seed")
    model, _ = train_model(seed, k=3)
    save_artifacts(model, tmp_path / "artifacts", seed.training_info())
    if large:
        monkeypatch.setenv("SEGKIT_LARGE_LOG_LINES", "50000")
    data = load_dashboard_data(log, tmp_path / "artifacts")
    assert data.rules == "seed"
    pd.testing.assert_frame_equal(data.customers, seed.customers, check_exact=False, rtol=1e-9,
                                  check_index_type=False, check_dtype=False)
    default = load_customer_data(log).customers  # the rules matter on this log
    assert round(seed.customers["TotalSpend"].sum(), 2) != round(default["TotalSpend"].sum(), 2)
    dash = Dashboard(data, tmp_path / "artifacts", settings=VIEWER, query="")
    assert "cleaning rules 'seed'" in dash.header.source.value
