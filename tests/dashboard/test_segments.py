"""segkit.dashboard.segments: the segments panel and its glossary, without a browser."""
from __future__ import annotations

import pandas as pd
from dashboard_checks import count_rows

from segkit.views.tables import Filters


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
    assert count_rows(panel.summary.value) == 1
    # After a filter that leaves nobody, the heatmap gets its axes back (once the summary is shown).
    assert panel.charts == [] and panel.summary_view() is panel and len(panel.charts) == 2
    heatmap = panel.heatmap_chart.widget
    state.filters = Filters(country="Nowhere")
    assert heatmap.layout.xaxis.visible is False
    state.filters = Filters()
    assert heatmap.layout.xaxis.visible is True and heatmap.layout.yaxis.visible is True


def test_glossary_says_under_a_filter_that_its_numbers_are_the_whole_shops(state, sample_data):
    """Under a country filter the glossary keeps the whole shop's numbers
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
    """Within the ten-visitor memory aim: the closed, never opened
    top-products section holds a note a printed page shows (reading the order lines for it
    would cost every kernel about 100 MB on the real data); opened, it holds the tables, and
    closing it again keeps them for printing."""
    from segkit.dashboard.segments import (
        PRODUCTS_ON_REQUEST,
        SegmentsPanel,
        products_html,
    )

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
