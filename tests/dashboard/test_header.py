"""segkit.dashboard.header: the key figures and warnings above the page, without a browser."""
from __future__ import annotations

from datetime import date

import pytest
from dashboard_checks import VIEWER, pandas_kpis

from segkit.views import tables as views
from segkit.views.tables import Filters


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
    window, whole = pandas_kpis(sample_data, country, spend_min, start, end, category)
    for key in ("Customers", "Orders", "Spend", "AvgOrderValue"):
        assert numbers["Window"][key] == pytest.approx(window[key], nan_ok=True), key
        assert numbers["Whole"][key] == pytest.approx(whole[key], nan_ok=True), key
    assert f"{window['Customers']:,}" in html_text and f"£{window['Spend']:,.2f}" in html_text
    assert f"Whole period: £{whole['Spend']:,.0f}" in html_text and f"Whole period: {whole['Customers']:,}" in html_text
    assert "Spend in the window" in html_text and "Orders in the window" in html_text
    if category != ALL:
        assert "in Christmas only" in html_text


def test_kpis_of_the_issue_22_view_on_the_real_data(real_data, tmp_path):
    """France, spend over £5,000, 01/09-30/11/2011, Christmas: 7 customers spent
    £963.03 on Christmas items in 12 orders in that window (checked with pandas), not
    their whole-period £79,024."""
    from segkit.dashboard.header import HeaderPanel, view_kpis
    from segkit.dashboard.state import DashboardState, ModelStatus
    from segkit.pipeline.workflow import train_model

    model, _ = train_model(real_data, "auto")
    card = views.provisional_card(model, real_data.training_info())
    state = DashboardState(real_data, model, card, ModelStatus(False, "Not saved: test model."), tmp_path, VIEWER)
    args = ("France", 5000.0, date(2011, 9, 1), date(2011, 11, 30), "Christmas")
    state.filters = Filters(country=args[0], spend_min=args[1], start=args[2], end=args[3], category=args[4])
    numbers, _ = view_kpis(state)
    window, whole = pandas_kpis(real_data, *args)
    assert window["Customers"] == 7 and window["Spend"] == pytest.approx(963.03)
    for key in ("Customers", "Orders", "Spend", "AvgOrderValue"):
        assert numbers["Window"][key] == pytest.approx(window[key]), key
        assert numbers["Whole"][key] == pytest.approx(whole[key]), key
    text = HeaderPanel(state).kpis.value
    assert "£963.03" in text and f"Whole period: £{whole['Spend']:,.0f}" in text
