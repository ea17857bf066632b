"""segkit.dashboard.printout: what the printed page says."""
from __future__ import annotations

from segkit.views.tables import Filters


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
