"""The dashboard without a browser: the pure views (``segkit.views.tables``), the widget app
driven from Python (``segkit.dashboard``) and the serve command line (``segkit.server.serve``).
"""
from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dashboard_checks import VIEWER, decode_csv_href

from segkit.errors import SegkitDataError
from segkit.pipeline.workflow import train_model
from segkit.views import tables as views
from segkit.views.tables import ALL, Filters


def test_default_filters_keep_everyone(sample_segmented):
    assert len(views.filter_customers(sample_segmented, Filters())) == len(sample_segmented)


def test_each_filter_narrows_the_customers(sample_segmented):
    everyone = len(sample_segmented)
    segment = sample_segmented["Segment"].iloc[0]
    by_segment = views.filter_customers(sample_segmented, Filters(segments=(segment,)))
    assert 0 < len(by_segment) < everyone and set(by_segment["Segment"]) == {segment}

    by_country = views.filter_customers(sample_segmented, Filters(country="Germany"))
    assert 0 < len(by_country) < everyone and set(by_country["Country"]) == {"Germany"}

    by_spend = views.filter_customers(sample_segmented, Filters(spend_min=500, spend_max=2000))
    assert 0 < len(by_spend) < everyone
    assert by_spend["TotalSpend"].between(500, 2000).all()

    assert views.filter_customers(sample_segmented, Filters(segments=())).empty


def test_line_categories_cover_every_line(sample_data):
    categories = views.line_categories(sample_data.lines)
    assert len(categories) == len(sample_data.lines) and categories.notna().all()
    assert {"Christmas", "Bags", "Kitchen"} <= set(categories.cat.categories)


def test_whole_window_returns_the_training_table(sample_data):
    start, end = (ts.date() for ts in sample_data.period)
    same = views.customers_in_date_range(sample_data.lines, sample_data.customers, None, start, end, ALL)
    assert same is sample_data.customers


def test_date_window_recomputes_features(sample_data):
    lines = sample_data.lines
    window = views.customers_in_date_range(lines, sample_data.customers, None, date(2011, 6, 1), date(2011, 8, 31))
    inside = lines[(lines["InvoiceDate"] >= "2011-06-01") & (lines["InvoiceDate"] < "2011-09-01")]
    assert set(window.index) == set(inside["CustomerID"].astype(str))
    spend = inside.groupby("CustomerID")["TotalPrice"].sum().round(2)
    spend.index = spend.index.astype(str)
    pd.testing.assert_series_equal(window["TotalSpend"].sort_index(), spend.sort_index(), check_names=False,
                                   check_index_type=False)
    # Recency counts to the day after the window's end.
    last = inside.groupby("CustomerID")["InvoiceDate"].max()
    expected = (pd.Timestamp("2011-09-01") - last).dt.days
    expected.index = expected.index.astype(str)
    assert (window["Recency"].sort_index().to_numpy() == expected.sort_index().to_numpy()).all()


def test_category_window_only_counts_that_category(sample_data):
    categories = views.line_categories(sample_data.lines)
    window = views.customers_in_date_range(sample_data.lines, sample_data.customers, categories, category="Christmas")
    bags = sample_data.lines[categories.to_numpy() == "Christmas"]
    assert len(window) == bags["CustomerID"].nunique() < len(sample_data.customers)
    assert window["TotalSpend"].sum() == pytest.approx(bags["TotalPrice"].sum(), rel=1e-9, abs=0.01 * len(window))


def test_empty_window_gives_an_empty_view(sample_data, sample_model):
    window = views.customers_in_date_range(sample_data.lines, sample_data.customers, None, date(2009, 1, 1), date(2009, 2, 1))
    segmented = views.segment_customers(sample_model, window)
    assert segmented.empty and "Segment" in segmented
    assert views.segment_summary(segmented).empty
    assert "No customers" in views.summary_html(views.segment_summary(segmented))
    assert views.kpis(segmented, (pd.Timestamp("2009-01-01"), pd.Timestamp("2009-02-01")))["Customers"] == 0


# ------------------------------------------------------------------ numbers

def test_kpis(sample_data):
    numbers = views.kpis(sample_data.customers, sample_data.period)
    customers = sample_data.customers
    assert numbers["Customers"] == len(customers)
    assert numbers["AvgPurchases"] == pytest.approx(customers["NumPurchases"].mean())
    assert numbers["TotalSpend"] == pytest.approx(customers["TotalSpend"].sum())
    assert numbers["AvgOrderValue"] == pytest.approx(customers["TotalSpend"].sum() / customers["NumPurchases"].sum())
    text = views.kpi_html(numbers)
    assert f"{len(customers):,}" in text and "Data period" in text


def test_summary_matches_the_model_profile_on_all_customers(sample_segmented, sample_model):
    summary = views.segment_summary(sample_segmented)
    assert list(summary.columns) == views.SUMMARY_COLUMNS
    assert summary["Customers"].sum() == len(sample_segmented)
    assert summary["Share"].sum() == pytest.approx(1.0)
    profile = sample_model.profile_.loc[summary.index]
    np.testing.assert_allclose(summary["AvgTotalSpend"], profile["AvgTotalSpend"])
    np.testing.assert_allclose(summary["SumTotalSpend"], profile["SumTotalSpend"])
    assert summary["SumTotalSpend"].is_monotonic_decreasing


def test_summary_of_a_filtered_view_has_only_those_segments(sample_segmented):
    names = sorted(sample_segmented["Segment"].unique())[:2]
    summary = views.segment_summary(views.filter_customers(sample_segmented, Filters(segments=tuple(names))))
    assert sorted(summary["Segment"]) == names


def test_segment_centres_keep_the_scale_of_the_window(sample_segmented):
    all_centres = views.segment_centres(sample_segmented, sample_segmented)
    one = sample_segmented[sample_segmented["Cluster"] == all_centres.index[0]]
    only = views.segment_centres(sample_segmented, one)
    assert list(only.index) == [all_centres.index[0]]
    np.testing.assert_allclose(only.iloc[0], all_centres.iloc[0])


def test_compare_segments(sample_segmented):
    a, b = sorted(sample_segmented["Segment"].unique())[:2]
    table = views.compare_segments(sample_segmented, a, b)
    assert list(table.columns) == [f"A: {a}", f"B: {b}", "Difference", "Difference %"]
    sa, sb = (sample_segmented[sample_segmented["Segment"] == n] for n in (a, b))
    assert table.loc["Customers", f"A: {a}"] == len(sa)
    assert table.loc["Avg spend", "Difference"] == pytest.approx(sb["TotalSpend"].mean() - sa["TotalSpend"].mean())
    html = views.comparison_html(table)
    assert a in html and b in html and "Difference" in html


def test_compare_a_segment_missing_from_the_view(sample_segmented):
    a = sample_segmented["Segment"].iloc[0]
    table = views.compare_segments(sample_segmented[sample_segmented["Segment"] == a], a, "Nobody")
    assert table.loc["Customers", "B: Nobody"] == 0
    assert np.isnan(table.loc["Avg spend", "B: Nobody"])


# ------------------------------------------------------------------ table and CSV

def test_customer_table_sorts_and_pages(sample_segmented):
    table = views.customers_as_shown(sample_segmented, "TotalSpend", ascending=False)
    # Every table column the data has, in TABLE_COLUMNS' order (PAlive and CLV need a model with lifetime value).
    assert list(table.columns) == [c for c in views.TABLE_COLUMNS if c in table.columns]
    assert {"CustomerID", "Segment", "Confidence", "TotalSpend", "Recommendation"} <= set(table.columns)
    assert table["TotalSpend"].is_monotonic_decreasing and len(table) == len(sample_segmented)
    rows, page, n_pages = views.table_page(table, 3, 25)
    assert page == 3 and n_pages == -(-len(table) // 25)
    pd.testing.assert_frame_equal(rows, table.iloc[50:75])
    assert views.table_page(table, 10_000, 25)[1] == n_pages
    assert views.table_page(table, -1, 25)[1] == 1
    ascending = views.customers_as_shown(sample_segmented, "CustomerID", ascending=True)
    assert ascending["CustomerID"].is_monotonic_increasing


def test_download_is_exactly_the_filtered_table(sample_segmented):
    shown = views.filter_customers(sample_segmented, Filters(country="Germany"))
    table = views.customers_as_shown(shown, "Recency", ascending=True)
    link = views.download_link_html(table)
    href = link.split('href="', 1)[1].split('"', 1)[0]
    downloaded = decode_csv_href(href)
    assert list(downloaded.columns) == list(table.columns)
    assert downloaded["CustomerID"].tolist() == table["CustomerID"].astype(str).tolist()
    np.testing.assert_allclose(downloaded["TotalSpend"], table["TotalSpend"])
    assert f'data-rows="{len(table)}"' in link


def test_download_neutralises_formulas():
    frame = pd.DataFrame({"CustomerID": ["=1+1"], "Segment": ["VIP"], "TotalSpend": [-5.0]})
    downloaded = decode_csv_href(views.csv_data_uri(frame))
    assert downloaded.loc[0, "CustomerID"] == "'=1+1" and downloaded.loc[0, "TotalSpend"] == -5.0


def test_table_html_shows_the_rows(sample_segmented):
    rows = views.customers_as_shown(sample_segmented).head(3)
    text = views.table_html(rows)
    assert text.count("<tr>") == 4 and all(cid in text for cid in rows["CustomerID"])


# ------------------------------------------------------------------ theme

def test_theme_css_switches_colours():
    light, dark = views.theme_css("light"), views.theme_css("dark")
    assert light.startswith("<style") and dark.startswith("<style")
    assert "--jp-layout-color0: #ffffff" in light and "--jp-layout-color0: #111111" in dark
    assert views.plotly_template("dark") == "plotly_dark" and views.plotly_template("light") == "plotly_white"
    with pytest.raises(ValueError):
        views.theme_css("purple")


# ------------------------------------------------------------------ model card, scoring

def test_model_card_html(sample_data, sample_model):
    card = views.provisional_card(sample_model, sample_data.training_info())
    text = views.model_card_html(card, "status here")
    assert "K = 5" in text and "silhouette" in text and "status here" in text
    assert "1,997 customers" in text or f"{len(sample_data.customers):,} customers" in text


@pytest.mark.slow
def test_score_upload_of_transactions(sample_csv, sample_model, sample_data):
    scored = views.score_upload(Path(sample_csv).read_bytes(), "new.csv", sample_model)
    assert len(scored) == len(sample_data.customers)
    assert set(scored["Segment"]) <= set(sample_model.segment_names_.values())


def test_score_upload_of_customers(sample_data, sample_model):
    table = sample_data.customers.head(20).reset_index()
    scored = views.score_upload(table.to_csv(index=False).encode(), "customers.csv", sample_model)
    assert len(scored) == 20 and scored["Segment"].notna().all()


@pytest.mark.parametrize("name, content, words", [
    ("notes.txt", b"hello", "not a CSV or XLSX"),
    ("empty.csv", b"", "empty"),
    ("garbage.csv", b"a,b\n1,2\n", "garbage.csv"),
    ("broken.xlsx", b"PK\x03\x04 this is no workbook", "broken.xlsx"),
])
def test_score_upload_bad_files_give_one_sentence(sample_model, name, content, words):
    with pytest.raises(SegkitDataError) as info:
        views.score_upload(content, name, sample_model)
    message = str(info.value)
    assert words in message and "Traceback" not in message and "\n" not in message


# ------------------------------------------------------------------ state and panels, without a browser

from segkit.config import Settings


def test_settings_from_the_environment():
    from segkit.config import settings

    assert settings({}).currency == "£" and not settings({}).analyst
    assert settings({"SEGKIT_CURRENCY": "€", "SEGKIT_ANALYST": "1"}) == Settings(currency="€", analyst=True)

@pytest.mark.real_data
def test_real_data_views(real_data):
    model, _ = train_model(real_data, 4)
    segmented = views.segment_customers(model, real_data.customers)
    summary = views.segment_summary(segmented)
    stages = 3 if getattr(model, "lifecycle_rules_", None) is not None else 0  # New, At risk, Lost
    assert summary["Customers"].sum() == len(real_data.customers) and len(summary) == 4 + stages
    uk = views.filter_customers(segmented, Filters(country="United Kingdom"))
    assert 0.8 < len(uk) / len(segmented) < 0.95
    categories = views.line_categories(real_data.lines)
    christmas = views.customers_in_date_range(real_data.lines, real_data.customers, categories, category="Christmas")
    assert 0 < len(christmas) < len(real_data.customers)
    december = views.customers_in_date_range(real_data.lines, real_data.customers, categories,
                                         date(2011, 12, 1), date(2011, 12, 9))
    assert december["Recency"].max() <= 9
    table = views.customers_as_shown(uk)
    assert len(decode_csv_href(views.csv_data_uri(table))) == len(uk)


def test_segment_centres_from_cached_z_scores(sample_segmented):
    mask = (sample_segmented["Country"] == "Germany").to_numpy()
    shown = sample_segmented[mask]
    z = views.everyone_z_scores(sample_segmented)
    pd.testing.assert_frame_equal(views.segment_centres(sample_segmented, shown, mask, z),
                                  views.segment_centres(sample_segmented, shown), check_names=False, atol=1e-12)


def test_compare_histograms_are_shares_per_segment(sample_segmented):
    from segkit.views import plots

    a, b = sorted(sample_segmented["Segment"].unique())[:2]
    figure = plots.compare_histograms(sample_segmented, (a, b), "TotalSpend")
    assert [t.name for t in figure.data] == [a, b]
    for trace in figure.data:
        assert sum(trace.y) == pytest.approx(100.0) and len(trace.y) == 40


@pytest.fixture(scope="module")
def evidence_state(sample_data, tmp_path_factory):
    """A state over the sample whose model carries its backtest (what ``segkit train`` saves)."""
    from segkit.dashboard.state import DashboardState, ModelStatus
    from segkit.pipeline.backtest import apply_evidence, backtest_segments

    model, _ = train_model(sample_data, 5)
    apply_evidence(model, backtest_segments(sample_data.lines, model=model, n_boot=50))
    card = views.provisional_card(model, sample_data.training_info())
    return DashboardState(sample_data, model, card, ModelStatus(False, "Not saved: test model."),
                          tmp_path_factory.mktemp("artifacts"), VIEWER)


def test_every_csv_and_the_report_say_each_segments_evidence(evidence_state):
    """The campaign CSV (the customers with their advice), the summary CSV and the HTML
    report give, for every segment, what customers like these did next, in words."""
    import html as _html

    from segkit.dashboard.report import report_html
    from segkit.dashboard.segments import SegmentsPanel
    from segkit.dashboard.table import TablePanel
    from segkit.pipeline.backtest import evidence_sentences

    state = evidence_state
    state.filters = Filters()
    said = evidence_sentences(state.model.evidence_, state.currency)
    assert set(said) == set(state.segment_names) and all(s.startswith("Customers like these at ") for s in said.values())

    campaign = TablePanel(state).campaign_rows
    assert (campaign["What customers like these did next"] == campaign["Segment"].map(said)).all()
    columns = list(campaign.columns)
    assert columns.index("What customers like these did next") == columns.index("Recommendation") + 1

    segments = SegmentsPanel(state)
    assert 'download="summary.csv"' in segments.summary_download.value
    summary = decode_csv_href(segments.summary_download.value.split('href="', 1)[1].split('"', 1)[0])
    assert set(summary["Segment"]) == set(said) and (summary["Evidence"] == summary["Segment"].map(said)).all()
    state.filters = Filters(country="France")
    assert 'download="summary_France.csv"' in segments.summary_download.value
    state.filters = Filters()

    report = report_html(state, segments.definitions())
    glossary = report.split("What the segments mean", 1)[1].split("Segments in this view", 1)[0]
    for name, sentence in said.items():
        assert _html.escape(sentence) in glossary, name
    assert glossary.count('class="seg-evidence"') == len(said)


def test_without_a_backtest_every_csv_and_the_report_say_nothing_was_measured(state):
    from segkit.dashboard.report import report_html
    from segkit.dashboard.segments import SegmentsPanel
    from segkit.dashboard.table import TablePanel
    from segkit.pipeline.backtest import NO_EVIDENCE

    assert not getattr(state.model, "evidence_", None)
    assert (TablePanel(state).campaign_rows["What customers like these did next"] == NO_EVIDENCE).all()
    segments = SegmentsPanel(state)
    summary = decode_csv_href(segments.summary_download.value.split('href="', 1)[1].split('"', 1)[0])
    assert (summary["Evidence"] == NO_EVIDENCE).all()
    glossary = report_html(state, segments.definitions()).split("What the segments mean", 1)[1]
    assert glossary.count(NO_EVIDENCE) >= len(state.segment_names)


