"""segkit.dashboard.changes_panel without a browser: what changed and campaign planning on the
page, in the report and in the campaign CSV."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segkit.pipeline.workflow import train_model
from segkit.views import tables as views
from segkit.views.tables import Filters


@pytest.fixture(scope="module")
def evidence_state(sample_data, tmp_path_factory):
    """A state over the sample whose model carries its backtest (what ``segkit train`` saves)."""
    from segkit.config import Settings
    from segkit.dashboard.state import DashboardState, ModelStatus
    from segkit.pipeline.backtest import apply_evidence, backtest_segments

    model, _ = train_model(sample_data, 5)
    apply_evidence(model, backtest_segments(sample_data.lines, model=model, n_boot=20))
    card = views.provisional_card(model, sample_data.training_info())
    return DashboardState(sample_data, model, card, ModelStatus(False, "Not saved: test model."),
                          tmp_path_factory.mktemp("artifacts"), Settings(currency="£", analyst=False))


@pytest.fixture()
def state(evidence_state):
    evidence_state.filters = Filters()
    evidence_state.campaign_cost, evidence_state.campaign_uplift = 1.0, 0.10
    return evidence_state


def _per_member_spend(state) -> pd.Series:
    return pd.Series({name: fig["mean_spend"] for name, fig in state.model.evidence_["segments"].items()})


@pytest.mark.slow
def test_the_last_months_sizes_are_the_segments_the_page_shows_now(state):
    """The month that ends at the log's last day is the saved model on every line: the same
    customers per segment as the page's own segmentation (pandas value_counts)."""
    from segkit.dashboard.changes_panel import sizes_of

    sizes = sizes_of(state)
    last = sizes[sizes["AsOf"] == sizes["AsOf"].max()].set_index("Segment")["Customers"]
    now = state.scored["Segment"].astype(str).value_counts()
    assert last[last > 0].sort_index().to_dict() == now.sort_index().to_dict()
    assert sizes.loc[sizes["AsOf"] == sizes["AsOf"].max(), "Partial"].all()


@pytest.mark.slow
def test_the_panel_computes_on_opening_and_the_plan_follows_cost_uplift_and_filters(state):
    from segkit.dashboard.changes_panel import CampaignPanel, ChangesPanel

    changes = ChangesPanel(state)
    assert changes.sizes.value == "" and changes.charts == []  # nothing computed before opening
    changes.accordion.selected_index = 0
    assert "seg-sizes-table" in changes.sizes.value and 'data-days="7"' in changes.moves.value
    changes.days.value = 30
    assert 'data-days="30"' in changes.moves.value and "Moves of the last 30 days" in changes.moves.value

    panel = CampaignPanel(state)
    spend = _per_member_spend(state)
    counts = state.selection.summary.set_index("Segment")["Customers"]
    name = counts.index[0]
    expected = counts[name] * spend[name] * 0.10
    assert f'data-segment="{name}"' in panel.table.value
    assert f'data-column="ExpectedExtraRevenue" data-value="{expected:.6f}"' in panel.table.value
    panel.cost.value, panel.uplift.value = 3.0, 50
    assert (state.campaign_cost, state.campaign_uplift) == (3.0, 0.5)
    net = counts[name] * spend[name] * 0.5 - 3.0 * counts[name]
    assert f'data-column="Net" data-value="{net:.6f}"' in panel.table.value
    assert "£3.00 per contact and 50% uplift" in panel.table.value

    state.filters = Filters(country="France")  # the plan is for the segments shown
    france = state.scored[state.scored["Country"] == "France"]["Segment"].astype(str).value_counts()
    for segment, n in france.items():
        assert f'<tr data-segment="{segment}"><td class="text" data-column="Segment">{segment}</td>' \
               f'<td class="num" data-column="Customers">{n:,}</td>' in panel.table.value


@pytest.mark.slow
def test_the_report_and_the_campaign_csv_carry_the_plan_and_what_changed(state):
    from segkit.dashboard.report import report_html
    from segkit.dashboard.segments import SegmentsPanel
    from segkit.dashboard.table import TablePanel

    state.campaign_cost, state.campaign_uplift = 2.0, 0.2
    report = report_html(state, SegmentsPanel(state).definitions())
    assert "<h2>Campaign planning</h2>" in report and "£2.00 per contact and 20% uplift" in report
    assert "<h2>What changed</h2>" in report and "seg-sizes-table" in report
    assert 'data-days="7"' in report and 'data-days="30"' in report

    rows = TablePanel(state).campaign_rows
    title = "Segment's expected extra revenue at £2.00 per contact and 20% uplift (£)"
    sizes = state.selection.shown["Segment"].astype(str).value_counts()
    expected = rows["Segment"].map(lambda s: sizes[s] * _per_member_spend(state)[s] * 0.2)
    assert np.allclose(rows[title].astype(float), expected)
    assert (rows["Customers in the segment (shown)"] == rows["Segment"].map(sizes)).all()


def test_without_a_backtest_the_plan_says_not_measured_never_zero(sample_data, tmp_path):
    from segkit.config import Settings
    from segkit.dashboard.changes_panel import campaign_html, plan_of
    from segkit.dashboard.state import DashboardState, ModelStatus
    from segkit.dashboard.table import campaign_csv
    from segkit.modeling.model import SegmentationModel

    model = SegmentationModel.from_preset("default", n_clusters=3).fit(sample_data.customers)
    card = views.provisional_card(model, sample_data.training_info())
    state = DashboardState(sample_data, model, card, ModelStatus(False, "test"), tmp_path,
                           Settings(currency="£", analyst=False))
    text = campaign_html(state)
    assert "not measured" in text and "£0<" not in text
    rows = campaign_csv(state.selection.shown, "£", state.evidence, plan=plan_of(state), cost=1.0, uplift=0.1)
    extra = [c for c in rows.columns if c.startswith("Segment's expected extra revenue")]
    assert extra and (rows[extra[0]] == "not measured").all()


@pytest.mark.slow
def test_the_report_reuses_what_the_page_computed_until_the_data_or_the_model_changes(evidence_state, sample_data,
                                                                                      tmp_path, monkeypatch):
    """What changed is computed once per page: opening the section computes the sizes and
    the moves of 7 and 30 days, two reports after it compute nothing again (calls counted).
    New data of the same log (a live refresh: ``set_data``) and a retrained model each give
    one new computation, and the report then shows the new figures."""
    import segkit.dashboard.changes_panel as changes_panel
    from segkit.config import Settings
    from segkit.dashboard.changes_panel import ChangesPanel
    from segkit.dashboard.report import report_html
    from segkit.dashboard.state import DashboardState, ModelStatus
    from segkit.pipeline.workflow import customer_data_until

    calls = []
    for name in ("monthly_segment_sizes", "recent_moves"):
        compute = getattr(changes_panel, name)
        monkeypatch.setattr(changes_panel, name,
                            lambda *args, _compute=compute, _name=name, **kwargs: calls.append(_name)
                            or _compute(*args, **kwargs))
    model = evidence_state.model
    state = DashboardState(sample_data, model, evidence_state.card, ModelStatus(False, "Not saved: test model."),
                           tmp_path, Settings(currency="£", analyst=False))
    definitions = model.definitions_
    panel = ChangesPanel(state)
    assert calls == []  # nothing at page open
    panel.accordion.selected_index = 0  # the viewer opens "What changed": 7 days shown, 30 computed for the report
    first = report_html(state, definitions)
    second = report_html(state, definitions)
    assert sorted(calls) == ["monthly_segment_sizes", "recent_moves", "recent_moves"]
    assert 'data-days="7"' in second and 'data-days="30"' in second
    assert _sizes_table(first) == _sizes_table(second)

    calls.clear()
    november = customer_data_until(sample_data, pd.Timestamp("2011-11-30").date())
    state.set_data(november)  # a live page's refresh: new data of the same log
    assert calls.count("monthly_segment_sizes") == 1  # the open section redraws on the new data
    after = report_html(state, definitions)
    assert sorted(calls) == ["monthly_segment_sizes", "recent_moves", "recent_moves"]
    assert "Dec 2011" not in _sizes_table(after) and "Nov 2011" in _sizes_table(after)
    assert _sizes_table(after) != _sizes_table(second)

    calls.clear()
    state.retrain(3)  # a new model: its own segments at every month's end
    report_html(state, definitions)
    assert calls.count("monthly_segment_sizes") == 1 and calls.count("recent_moves") == 2


def _sizes_table(report: str) -> str:
    start = report.index('<table class="seg-table seg-sizes-table">')
    return report[start:report.index("</table>", start)]
