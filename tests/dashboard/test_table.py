"""segkit.dashboard.table: the customer table panel, without a browser."""
from __future__ import annotations

from dashboard_checks import decode_csv_href

from segkit.views.tables import Filters


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
    downloaded = decode_csv_href(href)
    assert list(downloaded.columns)[:3] == ["Customer", "Segment", "Country"]
    assert "Recommendation" in downloaded and "Fit to segment (0-1; lower near a stage change)" in downloaded
    assert (downloaded["Country"] == "France").all() and len(downloaded) == len(state.selection)
