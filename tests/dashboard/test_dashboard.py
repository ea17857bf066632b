"""The dashboard without a browser: the pure views (``segkit.views.tables``), the widget app
driven from Python (``segkit.dashboard``) and the serve command line (``segkit.server.serve``).
"""
from __future__ import annotations

import base64
import io
import json
import os
import re
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from segkit.errors import SegkitDataError
from segkit.pipeline.workflow import train_model
from segkit.views import tables as views
from segkit.views.tables import ALL, Filters


@pytest.fixture(scope="module")
def sample_model(sample_data):
    model, _ = train_model(sample_data, 5)
    return model


@pytest.fixture(scope="module")
def sample_segmented(sample_data, sample_model):
    return views.segment_customers(sample_model, sample_data.customers)


def _decode(href: str) -> pd.DataFrame:
    prefix = "data:text/csv;charset=utf-8;base64,"
    assert href.startswith(prefix)
    return pd.read_csv(io.StringIO(base64.b64decode(href[len(prefix):]).decode("utf-8")), dtype={"CustomerID": str})


# ------------------------------------------------------------------ filters

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
    downloaded = _decode(href)
    assert list(downloaded.columns) == list(table.columns)
    assert downloaded["CustomerID"].tolist() == table["CustomerID"].astype(str).tolist()
    np.testing.assert_allclose(downloaded["TotalSpend"], table["TotalSpend"])
    assert f'data-rows="{len(table)}"' in link


def test_download_neutralises_formulas():
    frame = pd.DataFrame({"CustomerID": ["=1+1"], "Segment": ["VIP"], "TotalSpend": [-5.0]})
    downloaded = _decode(views.csv_data_uri(frame))
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

VIEWER = Settings(currency="£", analyst=False)
ANALYST = Settings(currency="£", analyst=True)


@pytest.fixture(scope="module")
def sample_state(sample_data, sample_model, tmp_path_factory):
    """A state over the sample with a fixed model (no training): what every panel reads."""
    from segkit.dashboard.state import DashboardState, ModelStatus

    card = views.provisional_card(sample_model, sample_data.training_info())
    return DashboardState(sample_data, sample_model, card, ModelStatus(False, "Not saved: test model."),
                          tmp_path_factory.mktemp("artifacts"), VIEWER)


@pytest.fixture()
def state(sample_state):
    sample_state.filters = Filters()
    sample_state.message = sample_state.notice = ""
    return sample_state


@pytest.fixture()
def dashboard(sample_data, tmp_path):
    from segkit.dashboard import Dashboard

    return Dashboard(sample_data, artifacts=tmp_path / "artifacts", settings=ANALYST, query="")


def _rows(html_text: str) -> int:
    return html_text.count("<tr>") - 1


def test_selection_numbers_are_those_of_the_shown_customers(state, sample_data):
    """Summary, centres, KPI columns and the comparison read columns and (under a segment
    filter) the view without it; they must equal what the shown customers give directly."""
    from pandas.testing import assert_frame_equal

    from segkit.dashboard.header import KPI_INPUTS, DATE_RANGE_INPUTS

    names = state.segment_names
    first = sample_data.period[0].date()
    views_tried = [Filters(), Filters(segments=tuple(names[:2])), Filters(segments=(names[-1],), country="France"),
                   Filters(segments=tuple(names[1:]), spend_min=200.0), Filters(segments=()),
                   Filters(segments=tuple(names[:3]), start=first.replace(day=28), category=ALL)]
    for filters in views_tried:
        state.filters = filters
        selection = state.selection
        shown = selection.shown
        assert_frame_equal(selection.summary, views.segment_summary(shown), check_exact=True)
        assert views.kpi_html(views.kpis(selection.frame(KPI_INPUTS + DATE_RANGE_INPUTS), selection.period)) == views.kpi_html(
            views.kpis(shown, selection.period))
        for name in names:
            assert selection.segment_count(name) == int((shown["Segment"] == name).sum())
        if len(selection):
            assert_frame_equal(selection.centres(state.z_scores),
                               views.segment_centres(state.everyone, shown, selection.mask, state.z_scores),
                               check_exact=True)


def test_compare_panel_shows_the_shown_customers_after_any_change(state):
    """The comparison is redrawn only when its inputs change; what it shows is always
    ``compare_segments`` of the shown customers."""
    from segkit.dashboard.compare import ComparePanel

    panel = ComparePanel(state)
    names = state.segment_names
    for segments in (None, tuple(names[:1]), tuple(names[:2]), None, tuple(names[1:]), (), None):
        state.filters = Filters(segments=segments)
        a, b = panel._pair()
        assert panel.compare_table.value == views.comparison_html(
            views.compare_segments(state.selection.shown, a, b), state.currency)


@pytest.mark.slow  # over 3.5 s on an idle machine: out of make test-fast
def test_filters_select_and_never_relabel(state, sample_data):
    """Random filter combinations: the shown customers are a subset of everyone, each
    with its full-period segment; adding a filter never adds customers."""
    from dataclasses import replace

    everyone = state.everyone
    full_segment = everyone["Segment"]
    rng = np.random.default_rng(7)
    first, last = (ts.date() for ts in sample_data.period)
    days = (last - first).days
    categories = [c for c in sample_data.lines.pipe(views.line_categories).cat.categories]
    names = state.segment_names
    for _ in range(25):
        filters = Filters()
        previous = set(everyone.index)
        for field in rng.permutation(["segments", "country", "spend", "dates", "category"]):
            if field == "segments":
                filters = replace(filters, segments=tuple(rng.choice(names, size=rng.integers(1, len(names)),
                                                                      replace=False)))
            elif field == "country":
                filters = replace(filters, country=str(rng.choice(state.countries)))
            elif field == "spend":
                filters = replace(filters, spend_min=float(rng.integers(0, 2000)))
            elif field == "dates":
                a = int(rng.integers(0, days))
                filters = replace(filters, start=first + pd.Timedelta(days=a),
                                  end=first + pd.Timedelta(days=int(rng.integers(a, days + 1))))
            else:
                filters = replace(filters, category=str(rng.choice(categories)))
            state.filters = filters
            shown = state.selection.shown
            assert set(shown.index) <= previous, filters
            assert (shown["Segment"] == full_segment.loc[shown.index]).all()
            assert (shown["TotalSpend"] == everyone.loc[shown.index, "TotalSpend"]).all()  # full-period spend
            previous = set(shown.index)


def test_date_and_category_keep_buyers_in_the_window(state, sample_data):
    from dataclasses import replace

    lines = sample_data.lines
    state.filters = replace(Filters(), start=date(2011, 6, 1), end=date(2011, 8, 31))
    inside = lines[(lines["InvoiceDate"] >= "2011-06-01") & (lines["InvoiceDate"] < "2011-09-01")]
    shown = state.selection.shown
    assert set(shown.index) == set(inside["CustomerID"].astype(str))
    spend = inside.groupby(inside["CustomerID"].astype(str))["TotalPrice"].sum()
    np.testing.assert_allclose(shown["SpendInWindow"].sort_index(), spend.sort_index().round(2))
    assert "SpendInWindow" in state.table_frame().columns
    state.filters = replace(Filters(), category="Christmas")
    cats = views.line_categories(lines)
    assert set(state.selection.shown.index) == set(lines.loc[(cats == "Christmas").to_numpy(), "CustomerID"].astype(str))


def test_selection_is_cached_on_its_inputs(state):
    from dataclasses import replace

    first = state.selection
    assert state.selection is first
    state.filters = replace(Filters(), country="Germany")
    germany = state.selection
    assert germany is not first and len(germany) < len(first)
    state.filters = Filters()
    assert len(state.selection) == len(first)


def test_filter_warnings_say_why_nobody_matches(state):
    from dataclasses import replace

    from segkit.dashboard.header import HeaderPanel

    header = HeaderPanel(state)
    state.filters = replace(Filters(), spend_min=5000, spend_max=100)
    assert len(state.selection) == 0
    assert "minimum spend (£5,000) is above the maximum (£100)" in header.message.value
    state.filters = replace(Filters(), start=date(2011, 12, 1), end=date(2011, 1, 1))
    assert "start date is after the end date" in header.message.value
    state.filters = Filters()
    assert header.message.value == ""


def test_filters_panel_writes_only_filters_and_follows_them(state):
    from segkit.dashboard.filters import FiltersPanel

    panel = FiltersPanel(state)
    panel.country_filter.value = ("Germany",)
    assert state.filters.country == ("Germany",)
    panel.spend_min.value = "£1,000"
    assert state.filters.spend_min == 1000
    panel.date_start.value = "01/09/2011"  # typed, day first
    assert state.filters.start == date(2011, 9, 1) and panel.date_start.value == "01/09/2011"
    panel.segment_filter.value = panel.segment_filter.options[:1]
    assert state.filters.segments == tuple(panel.segment_filter.options[:1])
    panel.reset_filters.click()
    assert state.filters == Filters()
    assert panel.country_filter.value == () and panel.spend_min.value == "" and panel.date_start.value.endswith("2010")
    state.filters = Filters(country="France", segments=(state.segment_names[0],))  # set elsewhere (a link)
    assert panel.country_filter.value == ("France",) and panel.segment_filter.value == (state.segment_names[0],)
    panel.spend_min.value = "lots"
    assert "not an amount" in state.message
    panel.date_end.value = "31/13/2011"
    assert "not a date" in state.message and "day/month/year" in state.message


def test_header_shows_money_with_currency_and_no_metrics(state):
    from segkit.dashboard.header import HeaderPanel

    header = HeaderPanel(state)
    assert "£" in header.kpis.value and "Data period" in header.kpis.value
    for part in (header.kpis, header.model_line, header.source, header.banner):
        assert "silhouette" not in part.value.lower() and "z-score" not in part.value.lower()
    state.theme = "dark"
    assert 'data-seg-theme="dark"' in header.style.value and header.theme_switch.value == "Dark"
    header.theme_switch.value = "Light"
    assert state.theme == "light"


def test_segments_panel_glossary_and_summary(state):
    from segkit.dashboard.segments import SegmentsPanel

    panel = SegmentsPanel(state)
    for name in state.segment_names:
        assert f'data-segment="{name}"' in panel.glossary.value
    assert "What to do" in panel.glossary.value and "days ago" in panel.glossary.value
    import html as _html

    for name, row in state.model.definitions_.iterrows():  # the model's own definitions
        assert _html.escape(row["Definition"]) in panel.glossary.value, name
    assert "Avg spend (£)" in panel.summary.value and " days<" in panel.summary.value
    state.filters = Filters(segments=(state.segment_names[0],))
    assert _rows(panel.summary.value) == 1
    # After a filter that leaves nobody, the heatmap gets its axes back.
    state.filters = Filters(country="Nowhere")
    assert panel.heatmap.layout.xaxis.visible is False
    state.filters = Filters()
    assert panel.heatmap.layout.xaxis.visible is True and panel.heatmap.layout.yaxis.visible is True


def test_glossary_says_under_a_filter_that_its_numbers_are_the_whole_shops(state, sample_data):
    """Issue 22, point 2: under a country filter the glossary keeps the whole shop's numbers
    and says so, with the whole shop's customer count and period."""
    from segkit.dashboard.report import report_html
    from segkit.dashboard.segments import SegmentsPanel

    panel = SegmentsPanel(state)
    assert panel.glossary_scope.value == ""  # no filter: nothing to explain
    glossary = panel.glossary.value
    state.filters = Filters(country="Germany")
    customers = sample_data.lines["CustomerID"].nunique()
    shown = int((sample_data.customers["Country"] == "Germany").sum())
    assert 0 < shown < customers
    start, end = sample_data.lines["InvoiceDate"].min(), sample_data.lines["InvoiceDate"].max()
    sentence = (f"these definitions, their numbers and the products below are the whole shop's: all {customers:,} "
                f"customers from {start:%d %b %Y} to {end:%d %b %Y}")
    assert sentence in panel.glossary_scope.value
    assert panel.glossary.value == glossary  # the numbers are the whole shop's, as the sentence says
    assert sentence in report_html(state, panel.definitions()).replace("&#x27;", "'")
    state.filters = Filters()
    assert panel.glossary_scope.value == ""


def test_closed_products_section_says_to_open_it_before_printing(state):
    """Issue 22, point 3, within the ten-visitor memory aim: the closed, never opened
    top-products section holds a note a printed page shows (reading the order lines for it
    would cost every kernel about 100 MB on the real data); opened, it holds the tables, and
    closing it again keeps them for printing."""
    from segkit.dashboard.segments import PRODUCTS_ON_REQUEST, SegmentsPanel, products_html

    panel = SegmentsPanel(state)
    assert panel.products.value == PRODUCTS_ON_REQUEST and "open it before printing" in PRODUCTS_ON_REQUEST
    panel.products_section.selected_index = 0
    tables = products_html(state, list(panel.definitions().index))
    assert panel.products.value == tables and "seg-top-products-table" in tables
    panel.products_section.selected_index = None
    assert panel.products.value == tables


def test_glossary_uses_the_models_definitions_when_it_has_them(state, sample_model):
    from segkit.dashboard.segments import segment_definitions

    fallback = segment_definitions(sample_model, state.everyone)
    assert list(fallback.columns) == ["Definition", "InNumbers", "Recommendation"]
    assert set(fallback.index) == set(state.segment_names) and (fallback["Recommendation"] != "").all()

    class WithDefinitions:
        segment_names_ = sample_model.segment_names_
        definitions_ = pd.DataFrame({"Definition": ["d"], "InNumbers": ["n"], "Recommendation": ["r"]}, index=["VIP"])

    own = segment_definitions(WithDefinitions(), state.everyone)
    assert own.loc["VIP", "Definition"] == "d"


def test_compare_within_filters_and_never_a_equals_b(state):
    from segkit.dashboard.compare import ComparePanel

    panel = ComparePanel(state)
    a, b = panel.compare_a.value, panel.compare_b.value
    assert a != b and a not in panel.compare_b.options
    panel.compare_a.value = b
    assert panel.compare_b.value != b
    a, b = panel.compare_a.value, panel.compare_b.value
    n_all = int((state.everyone["Segment"] == a).sum())
    state.filters = Filters(country="Germany")
    n_germany = int((state.selection.shown["Segment"] == a).sum())
    assert n_germany < n_all and f"Within the current filters: {n_germany:,} {a}" in panel.scope.value
    text = panel.compare_table.value
    assert f">{n_germany:,}<" in text and ".00<" not in text.split("Avg purchases")[0]
    assert "£" in text and "days" in text and (f">{a} is " in text or f">{b} is " in text)  # which is higher
    assert {t.name for t in panel.compare_chart.data} == {a, b}


def test_table_panel_pages_and_names_the_download(state):
    from segkit.dashboard.table import TablePanel

    panel = TablePanel(state)
    assert "Days since last purchase" in panel.table.value and "Spend (£)" in panel.table.value
    first = panel.table.value
    panel.next_page.click()
    assert panel.page == 2 and panel.table.value != first
    state.filters = Filters(country="France", segments=(state.segment_names[0],))
    assert panel.page == 1
    assert f'download="segments_{state.segment_names[0].replace(" ", "-")}_France.csv"' in panel.download.value
    href = panel.download.value.split('href="', 1)[1].split('"', 1)[0]
    downloaded = _decode(href)
    assert list(downloaded.columns)[:3] == ["Customer", "Segment", "Country"]
    assert "Recommendation" in downloaded and "Fit to segment (0-1; lower near a stage change)" in downloaded
    assert (downloaded["Country"] == "France").all() and len(downloaded) == len(state.selection)


def test_score_panel_says_who_was_not_scored_and_which_model(state, sample_csv, sample_log, tmp_path):
    from segkit.dashboard.score import ScorePanel

    panel = ScorePanel(state)
    assert "(0)" not in panel.upload.label
    log = sample_log.head(3000).copy()
    # A customer the page's log does not know, with a return and nothing else (a known one
    # would be scored on their whole history: issue 21).
    only_cancelled = 99999.0
    keep = log
    cancelled = log.head(1).assign(CustomerID=only_cancelled, InvoiceNo="C999999", Quantity=-1)
    upload = pd.concat([keep, cancelled])
    content = upload.drop(columns=["TotalPrice"], errors="ignore").to_csv(index=False).encode()
    panel.upload.receive("orders.csv", content)
    result = panel.upload_result.value
    assert "Scored" in result and "this page's model (not saved)" in result
    assert "got no segment" in result and str(only_cancelled).split(".")[0] in result
    assert 'download="scored_orders.csv"' in result
    state.model_version += 1  # a new model: the old result says so
    assert "has changed since" in panel.upload_result.value and "Scored" not in panel.upload_result.value
    panel.upload.receive("bad.csv", b"x,y\n1,2\n")
    assert "seg-error" in panel.upload_result.value and "bad.csv" in panel.upload_result.value


def test_report_is_self_contained_and_names_the_view(state):
    from segkit.dashboard.report import ReportPanel
    from segkit.dashboard.segments import SegmentsPanel

    segments = SegmentsPanel(state)
    state.filters = Filters(country="France")
    panel = ReportPanel(state, segments.definitions)
    panel.button.click()
    assert panel.download.filename == "report_France.html" and panel.download.auto
    text = panel.download.content.decode("utf-8")
    assert "Country: France" in text and "What the segments mean" in text and "Segments in this view" in text
    assert "<script src=" not in text and "cdn" not in text.lower().split("</head>")[0]
    assert text.count('class="plotly-graph-div"') == 3 and len(text) > 3_000_000  # sizes, scatter, sizes by month; plotly.js inlined


def test_url_query_round_trip():
    from segkit.dashboard.urlsync import encode_query, parse_query, view_name

    segments, countries, categories = ["Lost", "VIP", "Loyal"], ["France", "Germany"], ["Christmas"]
    parsed = parse_query("?segment=VIP&segment=Loyal&country=France&spend_min=100&to=2011-09-30&category=Christmas"
                         "&theme=dark", segments, countries, categories)
    assert parsed.filters == Filters(segments=("VIP", "Loyal"), country="France", spend_min=100.0,
                                     end=date(2011, 9, 30), category="Christmas")
    assert parsed.theme == "dark" and parsed.ignored == ()
    assert parse_query("segment=VIP,Loyal", segments, countries, categories).filters.segments == ("VIP", "Loyal")
    query = encode_query(parsed.filters, "dark")
    assert parse_query(query, segments, countries, categories).filters == parsed.filters
    assert "segment=VIP,Loyal" in query and "theme=dark" in query
    bad = parse_query("segment=Gold&country=Mars&from=31/12/2011", segments, countries, categories)
    assert bad.filters == Filters() and len(bad.ignored) == 3
    assert view_name(Filters(segments=("VIP",), country="France")) == "segments_VIP_France"
    assert view_name(Filters()) == "segments"


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
    assert _rows(dashboard.segments.summary.value) == len(state.selection.summary)
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
    """``load_customer_data(path, engine="duckdb")`` (no lines) used to raise TypeError."""
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


def test_plain_titles_in_charts():
    from segkit.views import plots

    frame = pd.DataFrame({"NumPurchases": [1, 5], "TotalQuantity": [3, 50], "TotalSpend": [10.0, 900.0],
                          "Segment": ["VIP", "Lost"], "Country": ["France", "Spain"]}, index=["1", "2"])
    for figure in (plots.scatter_2d(frame), plots.scatter_3d(frame), plots.compare_histograms(frame, ("VIP", "Lost"))):
        text = json.dumps(figure.to_plotly_json()["layout"]) + json.dumps([t.hovertemplate for t in figure.data])
        assert "log10" not in text and "TotalSpend" not in text and "Spend (\\u00a3)" in text


def test_segment_colours_are_not_pale_on_white():
    from segkit.views.plots import SEGMENT_COLOURS

    def luminance(hex_colour):
        rgb = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    for name, colour in SEGMENT_COLOURS.items():
        assert 1.05 / (luminance(colour) + 0.05) >= 3.0, name


def test_settings_from_the_environment():
    from segkit.config import settings

    assert settings({}).currency == "£" and not settings({}).analyst
    assert settings({"SEGKIT_CURRENCY": "€", "SEGKIT_ANALYST": "1"}) == Settings(currency="€", analyst=True)

def test_figure_widget_class_loads_the_served_bundle():
    import plotly.graph_objects as go

    from segkit.dashboard import figure_widget_class

    assert figure_widget_class("") is go.FigureWidget
    served = figure_widget_class("templates/segkit/static/plotly-widget.js")
    assert issubclass(served, go.FigureWidget)
    widget = served()
    assert len(widget._esm) < 1000 and "templates/segkit/static/plotly-widget.js" in widget._esm


# ------------------------------------------------------------------ serving

def test_voila_command_and_environment(tmp_path):
    from segkit.server import serve

    command = serve.voila_command(9999, open_browser=False)
    assert command[1:3] == ["-m", "voila"] and command[3].endswith("dashboard.ipynb")
    for option in ("--port=9999", "--Voila.ip=127.0.0.1", "--preheat_kernel=True", "--show_tracebacks=False",
                   "--no-browser", "--template=segkit"):
        assert option in command
    env = serve.voila_environment({"SEGKIT_CACHE": str(tmp_path), "JUPYTER_PATH": "/elsewhere"})
    paths = env["JUPYTER_PATH"].split(":")
    assert paths[0] == str(serve.TEMPLATE_ROOT) and paths[-1] == "/elsewhere"
    bundle = Path(paths[1]) / "voila" / env[serve.PLOTLY_BUNDLE_ENV]
    assert bundle.is_file() and bundle.stat().st_size > 1_000_000
    assert (serve.TEMPLATE_ROOT / "voila" / "templates" / "segkit" / "index.html.j2").is_file()


def test_serve_rejects_a_bad_port(capsys):
    from segkit.server import serve

    with pytest.raises(SystemExit):
        serve.main(["--port", "eighty"])
    assert "not a port number" in capsys.readouterr().err


# ------------------------------------------------------------------ real data

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
    assert len(_decode(views.csv_data_uri(table))) == len(uk)


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


def test_voila_command_limits_uploads_and_culls_idle_kernels():
    import json as _json

    from segkit.server import serve

    command = serve.voila_command(9999, open_browser=False, env={"SEGKIT_MAX_UPLOAD_MB": "3",
                                                                  "SEGKIT_CULL_IDLE_SECONDS": "900"})
    settings = [c for c in command if c.startswith("--Voila.tornado_settings=")]
    assert len(settings) == 1
    limit = _json.loads(settings[0].split("=", 1)[1])["websocket_max_message_size"]
    assert limit == 2 * 3 * 2**20 + 2**20 and isinstance(limit, int)
    for option in ("--MappingKernelManager.cull_idle_timeout=900", "--MappingKernelManager.cull_interval=60",
                   "--MappingKernelManager.cull_connected=False", "--VoilaExecutor.iopub_timeout=120",
                   "--VoilaConfiguration.file_allowlist=(?!)"):
        assert option in command
    assert serve.max_upload_bytes({}) == 50 * 2**20
    with pytest.raises(ValueError, match="SEGKIT_MAX_UPLOAD_MB"):
        serve.max_upload_bytes({"SEGKIT_MAX_UPLOAD_MB": "lots"})


def test_dashboard_refuses_an_upload_above_the_limit(sample_state, monkeypatch):
    from segkit.dashboard.score import ScorePanel

    monkeypatch.setenv("SEGKIT_MAX_UPLOAD_MB", "0.001")  # 1,048 bytes
    panel = ScorePanel(sample_state)
    panel.upload.receive("big.csv", b"x" * 1100)
    message = panel.upload_result.value
    assert "seg-upload-too-large" in message and "big.csv" in message
    # Issue 22, point 4: what a viewer of the page can do, not a command or a server setting.
    assert "segkit" not in message and "SEGKIT_" not in message and "<code>" not in message
    assert "upload limit of 0.001 MB; split it into parts under 0.001 MB" in message  # not "under 0 MB"
    assert "upload them one by one" in message and "ask the person who runs this page" in message


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
def test_serve_with_a_token_turns_away_visitors_without_it(tmp_path):
    """`python -m segkit.server.serve --token=...`: the page needs ?token=, a wrong one is refused."""
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request

    from segkit.server import serve

    port = serve.free_port()
    env = {**os.environ, "SEGKIT_ARTIFACTS": str(tmp_path), "SEGKIT_DATA": ""}
    process = subprocess.Popen([sys.executable, "-m", "segkit.server.serve", f"--port={port}", "--no-browser",
                                "--token=s3cret-token"], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, cwd=serve.PROJECT_ROOT)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)

    def status(query: str) -> int:
        try:
            return opener.open(f"http://127.0.0.1:{port}/{query}", timeout=60).status
        except urllib.error.HTTPError as exc:
            return exc.code

    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                code = status("?token=s3cret-token")
                break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(1)
        assert code == 200
        assert status("") in (302, 403)
        assert status("?token=wrong") in (302, 403)
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_voila_json_holds_the_same_settings_as_make_run():
    """`voila dashboard.ipynb` in the project root reads voila.json: the same template,
    limits, pool and culling as `python -m segkit.server.serve` with default settings."""
    from segkit.server import serve

    assert json.loads(serve.VOILA_JSON.read_text()) == serve.voila_config({})
    command = serve.voila_command(8866, open_browser=False, env={})
    config = serve.voila_config({})
    assert f"--template={config['VoilaConfiguration']['template']}" in command
    assert "--Voila.tornado_settings=" + json.dumps(config["Voila"]["tornado_settings"]) in command
    for section in ("MappingKernelManager", "CappedKernelManager", "VoilaKernelManager"):
        for key, value in config[section].items():
            assert f"--{section}.{key}={value}" in command
    assert "--VoilaConfiguration.multi_kernel_manager_class=segkit.server.kernels.CappedKernelManager" in command


def test_pool_and_cap_follow_the_machine_and_settings():
    """Pool and cap from cores and memory; settings checked with one sentence."""
    from segkit.server import serve
    from segkit.server.kernels import KERNEL_MB, pool_and_cap

    assert pool_and_cap(2, 24_000) == (10, 20)  # this machine: cores bound both
    assert pool_and_cap(8, 4_000) == (6, 6)  # little memory: 0.6 * 4 GB / 350 MB kernels
    assert pool_and_cap(1, 100) == (1, 1)  # never below one
    assert pool_and_cap(64, 10**6)[1] == 640 and KERNEL_MB >= 250
    config = serve.voila_config({"SEGKIT_POOL_SIZE": "3", "SEGKIT_MAX_KERNELS": "7", "SEGKIT_POOL_FILL_DELAY": "0"})
    assert config["CappedKernelManager"] == {"pool_size": "3", "max_visitor_kernels": "7"}
    assert config["VoilaKernelManager"]["fill_delay"] == 0.0
    for name, value in (("SEGKIT_POOL_SIZE", "many"), ("SEGKIT_MAX_KERNELS", "0"), ("SEGKIT_POOL_FILL_DELAY", "auto")):
        with pytest.raises(SystemExit, match=name):
            serve.voila_config({name: value})


@pytest.mark.slow
def test_serve_analyst_flag_sets_analyst_mode(monkeypatch):
    from segkit.server import serve

    seen = {}
    monkeypatch.setattr(serve.os, "execve", lambda path, args, env: seen.update(env=env, args=args))
    monkeypatch.delenv("SEGKIT_ANALYST", raising=False)
    serve.main(["--port", "9999", "--no-browser", "--no-train"])  # never train into the project's artifacts/
    assert seen["env"].get("SEGKIT_ANALYST", "") == ""
    serve.main(["--port", "9999", "--no-browser", "--analyst", "--no-train"])
    assert seen["env"]["SEGKIT_ANALYST"] == "1"


def test_score_panel_shows_the_loaders_warnings(state, monkeypatch):
    import segkit.dashboard.score as score

    scored = state.everyone.head(5).copy()
    scored.attrs["notes"] = ["The log covers 20 days, shorter than the model's 365-day window."]
    monkeypatch.setattr(score, "score_upload", lambda content, name, model, dayfirst=None, history=None, columns=None: scored)
    panel = score.ScorePanel(state)
    panel.upload.receive("short.csv", b"anything")
    assert "shorter than the model" in panel.upload_result.value and "Scored 5 of 5" in panel.upload_result.value


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


def test_upload_messages_name_what_a_viewer_can_do_not_command_line_switches(state, sample_log, tmp_path):
    """Issue 22, point 4: each refused upload says how to fix the file or which of the page's
    controls to use, never a switch of the command line (--columns, --sheet, ...)."""
    import html as _html

    import segkit.dashboard.score as score

    log = sample_log.head(300).drop(columns=["TotalPrice"], errors="ignore")
    workbook = tmp_path / "two_sheets.xlsx"
    with pd.ExcelWriter(workbook) as sheets:
        log.head(20).to_excel(sheets, sheet_name="Orders", index=False)
        pd.DataFrame({"Note": ["exported 2011"]}).to_excel(sheets, sheet_name="About", index=False)
    ambiguous = log[log["InvoiceDate"].dt.day <= 12]
    files = {
        "renamed.csv": (log.rename(columns={"CustomerID": "Client"}).to_csv(index=False).encode(), "Client"),
        "shop_export.csv": (b"Date,Amount,Shop\n2011-01-01,3,x\n", "Date, Amount, Shop"),
        "no_quantity.csv": (log.drop(columns=["Quantity"]).to_csv(index=False).encode(), "no Quantity column"),
        "two_sheets.xlsx": (workbook.read_bytes(), "'About': Note"),
        "ambiguous.csv": (ambiguous.assign(InvoiceDate=ambiguous["InvoiceDate"].dt.strftime("%d/%m/%Y %H:%M"))
                          .to_csv(index=False).encode(), "Dates list"),
    }
    panel = score.ScorePanel(state)
    for name, (content, what) in files.items():
        panel.upload.receive(name, content)
        message = _html.unescape(panel.upload_result.value)
        assert "seg-error" in message and name in message and what in message, message
        assert not re.search(r"--[a-z]", message) and "segkit " not in message, message
        # what to do: upload it again, or (columns not recognised) choose them in the page's Columns lists
        assert "upload the file again" in message or "press \u201cScore with these columns\u201d" in message, message
    # The command line keeps its own words: the same file refused by the loader names --columns.
    with pytest.raises(SegkitDataError, match="--columns"):
        score.score_upload(files["renamed.csv"][0], "renamed.csv", state.model)


@pytest.mark.slow
def test_upload_date_order_switch_reads_ambiguous_dates(state, sample_log):
    """An upload whose dates all read either way is refused with the page's own way out,
    and read day-first or month-first once the viewer says which."""
    import segkit.dashboard.score as score

    log = sample_log.head(400).copy()
    log = log[log["InvoiceDate"].dt.day <= 12]
    stamps = log["InvoiceDate"]
    panel = score.ScorePanel(state)
    day_first = log.assign(InvoiceDate=stamps.dt.strftime("%d/%m/%Y %H:%M")).to_csv(index=False).encode()
    panel.upload.receive("uk.csv", day_first)
    assert "Dates list" in panel.upload_result.value and "seg-error" in panel.upload_result.value
    panel.date_order.value = True
    panel.upload.receive("uk.csv", day_first)
    assert "seg-error" not in panel.upload_result.value and "Scored" in panel.upload_result.value
    month_first = log.assign(InvoiceDate=stamps.dt.strftime("%m/%d/%Y %H:%M")).to_csv(index=False).encode()
    scored_day = score.score_upload(day_first, "uk.csv", state.model, True)
    scored_month = score.score_upload(month_first, "us.csv", state.model, False)
    pd.testing.assert_frame_equal(scored_day[["Recency", "Segment"]], scored_month[["Recency", "Segment"]])


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


# ------------------------------------------------------------------ issue 22: KPIs of the window

def _pandas_kpis(data, country, spend_min, start, end, category):
    """The KPIs of a view straight from the clean lines with pandas: the window's
    customers, orders, spend and average order, and the whole period's (same country and
    spend filters, every date and category)."""
    from segkit.views.tables import ALL, line_categories

    customers = data.customers
    keep = customers.index.to_series().astype(str)
    ok = pd.Series(True, index=customers.index)
    if country != ALL:  # one country, or several (a tuple)
        ok &= customers["Country"].isin([country] if isinstance(country, str) else list(country))
    if spend_min is not None:
        ok &= customers["TotalSpend"] >= spend_min
    kept = set(keep[ok.to_numpy(bool)])
    lines = data.lines
    inside = lines["CustomerID"].astype(str).isin(kept)
    if start is not None:
        inside &= lines["InvoiceDate"] >= pd.Timestamp(start)
    if end is not None:
        inside &= lines["InvoiceDate"] < pd.Timestamp(end) + pd.Timedelta(days=1)
    if category != ALL:
        inside &= line_categories(lines) == category
    window = lines[inside.to_numpy(bool)]
    whole = customers[ok.to_numpy(bool)]
    orders = window["InvoiceNo"].nunique()
    return ({"Customers": window["CustomerID"].nunique(), "Orders": orders, "Spend": window["TotalPrice"].sum(),
             "AvgOrderValue": window["TotalPrice"].sum() / orders if orders else float("nan")},
            {"Customers": len(whole), "Orders": whole["NumPurchases"].sum(), "Spend": whole["TotalSpend"].sum(),
             "AvgOrderValue": whole["TotalSpend"].sum() / whole["NumPurchases"].sum() if len(whole) else float("nan")})


@pytest.mark.parametrize("country", ["All countries", "France"])
@pytest.mark.parametrize("spend_min", [None, 2000.0])
@pytest.mark.parametrize("dates", [(None, None), (date(2011, 9, 1), date(2011, 11, 30))])
@pytest.mark.parametrize("category", ["All categories", "Christmas"])
def test_kpis_under_date_and_category_filters_are_the_windows(state, sample_data, country, spend_min, dates, category):
    """Under a date or category filter the KPI cards show the window's customers, orders,
    spend and average order (from the lines in it), with the whole period's beside them:
    every filter combination against pandas on the built-in sample."""
    from segkit.dashboard.header import HeaderPanel, view_kpis
    from segkit.views.tables import ALL

    start, end = dates
    country = ALL if country == "All countries" else country
    category = ALL if category == "All categories" else category
    state.filters = Filters(country=country, spend_min=spend_min, start=start, end=end, category=category)
    numbers, _ = view_kpis(state)
    html_text = HeaderPanel(state).kpis.value
    if start is None and category == ALL:
        assert "Window" not in numbers and "Whole period" not in html_text
        return
    window, whole = _pandas_kpis(sample_data, country, spend_min, start, end, category)
    for key in ("Customers", "Orders", "Spend", "AvgOrderValue"):
        assert numbers["Window"][key] == pytest.approx(window[key], nan_ok=True), key
        assert numbers["Whole"][key] == pytest.approx(whole[key], nan_ok=True), key
    assert f"{window['Customers']:,}" in html_text and f"£{window['Spend']:,.2f}" in html_text
    assert f"Whole period: £{whole['Spend']:,.0f}" in html_text and f"Whole period: {whole['Customers']:,}" in html_text
    assert "Spend in the window" in html_text and "Orders in the window" in html_text
    if category != ALL:
        assert "in Christmas only" in html_text


def test_kpis_of_the_issue_22_view_on_the_real_data(real_data, tmp_path):
    """France, spend over £5,000, 01/09-30/11/2011, Christmas (issue 22): 7 customers spent
    £963.03 on Christmas items in 12 orders in that window (checked with pandas); the page
    used to show their whole-period £79,024 as "Total spend"."""
    from segkit.dashboard.header import HeaderPanel, view_kpis
    from segkit.dashboard.state import DashboardState, ModelStatus
    from segkit.pipeline.workflow import train_model

    model, _ = train_model(real_data, "auto")
    card = views.provisional_card(model, real_data.training_info())
    state = DashboardState(real_data, model, card, ModelStatus(False, "Not saved: test model."), tmp_path, VIEWER)
    args = ("France", 5000.0, date(2011, 9, 1), date(2011, 11, 30), "Christmas")
    state.filters = Filters(country=args[0], spend_min=args[1], start=args[2], end=args[3], category=args[4])
    numbers, _ = view_kpis(state)
    window, whole = _pandas_kpis(real_data, *args)
    assert window["Customers"] == 7 and window["Spend"] == pytest.approx(963.03)
    for key in ("Customers", "Orders", "Spend", "AvgOrderValue"):
        assert numbers["Window"][key] == pytest.approx(window[key]), key
        assert numbers["Whole"][key] == pytest.approx(whole[key]), key
    text = HeaderPanel(state).kpis.value
    assert "£963.03" in text and f"Whole period: £{whole['Spend']:,.0f}" in text


def test_compare_defaults_to_segments_in_the_segment_filter(state):
    """Issue 22: with a VIP filter the comparison no longer shows "0 At risk and 0 Budget"."""
    from segkit.dashboard.compare import ComparePanel

    panel = ComparePanel(state)
    names = state.segment_names
    for ticked in ((names[-1],), tuple(names[-2:]), (names[0], names[-1])):
        state.filters = Filters(segments=ticked)
        a, b = panel._pair()
        assert a in ticked and (b in ticked or len(ticked) == 1) and a != b, (ticked, a, b)
        assert f"Within the current filters: 0 {a}" not in panel.scope.value
        assert panel.compare_table.value == views.comparison_html(
            views.compare_segments(state.selection.shown if len(ticked) > 1 else panel._pair_frame(), a, b),
            state.currency)


def test_report_key_figures_are_the_windows_under_a_date_filter(state, sample_data):
    """The report's KPIs follow the page's (issue 22, point 2): the window's figures with
    the whole period's beside them."""
    from segkit.dashboard.report import report_html
    from segkit.dashboard.segments import SegmentsPanel

    segments = SegmentsPanel(state)
    state.filters = Filters(country="France", start=date(2011, 9, 1), end=date(2011, 11, 30), category="Christmas")
    text = report_html(state, segments.definitions())
    window, whole = _pandas_kpis(sample_data, "France", None, date(2011, 9, 1), date(2011, 11, 30), "Christmas")
    assert f"£{window['Spend']:,.2f}" in text and f"Whole period: £{whole['Spend']:,.0f}" in text
    assert "Spend in the window" in text and "in Christmas only" in text


def test_a_page_without_its_saved_model_says_so_plainly_and_logs_why(sample_data, tmp_path, capfd):
    """A viewer reads that the page computed its segments; the folder and what to run go to
    the server's log (the kernel's stderr), never to the page."""
    from segkit.dashboard.state import DashboardState

    state = DashboardState.load(sample_data, tmp_path / "no-model")
    assert not state.saved and state.status.text == "Segments computed for this page when it opened (not the saved model)."
    assert state.value_missing == "Lifetime value is not available for this model."
    log = capfd.readouterr().err
    assert str(tmp_path / "no-model") in log and "segkit train" in log


def test_print_header_states_title_period_and_filters_and_follows_them(state, sample_data):
    from segkit.dashboard.printout import PrintHeader

    header = PrintHeader(state)
    start, end = sample_data.period
    text = header.widget.value
    assert "<h1>Customer segments</h1>" in text and f"{start:%d %b %Y} – {end:%d %b %Y}" in text
    assert "No filter: every customer" in text and "@media print" in text
    state.filters = Filters(country="France", spend_min=500.0)
    text = header.widget.value
    assert "Country: France" in text and "Total spend from £500" in text
    assert f"Customers shown</b>: {len(state.selection):,} of {len(sample_data.customers):,}" in text


def test_rows_left_out_are_counted_for_paper(state):
    from segkit.dashboard.printout import rows_left_out_html
    from segkit.dashboard.table import TablePanel

    assert rows_left_out_html(1, 25, 25) == "" and rows_left_out_html(1, 0, 0) == ""
    assert "Rows 26–45 of 45 shown; 25 more rows not shown" in rows_left_out_html(26, 45, 45)
    assert "; 1 more row not shown" in rows_left_out_html(1, 25, 26)
    panel = TablePanel(state)
    total = len(state.selection)
    assert f"Rows 1–25 of {total:,} shown; {total - 25:,} more rows not shown" in panel.left_out.value


# ------------------------------------------------------------------ issue 21: evidence and uploads that join the log

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
    summary = _decode(segments.summary_download.value.split('href="', 1)[1].split('"', 1)[0])
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
    summary = _decode(segments.summary_download.value.split('href="', 1)[1].split('"', 1)[0])
    assert (summary["Evidence"] == NO_EVIDENCE).all()
    glossary = report_html(state, segments.definitions()).split("What the segments mean", 1)[1]
    assert glossary.count(NO_EVIDENCE) >= len(state.segment_names)


def _new_lines_for_known_customers(sample_log, segmented):
    """December's lines of the page's best customers (already in the log) and, a day after
    the log ends, an order from each of five Lost (or Lapsed) customers."""
    log = sample_log.drop(columns=["TotalPrice"], errors="ignore")
    ids = log["CustomerID"].astype("Int64").astype("string")
    in_december = set(ids[log["InvoiceDate"] >= "2011-12-01"])
    best = [c for c in segmented.sort_values("TotalSpend", ascending=False).index if c in in_december][:5]
    lost = segmented.index[segmented["Segment"].isin(["Lost", "Lapsed"])][:5]  # "Lapsed" where the backtest renamed it
    december = log[ids.isin(best) & (log["InvoiceDate"] >= "2011-12-01")]
    back = log[ids.isin(lost)].groupby("CustomerID").head(2).copy()
    back["InvoiceDate"] = log["InvoiceDate"].max() + pd.Timedelta(days=1)
    back["InvoiceNo"] = "N" + back["InvoiceNo"].astype(str)
    return pd.concat([december, back]), set(best), set(lost)


def test_an_upload_of_known_customers_joins_the_pages_log_and_lists_who_moved(state, sample_log, sample_data):
    """Issue 21, point 6: the page's best customers' December lines (already in its log)
    leave them where they were, never "New"; Lost customers who order again move by the
    rules of their whole history, and the page lists them (before -> after) with counts."""
    from segkit.dashboard.score import ScorePanel
    from segkit.pipeline.workflow import customers_for_scoring

    panel = ScorePanel(state)
    before = state.everyone["Segment"].astype(str)
    upload, best, lost = _new_lines_for_known_customers(sample_log, state.everyone)
    panel.upload.receive("december.csv", upload.to_csv(index=False).encode())
    result = panel.upload_result.value
    assert "seg-upload-moves" in result and "seg-error" not in result
    scored = _decode(result.split('href="', 1)[1].split('"', 1)[0]).set_index("Customer")
    scored.index = scored.index.astype(str)
    assert set(scored.index) == best | lost
    # exactly what the whole log with the new lines gives
    whole = pd.concat([sample_log.drop(columns=["TotalPrice"], errors="ignore"), upload])
    expected = state.model.segment(customers_for_scoring(whole.drop_duplicates(), state.model))["Segment"]
    assert (scored["Segment"] == expected.reindex(scored.index)).all()
    assert (scored.loc[list(best), "Segment"] == before.reindex(list(best))).all()  # nothing new for them
    assert not (scored["Segment"] == "New").any()
    assert (scored["Segment before the upload"] == before.reindex(scored.index)).all()
    moved = scored[scored["Segment"] != scored["Segment before the upload"]]
    assert len(moved) >= 3 and set(moved.index) <= lost
    assert f"{len(moved):,} of the {len(scored):,} customers this page already knew moved segment" in result
    for (old, new), n in moved.groupby(["Segment before the upload", "Segment"]).size().items():
        assert f"{n:,} {old} \u2192 {new}" in result
        for customer in moved.index[(moved["Segment before the upload"] == old) & (moved["Segment"] == new)]:
            assert f"<tr><td>{customer}</td><td>{old}</td><td>{new}</td></tr>" in result


def test_an_upload_of_unknown_customers_is_scored_on_its_own_with_the_short_window_said(state, sample_log):
    from segkit.dashboard.score import ScorePanel

    panel = ScorePanel(state)
    december = sample_log[sample_log["InvoiceDate"] >= "2011-12-01"].drop(columns=["TotalPrice"], errors="ignore")
    strangers = december.assign(CustomerID=december["CustomerID"].astype("Int64").astype("string").radd("9"))
    panel.upload.receive("strangers.csv", strangers.to_csv(index=False).encode())
    result = panel.upload_result.value
    assert "None of the customers in strangers.csv are in this page's log" in result
    assert "covers 9 days of purchases" in result and "look less valuable than they are" in result
    assert "seg-upload-moves" not in result and "--allow-short-window" not in result
