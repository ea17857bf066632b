"""What segments are worth and how they move, on the page without a browser:
value KPIs and summary, the "value over time" panel, the RFM switch, the campaign CSV and
the P(alive) note. Lifetime value comes from fixed parameters (no fitting here).
"""
from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from segkit.config import Settings
from segkit.modeling.label import (
    RFM_LABELS,
    RFM_ORDER,
    rfm_scores,
    rfm_segmented,
    segment_crosstab,
)
from segkit.pipeline.workflow import train_model
from segkit.views import tables as views
from segkit.views.tables import Filters

#: Published BG/NBD (CDNOW) and Gamma-Gamma estimates: plausible values, no fitting needed.
CLV_PARAMS = {"bgnbd": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},
              "gamma_gamma": {"p": 6.25, "q": 3.74, "v": 15.44}, "time_unit": "D"}
VIEWER = Settings(currency="£", analyst=False)


@pytest.fixture(scope="module")
def plain_model(sample_data):
    model, _ = train_model(sample_data, 5)
    return model


@pytest.fixture(scope="module")
def value_model(sample_data):
    model, _ = train_model(sample_data, 5)
    model.clv_params_ = CLV_PARAMS
    return model


@pytest.fixture(scope="module")
def dashboard(sample_data, value_model, tmp_path_factory):
    """A page over the sample whose saved model carries lifetime value."""
    from segkit.dashboard import Dashboard
    from segkit.pipeline.artifacts import save_artifacts

    artifacts = tmp_path_factory.mktemp("value-artifacts")
    save_artifacts(value_model, artifacts, sample_data.training_info())
    page = Dashboard(sample_data, artifacts, settings=VIEWER, query="")
    assert page.state.saved, page.state.status
    return page


@pytest.fixture()
def page(dashboard):
    state = dashboard.state
    state.segmentation = "model"
    state.filters = Filters()
    state.message = state.notice = ""
    dashboard.value.accordion.selected_index = None
    return dashboard


def _state(sample_data, model, tmp_path):
    from segkit.dashboard.state import DashboardState, ModelStatus

    card = views.provisional_card(model, sample_data.training_info())
    return DashboardState(sample_data, model, card, ModelStatus(False, "Not saved: test model."), tmp_path, VIEWER)


# ------------------------------------------------------------------ 1. KPIs

def test_kpis_show_the_value_of_the_customers_shown(page):
    state, header = page.state, page.header
    shown = state.selection.shown
    assert {"PAlive", "ExpectedPurchases90d", "CLV"} <= set(shown.columns)
    numbers = views.kpis(shown, state.selection.period)
    assert numbers["TotalCLV"] == pytest.approx(shown["CLV"].sum())
    assert numbers["ExpectedPurchases90d"] == pytest.approx(shown["ExpectedPurchases90d"].sum())
    assert "Lifetime value, next 12 months" in header.kpis.value
    assert f"£{shown['CLV'].sum():,.0f}" in header.kpis.value
    state.filters = Filters(country="Germany")
    germany = state.selection.shown
    assert f"£{germany['CLV'].sum():,.0f}" in header.kpis.value
    assert "not available" not in header.kpis.value


def test_kpis_say_plainly_when_the_model_has_no_value(sample_data, plain_model, tmp_path):
    from segkit.dashboard.header import HeaderPanel

    state = _state(sample_data, plain_model, tmp_path)
    assert "CLV" not in state.selection.shown.columns
    header = HeaderPanel(state)
    assert "Lifetime value is not available for this model." in header.kpis.value
    assert "Lifetime value, next" not in header.kpis.value and "train" not in header.kpis.value.lower()


# ------------------------------------------------------------------ 2. summary

def test_summary_has_clv_per_segment_and_the_value_at_stake(page):
    from segkit.dashboard.segments import value_at_stake

    state = page.state
    summary = state.selection.summary
    shown = state.selection.shown
    assert {"SumCLV", "AvgCLV"} <= set(summary.columns)
    by_segment = shown.groupby("Segment")["CLV"].agg(["sum", "mean"])
    for _, row in summary.iterrows():
        assert row["SumCLV"] == pytest.approx(by_segment.loc[row["Segment"], "sum"])
        assert row["AvgCLV"] == pytest.approx(by_segment.loc[row["Segment"], "mean"])
    assert "Lifetime value, 12 months (£)" in page.segments.summary.value
    sentence = value_at_stake(summary, "£")
    at_risk = shown[shown["Segment"] == "At risk"]
    assert len(at_risk) > 0
    assert f"At risk: {len(at_risk):,} customers worth £{at_risk['CLV'].sum():,.0f}" in sentence
    assert "Lost:" in sentence and sentence in page.segments.at_stake.value.replace("&#x27;", "'")
    state.filters = Filters(segments=("VIP",))
    assert page.segments.at_stake.value == ""  # neither At risk nor Lost shown


def test_summary_without_value_keeps_its_columns(sample_data, plain_model):
    segmented = views.segment_customers(plain_model, sample_data.customers)
    assert list(views.segment_summary(segmented).columns) == views.SUMMARY_COLUMNS


# ------------------------------------------------------------------ 3. value over time

def test_value_panel_draws_nothing_until_a_section_is_opened(page):
    value = page.value
    assert value.accordion.selected_index is None
    page.state.filters = Filters(country="France")
    assert not value.drawn


def test_cohorts_follow_the_country_and_segment_filters(page, sample_data):
    from segkit.value.movement import cohort_retention

    state, value = page.state, page.value
    value.accordion.selected_index = 0
    assert 0 in value.drawn and value.charts and not state.message
    state.filters = Filters(country="Germany", segments=("VIP", "Loyal"), spend_min=100.0)
    shown = state.everyone[(state.everyone["Country"] == "Germany") & state.everyone["Segment"].isin(["VIP", "Loyal"])]
    lines = sample_data.lines[sample_data.lines["CustomerID"].astype(str).isin(shown.index.astype(str))]
    expected = cohort_retention(lines)
    pd.testing.assert_frame_equal(value.cohorts(), expected)
    figure = value.charts_by_section[0].widget
    assert figure.data[0].type == "heatmap"
    value.cohort_value.value = "Revenue"
    assert "Revenue" in figure.layout.title.text


def test_trend_is_revenue_and_customers_per_segment(page, sample_data):
    state, value = page.state, page.value
    value.accordion.selected_index = 1
    trend = value.trend()
    assert trend["Revenue"].sum() == pytest.approx(sample_data.lines["TotalPrice"].sum())
    names = {t.name for t in value.charts_by_section[1].widget.data}
    assert names == set(state.segment_names) & set(trend["Segment"])
    value.trend_measure.value = "Customers"
    assert "Customers" in value.charts_by_section[1].widget.layout.title.text


@pytest.mark.slow
def test_migration_applies_the_saved_model_at_the_cut_off(page, sample_data, value_model):
    """Both sides of the migration count the same number of days: the history before the
    cut-off, and as many days before the page's snapshot."""
    from segkit.features.customers import customer_features
    from segkit.schema import snapshot_date_for

    state, value = page.state, page.value
    value.accordion.selected_index = 2
    cutoff = pd.Timestamp(value.cutoff.value)
    lines = sample_data.lines
    days = (cutoff - lines["InvoiceDate"].min().normalize()).days
    before = lines[lines["InvoiceDate"] < cutoff]
    then = value_model.segment(customer_features(before, snapshot_date=cutoff))["Segment"]
    now_day = snapshot_date_for(lines["InvoiceDate"].max())
    now = value_model.segment(customer_features(lines, snapshot_date=now_day, window_days=days))["Segment"]
    table = value.migration()
    assert int(table.to_numpy().sum()) == len(state.everyone)
    assert int(table.drop(index="(new since cut-off)", errors="ignore").to_numpy().sum()) == len(then)
    for name, count in then.value_counts().items():
        assert int(table.loc[name].sum()) == count
    for name, count in now.value_counts().items():
        assert int(table[name].sum()) == count
    assert f"Both sides count {days:,} days" in value.migration_note.value
    sankey = value.charts_by_section[2].widget.data[0]
    assert sankey.type == "sankey" and sum(sankey.link.value) == len(state.everyone)
    assert "seg-migration-table" in value.migration_table.value
    downloaded = pd.read_csv(io.BytesIO(value.migration_download.content))
    assert downloaded.shape[0] == len(table)
    assert value.migration_download.filename == f"segments_migration-since-{cutoff.date()}.csv"
    # Another cut-off, another Sankey.
    links = list(sankey.link.value)
    value.cutoff.value = value.cutoff.options[0][1]
    assert list(value.charts_by_section[2].widget.data[0].link.value) != links
    # The country filter narrows it, and names the download.
    state.filters = Filters(country="France")
    assert int(value.migration().to_numpy().sum()) == int((state.everyone["Country"] == "France").sum())
    assert value.migration_download.filename.startswith("segments_France_migration-since-")


@pytest.mark.slow
def test_value_sections_say_so_without_the_lines(tmp_path, monkeypatch):
    """A log aggregated out of core has no lines: the sections say why instead of drawing."""
    from segkit.dashboard import Dashboard
    from segkit.ingest.sample import generate_sample_transactions
    from segkit.page.data import LARGE_LOG_ENV

    path = tmp_path / "log.parquet"
    generate_sample_transactions().to_parquet(path)
    monkeypatch.setenv(LARGE_LOG_ENV, "1")
    page = Dashboard(path, tmp_path / "artifacts", settings=VIEWER, query="")
    assert page.value.lines is None
    for index, box in ((0, page.value.cohort_box), (1, page.value.trend_box), (2, page.value.migration_box)):
        page.value.accordion.selected_index = index
        assert "not held in memory" in box.children[0].value
    assert not page.value.charts and not page.state.message


def test_value_charts_follow_the_theme(page):
    value = page.value
    value.accordion.selected_index = 0
    chart = value.charts_by_section[0].widget
    import plotly.io as pio

    page.state.theme = "dark"
    assert chart.layout.template.layout.paper_bgcolor == pio.templates["plotly_dark"].layout.paper_bgcolor
    page.state.theme = "light"
    assert chart.layout.template.layout.paper_bgcolor == pio.templates["plotly_white"].layout.paper_bgcolor


# ------------------------------------------------------------------ 4. RFM switch

def test_rfm_segmented_keeps_the_model_segment(sample_data, plain_model):
    segmented = views.segment_customers(plain_model, sample_data.customers)
    rfm = rfm_segmented(segmented)
    assert (rfm["ModelSegment"] == segmented["Segment"].astype("string")).all()
    assert (rfm["Segment"] == "RFM: " + rfm_scores(segmented)["RFM_Segment"]).all()
    assert set(rfm["Segment"]) <= set(RFM_LABELS) and len(set(RFM_ORDER)) == len(RFM_ORDER) == 11
    assert (rfm["Cluster"].map(dict(enumerate(RFM_LABELS))) == rfm["Segment"]).all()
    table = segment_crosstab(rfm["ModelSegment"], rfm["Segment"])
    assert table.loc["Total", "Total"] == len(segmented)
    assert list(table.columns[:-1]) == [c for c in RFM_LABELS if c in set(rfm["Segment"])]
    # the same cross-tab from the plain RFM names (as the model view builds it)
    assert table.equals(segment_crosstab(rfm["ModelSegment"], rfm_scores(segmented)["RFM_Segment"]))


@pytest.mark.slow
def test_rfm_switch_changes_every_panel(page):
    state = page.state
    model_names = state.segment_names
    state.filters = Filters(segments=(model_names[0],), country="United Kingdom")
    page.segments.segmentation.value = "rfm"  # the switch on the page
    assert state.segmentation == "rfm"
    assert state.filters.segments is None and state.filters.country == ("United Kingdom",)  # other names: all segments
    rfm_names = state.segment_names
    assert set(rfm_names) <= set(RFM_LABELS) and "RFM: Champions" in rfm_names
    assert not set(rfm_names) & set(model_names)  # never the model's names
    assert list(page.filters.segment_filter.options) == rfm_names
    assert "RFM: Champions" in page.segments.summary.value and "RFM: Champions" in page.segments.glossary.value
    assert "VIP" not in page.segments.summary.value
    assert set(page.compare.compare_a.options) == set(rfm_names)
    assert {t.name for t in page.scatter.chart.widget.data if t.x is not None and len(t.x)} <= set(rfm_names)
    # Filters, table and downloads work on the RFM segments.
    state.filters = replace(state.filters, segments=("RFM: Champions",))
    shown = state.selection.shown
    assert len(shown) > 0 and set(shown["Segment"]) == {"RFM: Champions"}
    assert page.table.n_rows == len(shown)
    assert set(page.table.customer_rows["Segment"]) == {"RFM: Champions"}
    page.table.export_campaign()
    campaign = pd.read_csv(io.BytesIO(page.table.campaign_download.content), dtype={"Customer ID": str})
    assert set(campaign["Segment"]) == {"RFM: Champions"} and "Model segment" in campaign.columns
    assert page.table.campaign_download.filename == "campaign_RFM-Champions_United-Kingdom_rfm.csv"
    # The cross-tab of the two.
    page.value.accordion.selected_index = 3
    assert "seg-crosstab-table" in page.value.crosstab.value and "RFM: Champions" in page.value.crosstab.value
    assert "Model segment ↓ / RFM segment →" in page.value.crosstab.value
    assert "is not \u201cRFM: At risk\u201d" in page.value.crosstab.value  # says which is which
    table = page.value.crosstab_table()
    assert list(table.columns) == ["RFM: Champions", "Total"]
    assert table.loc["Total", "Total"] == len(shown)
    # And back.
    state.segmentation = "model"
    assert page.segments.segmentation.value == "model" and state.segment_names == model_names
    assert "VIP" in page.segments.summary.value


def test_rfm_migration_uses_rfm_segments_at_the_cut_off(page):
    state, value = page.state, page.value
    state.segmentation = "rfm"
    value.accordion.selected_index = 2
    table = value.migration()
    assert set(table.columns) <= set(RFM_LABELS)
    assert set(table.index) <= set(RFM_LABELS) | {"(new since cut-off)"}
    # best segment first, as the model's segments are (not by name: "About to sleep" first)
    rows = [r for r in table.index if r != "(new since cut-off)"]
    assert rows == [n for n in RFM_LABELS if n in rows] and len(rows) > 3
    assert list(table.columns) == [n for n in RFM_LABELS if n in table.columns]
    assert "RFM rule segments of" in value.migration_note.value
    assert value.migration_download.filename.endswith(f"_rfm_migration-since-{value.cutoff.value}.csv")


def test_migration_order_is_given_or_the_models_reading_order():
    from segkit.value.movement import migration_table

    before = pd.Series({"1": "Lost", "2": "Champions", "3": "About to sleep"})
    after = pd.Series({"1": "Champions", "2": "Lost", "3": "About to sleep", "4": "New"})
    table = migration_table(before, after, order=RFM_ORDER)
    assert list(table.index) == ["Champions", "About to sleep", "Lost", "(new since cut-off)"]
    assert list(table.columns) == ["Champions", "New", "About to sleep", "Lost"]


def test_segments_at_the_cut_off_use_the_models_window_not_the_pages(sample_data, value_model, tmp_path):
    """The model trained on a 120-day window sees the customers at the cut-off over the 120
    days before it, and now over the 120 days before the snapshot, whatever window the
    page's customer table was computed over."""
    import copy

    from segkit.dashboard.value_panel import ValuePanel, cutoff_window
    from segkit.features.customers import customer_features

    model = copy.deepcopy(value_model)
    model.training_window_ = {"window_days": 120, "covered_days": 120}
    state = _state(sample_data, model, tmp_path)
    assert getattr(state.data, "window_days", None) != 120 and cutoff_window(model) == 120
    panel = ValuePanel(state)
    panel.accordion.selected_index = 2
    cutoff = pd.Timestamp(panel.cutoff.value)
    before = sample_data.lines[sample_data.lines["InvoiceDate"] < cutoff]
    expected = model.segment(customer_features(before, snapshot_date=cutoff, window_days=120))["Segment"]
    then = panel.segments_then()
    assert then.sort_index().tolist() == expected.astype("string").sort_index().tolist()
    whole = model.segment(customer_features(before, snapshot_date=cutoff))["Segment"]
    assert (whole.sort_index().to_numpy() != expected.sort_index().to_numpy()).any()  # the window matters here
    assert "over the 120 days before it" in panel.migration_note.value


def test_a_customer_who_buys_the_same_every_month_does_not_move(sample_data, value_model):
    """Six months of history against twelve made steady customers look like upgrades
    (here Regular -> Loyal); with equal windows a customer whose behaviour never changes
    keeps their segment."""
    from segkit.features.customers import customer_features
    from segkit.value.movement import equal_window_segments, migration_table

    lines = sample_data.lines
    days = pd.date_range("2010-12-01", "2011-12-05", freq="MS") + pd.Timedelta(days=4)
    steady = pd.DataFrame({"InvoiceNo": [f"S{i}" for i in range(len(days))], "StockCode": "X", "Description": "X",
                           "Quantity": 10, "InvoiceDate": days, "UnitPrice": 2.0, "CustomerID": "99999",
                           "Country": "United Kingdom"})
    steady["TotalPrice"] = steady["Quantity"] * steady["UnitPrice"]
    lines = pd.concat([lines, steady[list(lines.columns)].astype(lines.dtypes.to_dict())], ignore_index=True)
    cutoff = pd.Timestamp("2011-06-01")
    segment = lambda customers: value_model.segment(customers)["Segment"]  # noqa: E731
    more_history = (segment(customer_features(lines[lines["InvoiceDate"] < cutoff], snapshot_date=cutoff))["99999"],
                    segment(customer_features(lines))["99999"])
    assert more_history[0] != more_history[1]  # what unequal windows showed
    then, now = equal_window_segments(segment, lines, cutoff)
    assert then["99999"] == now["99999"] == more_history[0]
    table = migration_table(then, now)
    assert table.to_numpy().sum() == lines["CustomerID"].nunique()


@pytest.mark.slow  # over 3.5 s on an idle machine: out of make test-fast
def test_upload_under_the_rfm_switch_gets_the_rfm_segment_and_the_models(page, sample_log):
    from segkit.modeling.label import rfm_scores

    state, panel = page.state, page.score
    state.segmentation = "rfm"
    log = sample_log.head(4000)
    panel.upload.receive("orders.csv", log.drop(columns=["TotalPrice"], errors="ignore").to_csv(index=False).encode())
    result = panel.upload_result.value
    assert "Scored" in result and "Segments shown: RFM rule segments" in result
    assert 'download="scored_orders_rfm.csv"' in result
    href = result.split('class="seg-download-link"', 1)[1].split('href="', 1)[1].split('"', 1)[0]
    import base64

    downloaded = pd.read_csv(io.BytesIO(base64.b64decode(href.split(",", 1)[1])), dtype={"Customer": str})
    assert set(downloaded["Segment"]) <= set(RFM_LABELS)
    assert set(downloaded["Model segment"]) <= set(state.model.segment_names_.values())
    # the page's quintiles: a customer of the page keeps the RFM segment the page gives
    everyone = state.everyone
    common = downloaded[downloaded["Customer"].isin(everyone.index.astype(str))]
    upload_customers = views.score_upload(log.drop(columns=["TotalPrice"], errors="ignore").to_csv(index=False)
                                          .encode(), "orders.csv", state.model, history=state.data.transactions)
    scores = rfm_scores(upload_customers, reference=state.scored)
    assert downloaded.set_index("Customer")["Segment"].to_dict() == ("RFM: " + scores["RFM_Segment"].astype(str)).set_axis(
        scores.index.astype(str)).to_dict()
    assert len(common) > 0
    state.segmentation = "model"  # switching back: the result says to upload again
    assert "now shows the model's segments" in panel.upload_result.value


# ------------------------------------------------------------------ 5. campaign export

def test_campaign_csv_is_the_customers_shown_most_valuable_first(page):
    from segkit.dashboard.table import CAMPAIGN_COLUMNS, campaign_titles, plan_titles

    state, table = page.state, page.table
    state.filters = Filters(segments=("At risk",), country="United Kingdom")
    table.export_campaign()
    download = table.campaign_download
    assert download.auto and download.filename == "campaign_At-risk_United-Kingdom.csv"
    campaign = pd.read_csv(io.BytesIO(download.content), dtype={"Customer ID": str})
    # headings in words with units, e.g. "Total spend (£)"
    assert {"Days since last purchase", "Total spend (£)", "Chance still active (0-1)"} <= set(campaign.columns)
    assert not {"Recency", "TotalSpend", "PAlive"} & set(campaign.columns)
    campaign = campaign.rename(columns={v: k for k, v in campaign_titles().items()})
    shown = state.selection.shown
    assert sorted(campaign["CustomerID"]) == sorted(shown.index.astype(str))
    named = [c for c in campaign.columns if c in CAMPAIGN_COLUMNS]  # the segment's campaign plan columns aside
    assert named == [c for c in CAMPAIGN_COLUMNS if c in campaign.columns]
    assert [c for c in campaign.columns if c not in CAMPAIGN_COLUMNS] == list(plan_titles(
        cost=state.campaign_cost, uplift=state.campaign_uplift).values())
    assert {"CustomerID", "Segment", "Recommendation", "CLV", "PAlive", "Country",
            "LastPurchase"} <= set(campaign.columns)
    assert campaign["CLV"].is_monotonic_decreasing
    assert campaign["LastPurchase"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    state.filters = Filters()  # another view: the old list is withdrawn
    assert download.content == b""


# ------------------------------------------------------------------ 7. P(alive) note

def test_palive_note_when_the_model_sees_almost_no_churn(page):
    from segkit.dashboard.value_panel import palive_note

    assert palive_note(pd.Series(np.linspace(0.2, 1.0, 100))) == ""
    note = palive_note(pd.Series(np.linspace(0.990, 0.999, 100)))
    assert "almost no churn" in note and "At risk" in note
    assert "almost no churn" not in page.table.palive_note.value  # the sample's P(alive) varies


def test_single_day_note_under_bgnbd_only(page):
    """BG/NBD gives P(alive) 1 to a customer who bought on a single day, however long ago:
    the table says so (the sample page's model is BG/NBD), and not for MBG/NBD."""
    from segkit.dashboard.value_panel import single_day_note

    shown = page.state.selection.shown
    silent_at_one = int(((shown["PAlive"] >= 0.99995) & (shown["Recency"] > 180)).sum())
    assert silent_at_one > 0
    assert f"{silent_at_one:,} of these customers last bought over 180 days ago" in page.table.palive_note.value
    palive, recency = pd.Series([1.0, 1.0, 0.4]), pd.Series([400, 20, 400])
    assert single_day_note(palive, recency, CLV_PARAMS).startswith("1 of these customers")
    mbg = {"purchase_model": "mbgnbd", "mbgnbd": CLV_PARAMS["bgnbd"], "gamma_gamma": CLV_PARAMS["gamma_gamma"]}
    assert single_day_note(palive, recency, mbg) == "" and single_day_note(palive, recency, None) == ""


def test_real_data_page_says_the_model_sees_almost_no_churn(real_data, tmp_path):
    """The ML BG/NBD estimates on the real data (a = 0.0056, fitted by ``segkit train``
    here) put P(alive) at 0.99+ for nearly everyone: the table says so in words."""
    model, _ = train_model(real_data, 4)
    model.clv_params_ = {"bgnbd": {"r": 0.8229, "alpha": 69.356, "a": 0.0056124, "b": 26.517},
                         "gamma_gamma": {"p": 2.2404, "q": 3.4955, "v": 448.19}, "time_unit": "D"}
    from segkit.dashboard.table import TablePanel

    state = _state(real_data, model, tmp_path)
    assert state.everyone["PAlive"].quantile(0.05) > 0.99
    note = TablePanel(state).palive_note.value
    assert "almost no churn" in note and "single day" not in note  # one note: P(alive) tells nothing here


@pytest.mark.slow
def test_the_summary_says_how_the_lifetime_value_held_up_at_earlier_dates(sample_data, tmp_path):
    """With the value check in the model's evidence (``segkit train``), the page says the
    ratio for all customers beside the value at stake, and each segment's in the glossary."""
    from segkit.dashboard.segments import SegmentsPanel
    from segkit.pipeline.backtest import apply_evidence, backtest_segments
    from segkit.pipeline.value_backtest import apply_value_evidence
    from segkit.value.clv import refit_clv, rfm_frame

    model = train_model(sample_data, k=4)[0]
    model.clv_params_ = refit_clv(rfm_frame(sample_data.lines), {
        "purchase_model": "bgnbd", "bgnbd": {"r": 1.0, "alpha": 50.0, "a": 0.5, "b": 5.0},
        "gamma_gamma": {"p": 2.0, "q": 3.0, "v": 300.0}, "time_unit": "D"})
    backtest = backtest_segments(sample_data.lines, model=model, n_boot=10, n_cutoffs=2)
    apply_evidence(model, backtest)
    apply_value_evidence(model, backtest, sample_data.lines)
    panel = SegmentsPanel(_state(sample_data, model, tmp_path))
    overall = model.evidence_["value"]["all"]["spend_ratio"]
    said = panel.at_stake.value
    assert "Lifetime value, checked: At 2 earlier dates" in said
    assert f"predicted spend for all customers over the next 90 days was {overall:.2f} times" in said
    for name, figures in model.evidence_["value"]["segments"].items():
        assert f"was {figures['spend_ratio']:.2f} times what they actually spent" in \
            panel.definitions().loc[name, "Evidence"]


# ------------------------------------------------------------------ intervals of groups

def jittered_draws(params: dict, count: int = 20, seed: int = 7) -> list[dict]:
    """Parameter dicts scattered around ``params``, standing in for ``segkit train``'s
    bootstrap draws (no fitting here)."""
    generator = np.random.default_rng(seed)
    return [{"purchase_model": "bgnbd",
             "bgnbd": {k: v * generator.uniform(0.85, 1.15) for k, v in params["bgnbd"].items()},
             "gamma_gamma": {k: v * generator.uniform(0.95, 1.05) for k, v in params["gamma_gamma"].items()},
             "time_unit": "D"} for _ in range(count)]


@pytest.fixture(scope="module")
def ranged(sample_data, tmp_path_factory):
    """A page over the sample whose saved model carries lifetime value and 20 parameter draws
    (through the page cache, as every kernel after the first reads it)."""
    from segkit.dashboard import Dashboard
    from segkit.pipeline.artifacts import save_artifacts

    model, _ = train_model(sample_data, 5)
    model.clv_params_ = CLV_PARAMS
    model.clv_uncertainty_ = {"level": 0.9, "draws": jittered_draws(CLV_PARAMS), "independence": {}}
    artifacts = tmp_path_factory.mktemp("ranged-artifacts")
    save_artifacts(model, artifacts, sample_data.training_info())
    return Dashboard(sample_data, artifacts, settings=VIEWER, query="")


def values_under_each_draw(sample_data, state) -> pd.DataFrame:
    """Every customer's CLV under each stored draw, indexed by CustomerID (the library's
    closed form per draw; the sums and quantiles are left to pandas in the tests)."""
    from segkit.value.clv import customer_lifetime_value, rfm_frame

    rfm = rfm_frame(sample_data.lines)
    samples = state.model.clv_uncertainty_["draws"]
    frame = pd.DataFrame({i: customer_lifetime_value(rfm, s) for i, s in enumerate(samples)})
    frame.index = frame.index.astype(state.everyone.index.dtype)
    return frame


def test_segments_and_total_shown_get_the_interval_of_each_draws_total(ranged, sample_data):
    """Under a country filter: each segment's range and the KPI total's range are the 5th
    and 95th percentiles of the draws' totals over the customers shown (pandas here)."""
    state = ranged.state
    state.filters = Filters(country="Germany")
    try:
        shown = state.selection.shown
        values = values_under_each_draw(sample_data, state).reindex(shown.index)
        totals = values.groupby(shown["Segment"].astype(str)).sum()
        summary = state.selection.summary.set_index("Segment")
        assert set(summary.index) == set(totals.index)
        for name, row in summary.iterrows():
            low, high = totals.loc[name].quantile([0.05, 0.95])
            assert (row["SumCLVLow"], row["SumCLVHigh"]) == pytest.approx((low, high), rel=1e-5)
            assert row["SumCLVLow"] < row["SumCLV"] < row["SumCLVHigh"]
        everyone_low, everyone_high = values.sum().quantile([0.05, 0.95])
        cards = ranged.header.kpis.value
        total = shown["CLV"].sum()
        assert f"£{total:,.0f} (£{everyone_low:,.0f}\u2013£{everyone_high:,.0f})" in cards
        vip = summary.iloc[0]
        assert f"£{vip.SumCLV:,.0f} (£{vip.SumCLVLow:,.0f}\u2013£{vip.SumCLVHigh:,.0f})" in ranged.segments.summary.value
        assert "not from adding up its customers" in ranged.segments.range_note.value
    finally:
        state.filters = Filters()


def test_summary_and_campaign_csvs_carry_each_segments_range(ranged, sample_data):
    from segkit.dashboard.table import campaign_titles
    from segkit.views.tables import summary_headers

    state = ranged.state
    state.filters = Filters(country="France")
    try:
        shown = state.selection.shown
        totals = values_under_each_draw(sample_data, state).reindex(shown.index).groupby(
            shown["Segment"].astype(str)).sum()
        expected = totals.quantile([0.05, 0.95], axis=1).T
        summary = ranged.segments.summary_rows.rename(columns={v: k for k, v in summary_headers().items()})
        summary = summary.set_index("Segment")
        assert summary["SumCLVLow"].to_numpy() == pytest.approx(expected[0.05][summary.index].to_numpy(), rel=1e-5)
        assert summary["SumCLVHigh"].to_numpy() == pytest.approx(expected[0.95][summary.index].to_numpy(), rel=1e-5)
        campaign = ranged.table.campaign_rows.rename(columns={v: k for k, v in campaign_titles().items()})
        assert len(campaign) == len(shown)
        per_segment = campaign.groupby("Segment")[["SegmentCLV", "SegmentCLVLow", "SegmentCLVHigh"]].agg(["min", "max"])
        for name, row in per_segment.iterrows():
            assert row[("SegmentCLVLow", "min")] == row[("SegmentCLVLow", "max")]  # one value per segment
            assert row[("SegmentCLVLow", "min")] == pytest.approx(expected.loc[name, 0.05], abs=0.01)
            assert row[("SegmentCLVHigh", "min")] == pytest.approx(expected.loc[name, 0.95], abs=0.01)
            assert row[("SegmentCLV", "min")] == pytest.approx(shown.loc[shown["Segment"] == name, "CLV"].sum(),
                                                               abs=0.01)
    finally:
        state.filters = Filters()
