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


def test_table_csv_says_each_customer_s_segment_evidence(state, monkeypatch):
    """Issue 21: the table's CSV carries, after the recommendation, what customers like each
    row's segment's did next (the page's evidence for that segment); a CSV too long for a
    data URI goes to the browser as a Blob, with the same rows."""
    import io

    import pandas as pd

    from segkit.dashboard import table as table_module
    from segkit.dashboard.table import TablePanel
    from segkit.views.tables import EVIDENCE_TITLE

    panel = TablePanel(state)
    href = panel.download.value.split('href="', 1)[1].split('"', 1)[0]
    downloaded = decode_csv_href(href)
    columns = list(downloaded.columns)
    assert columns.index(EVIDENCE_TITLE) == columns.index("Recommendation") + 1
    said = state.evidence
    assert said and (downloaded[EVIDENCE_TITLE] == downloaded["Segment"].astype(str).map(said)).all()
    assert len(downloaded) == len(state.selection)
    monkeypatch.setattr(table_module, "DATA_URI_MAX_BYTES", 1000)
    panel.show()
    assert panel.download.value == "" and panel.big_download.content
    blob = pd.read_csv(io.BytesIO(panel.big_download.content), dtype={"Customer": str})
    pd.testing.assert_frame_equal(blob, downloaded.astype({"Customer": blob["Customer"].dtype}))
