"""Several countries at once: the filter, the
link (``country=France,Germany``; old single-country links), the view's name and words,
and every number of the page under France + Germany against pandas on the sample."""
from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from dashboard_checks import VIEWER, pandas_kpis

from segkit.dashboard.urlsync import encode_query, parse_query, view_name
from segkit.views import tables as views
from segkit.views.tables import ALL, Filters

BOTH = ("France", "Germany")


def test_filters_hold_the_countries_as_a_sorted_tuple():
    assert Filters(country=("Germany", "France", "France")).country == BOTH
    assert Filters(country="France") == Filters(country=("France",))  # older code's single name
    assert Filters(country=ALL) == Filters() == Filters(country=None)
    assert Filters().country == ()


def test_filter_mask_keeps_the_customers_of_any_country_chosen(sample_segmented):  # noqa: F811
    mask = views.filter_mask(sample_segmented, Filters(country=BOTH))
    expected = sample_segmented["Country"].isin(BOTH).to_numpy(bool)
    assert mask.sum() == expected.sum() > 0 and (mask == expected).all()
    assert set(sample_segmented.loc[mask, "Country"]) == set(BOTH)
    one = views.filter_mask(sample_segmented, Filters(country=("France",)))
    assert (one == (sample_segmented["Country"] == "France").to_numpy(bool)).all()
    assert one.sum() < mask.sum()
    segment = sample_segmented["Segment"].iloc[0]
    both_and_segment = views.filter_mask(sample_segmented, Filters(country=BOTH, segments=(segment,)))
    assert (both_and_segment == (expected & (sample_segmented["Segment"] == segment).to_numpy(bool))).all()


COUNTRIES = ["France", "Germany", "Korea, Republic of", "Korea", "United Kingdom"]


@pytest.mark.parametrize("query,countries", [
    ("country=France,Germany", BOTH),
    ("country=France&country=Germany", BOTH),
    ("country=Germany,France", BOTH),
    ("country=France", ("France",)),  # an old single-country link
    ("country=All", ()),
    ("country=Korea,+Republic+of", ("Korea, Republic of",)),  # a name holding a comma
    ("country=Korea%2C+Republic+of,France", ("France", "Korea, Republic of")),
    ("country=Korea,France", ("France", "Korea")),
    ("country=United+Kingdom,Korea,+Republic+of", ("Korea, Republic of", "United Kingdom")),
])
def test_links_read_several_countries(query, countries):
    parsed = parse_query(query, ["VIP"], COUNTRIES, [])
    assert parsed.filters.country == countries and parsed.ignored == ()


def test_links_round_trip_several_countries_and_keep_the_known_ones():
    for chosen in (BOTH, ("Korea, Republic of", "France"), ("Korea", "Korea, Republic of"), ("United Kingdom",)):
        filters = Filters(country=chosen, segments=("VIP",))
        query = encode_query(filters, "light")
        assert parse_query(query, ["VIP"], COUNTRIES, []).filters == filters, query
    assert encode_query(Filters(country=BOTH), "light") == "country=France,Germany"
    assert encode_query(Filters(country=("France",)), "light") == "country=France"
    parsed = parse_query("country=France,Mars,Germany", ["VIP"], COUNTRIES, [])
    assert parsed.filters.country == BOTH and parsed.ignored == ("country 'Mars'",)
    assert parse_query("country=Mars", ["VIP"], COUNTRIES, []).filters == Filters()


def test_view_name_and_words_state_every_country(state):  # noqa: F811
    from segkit.dashboard.report import filters_in_words

    assert view_name(Filters(country=BOTH)) == "segments_France-Germany"
    assert view_name(Filters(segments=("VIP",), country="France")) == "segments_VIP_France"
    state.filters = Filters(country=BOTH)
    assert "Countries: France, Germany" in filters_in_words(state)
    from segkit.dashboard.printout import print_header_html

    both = int(state.data.customers["Country"].isin(BOTH).sum())
    printed = print_header_html(state)  # the filters stated first on paper
    assert "<li>Countries: France, Germany</li>" in printed and f"{both:,} of {len(state.data.customers):,}" in printed
    state.filters = Filters(country="France")
    assert "Country: France" in filters_in_words(state)


@pytest.mark.parametrize("dates,category", [((None, None), ALL), ((date(2011, 9, 1), date(2011, 11, 30)), ALL),
                                            ((None, None), "Christmas")])
def test_kpis_and_panels_under_france_and_germany_are_pandas(state, sample_data, dates, category):  # noqa: F811
    """The KPIs (whole period, and a window's beside it), the summary, the table and the
    value panel's customers under France + Germany, against pandas on the clean lines."""
    from segkit.dashboard.header import view_kpis
    from segkit.dashboard.value_panel import customers_followed

    start, end = dates
    state.filters = Filters(country=BOTH, start=start, end=end, category=category)
    numbers, _ = view_kpis(state)
    customers = sample_data.customers
    kept = customers[customers["Country"].isin(BOTH)]
    if start is None and category == ALL:
        assert numbers["Customers"] == len(kept) > 0
        assert numbers["TotalSpend"] == pytest.approx(kept["TotalSpend"].sum())
        assert numbers["AvgOrderValue"] == pytest.approx(kept["TotalSpend"].sum() / kept["NumPurchases"].sum())
        assert numbers["AvgPurchases"] == pytest.approx(kept["NumPurchases"].mean())
    else:
        window, whole = pandas_kpis(sample_data, BOTH, None, start, end, category)
        for key in ("Customers", "Orders", "Spend", "AvgOrderValue"):
            assert numbers["Window"][key] == pytest.approx(window[key]), key
            assert numbers["Whole"][key] == pytest.approx(whole[key]), key
    shown = state.selection.shown
    assert set(shown["Country"]) <= set(BOTH) and set(shown.index) <= set(kept.index.astype(str))
    assert int(state.selection.summary["Customers"].sum()) == len(shown)
    rows = state.table_rows("TotalSpend", False)
    assert len(rows) == len(shown) and set(state.table_frame().iloc[rows]["Country"]) <= set(BOTH)
    followed = customers_followed(state.everyone, state.filters)
    assert len(followed) == len(kept) and set(followed["Country"]) == set(BOTH)


def test_the_country_list_takes_several_and_all_countries_clears_it(state):  # noqa: F811
    from segkit.dashboard.filters import FiltersPanel

    panel = FiltersPanel(state)
    assert panel.country_filter.value == () and list(panel.country_filter.options) == state.countries
    panel.country_filter.value = ("Germany", "France")
    assert state.filters.country == BOTH
    panel.country_filter.value = tuple(panel.country_filter.options)  # every one chosen: no filter
    assert state.filters.country == ()
    state.filters = Filters(country=BOTH)  # a link
    assert panel.country_filter.value == BOTH
    panel.all_countries.click()
    assert state.filters == Filters() and panel.country_filter.value == ()


def test_a_link_with_two_countries_opens_that_view_and_writes_it_back(sample_data, tmp_path):
    from segkit.dashboard import Dashboard

    dash = Dashboard(sample_data, artifacts=tmp_path, settings=VIEWER, query="country=France,Germany")
    assert dash.state.filters.country == BOTH
    assert dash.bridge.query == "country=France,Germany"
    table = dash.table.table.value
    assert "France" in table and "Germany" in table and "United Kingdom" not in table
    expected = int(sample_data.customers["Country"].isin(BOTH).sum())
    assert len(dash.state.selection) == expected
    assert np.isclose(dash.state.selection.shown["TotalSpend"].sum(),
                      sample_data.customers.loc[sample_data.customers["Country"].isin(BOTH), "TotalSpend"].sum())


def test_kpis_under_france_and_germany_on_the_real_data(real_data, tmp_path):
    """The real workbook: France + Germany hold 181 customers (87 + 94) spending
    £382,622.50 over the whole period; the KPIs, and a window's beside them, are pandas'."""
    from segkit.dashboard.header import view_kpis
    from segkit.dashboard.state import DashboardState, ModelStatus
    from segkit.pipeline.workflow import train_model

    model, _ = train_model(real_data, "auto")
    card = views.provisional_card(model, real_data.training_info())
    state = DashboardState(real_data, model, card, ModelStatus(False, "Not saved: test model."), tmp_path, VIEWER)
    customers = real_data.customers
    kept = customers[customers["Country"].isin(BOTH)]
    state.filters = Filters(country=BOTH)
    numbers, _ = view_kpis(state)
    assert numbers["Customers"] == len(kept) == 181
    assert numbers["TotalSpend"] == pytest.approx(kept["TotalSpend"].sum()) == pytest.approx(382_622.50)
    state.filters = Filters(country=BOTH, start=date(2011, 9, 1), end=date(2011, 11, 30))
    numbers, _ = view_kpis(state)
    window, whole = pandas_kpis(real_data, BOTH, None, date(2011, 9, 1), date(2011, 11, 30), ALL)
    for key in ("Customers", "Orders", "Spend", "AvgOrderValue"):
        assert numbers["Window"][key] == pytest.approx(window[key]), key
        assert numbers["Whole"][key] == pytest.approx(whole[key]), key
    print(f"\nFrance + Germany, 01/09-30/11/2011: {window}; whole period {whole}")
