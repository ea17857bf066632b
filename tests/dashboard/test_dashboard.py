"""What several panels say together, without a browser: every CSV and the report carry each
segment's evidence (``segkit.pipeline.backtest``), or say that nothing was measured."""
from __future__ import annotations

import pytest
from dashboard_checks import VIEWER, decode_csv_href

from segkit.pipeline.workflow import train_model
from segkit.views import tables as views
from segkit.views.tables import Filters


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
    summary = decode_csv_href(segments.summary_download.value.split('href="', 1)[1].split('"', 1)[0])
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
    summary = decode_csv_href(segments.summary_download.value.split('href="', 1)[1].split('"', 1)[0])
    assert (summary["Evidence"] == NO_EVIDENCE).all()
    glossary = report_html(state, segments.definitions()).split("What the segments mean", 1)[1]
    assert glossary.count(NO_EVIDENCE) >= len(state.segment_names)


