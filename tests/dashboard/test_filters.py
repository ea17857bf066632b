"""segkit.dashboard.filters: the filters panel, without a browser."""
from __future__ import annotations

from datetime import date

from segkit.views.tables import Filters


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
