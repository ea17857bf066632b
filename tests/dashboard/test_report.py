"""segkit.dashboard.report: the downloadable report, without a browser."""
from __future__ import annotations

from datetime import date

from dashboard_checks import pandas_kpis

from segkit.views.tables import Filters


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


def test_report_key_figures_are_the_windows_under_a_date_filter(state, sample_data):
    """The report's KPIs follow the page's: the window's figures with
    the whole period's beside them."""
    from segkit.dashboard.report import report_html
    from segkit.dashboard.segments import SegmentsPanel

    segments = SegmentsPanel(state)
    state.filters = Filters(country="France", start=date(2011, 9, 1), end=date(2011, 11, 30), category="Christmas")
    text = report_html(state, segments.definitions())
    window, whole = pandas_kpis(sample_data, "France", None, date(2011, 9, 1), date(2011, 11, 30), "Christmas")
    assert f"£{window['Spend']:,.2f}" in text and f"Whole period: £{whole['Spend']:,.0f}" in text
    assert "Spend in the window" in text and "in Christmas only" in text
