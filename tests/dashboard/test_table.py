"""segkit.dashboard.table: the customer table panel, without a browser."""
from __future__ import annotations

from dashboard_checks import VIEWER, decode_csv_href

from segkit.views.tables import Filters
from segkit.views.wording import COLUMN_TITLES


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
    assert "Recommendation" in downloaded and COLUMN_TITLES["Confidence"] in downloaded
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


def test_table_and_csv_say_the_share_of_refits_that_keep_each_label(sample_data, sample_model, tmp_path):
    """Issue 21: with the refits ``segkit train`` stores, the table and its CSV say per customer
    in how many refits the label is kept, and Confidence is that share."""
    import copy

    from segkit.dashboard.state import DashboardState, ModelStatus
    from segkit.dashboard.table import TablePanel
    from segkit.modeling.validation import store_refits
    from segkit.views.tables import provisional_card, table_html

    model = store_refits(copy.deepcopy(sample_model), sample_data.customers, n_refits=4)
    state = DashboardState(sample_data, model, provisional_card(model, sample_data.training_info()),
                           ModelStatus(False, "Not saved: test model."), tmp_path, VIEWER)
    panel = TablePanel(state)
    assert "Label kept in this share of refits" in panel.table.value
    href = panel.download.value.split('href="', 1)[1].split('"', 1)[0]
    downloaded = decode_csv_href(href)
    kept = downloaded["Label kept in this share of refits"]
    assert kept.between(0, 1).all() and (kept < 1).any()
    assert (downloaded[COLUMN_TITLES["Confidence"]] <= kept + 1e-9).all()
    html = table_html(state.selection.shown.head(5).assign(KeptInRefits=[1.0, 0.5, 0.25, 0.0, 0.75]))
    assert "50 %" in html and "25 %" in html
