"""The manager's "what changed" and campaign planning.

``ChangesPanel``: segment sizes at each month's end (the saved model scoring the lines up to
then) and who moved segment in the last 7 or 30 days (equal windows), in an accordion that
starts closed and computes on first opening; every customer, whatever the filters.

``CampaignPanel``: per segment of the customers shown, the size, the recommendation, the
measured return rate and next spend (the model's backtest evidence), and what a campaign
may bring at the cost per contact and uplift typed in (``state.campaign_cost`` and
``state.campaign_uplift``, which the campaign CSV and the report use too).

``sizes_of``, ``moves_of`` and ``plan_of`` are functions of the state (cached on it), so the
page, the report and the tests read the same figures.
"""
from __future__ import annotations

import html

import ipywidgets as W
import pandas as pd

from segkit.dashboard.value_panel import cutoff_window
from segkit.dashboard.widgets import FIGURE_TEMPLATE, Chart, classed, empty_figure, guarded
from segkit.page.data import holds_lines
from segkit.rules.registry import REGISTERED_FEATURES
from segkit.value.campaign import campaign_plan, formula_in_words
from segkit.value.segment_history import RECENT_DAYS, monthly_segment_sizes, move_counts, moves_window, recent_moves
from segkit.views import plots
from segkit.views.segment_history_words import campaign_plan_html, moves_html, moves_note, sizes_note, sizes_table_html
from segkit.views.tables import segment_customers

__all__ = ["ChangesPanel", "CampaignPanel", "sizes_of", "moves_of", "plan_of", "changes_html", "campaign_html",
           "CHANGES_TITLE"]

CHANGES_TITLE = "What changed: segment sizes by month and recent moves"
NO_LINES = ('<p class="seg-note seg-no-lines">Not available for this log: its purchase lines are not held in memory '
            "(aggregated out of core), and what changed is computed from the lines.</p>")


def _segment_of(model):
    return lambda customers: segment_customers(model, customers)["Segment"]


def _extra_features(model) -> list[str]:
    return [f for f in getattr(model, "features", ()) if f in REGISTERED_FEATURES]


def sizes_of(state) -> pd.DataFrame:
    """Customers per segment at each month's end, the saved model scoring only the lines up
    to then over its own window (``monthly_segment_sizes``; cached on model and data)."""
    model = state.model
    return state._cached("changes_sizes", (model,), lambda: monthly_segment_sizes(
        _segment_of(model), state.data.lines, cutoff_window(model), _extra_features(model)))


def moves_of(state, days: int) -> pd.DataFrame:
    """Who moved segment in the last ``days`` days (``recent_moves``; cached on model, data, days)."""
    model = state.model
    return state._cached(f"changes_moves_{days}", (model,), lambda: recent_moves(
        _segment_of(model), state.data.lines, days, cutoff_window(model), _extra_features(model)))


def plan_of(state) -> pd.DataFrame:
    """The campaign plan of the segments shown (``campaign_plan``) at the page's cost and uplift."""
    summary = state.selection.summary
    if summary.empty:
        return campaign_plan({}, {}, None)
    sizes = summary.set_index("Segment")["Customers"]
    recommendations = summary.set_index("Segment")["Recommendation"] if "Recommendation" in summary else {}
    return campaign_plan(sizes, recommendations, getattr(state.model, "evidence_", None),
                         state.campaign_cost, state.campaign_uplift)


def sizes_section_html(state) -> str:
    """The note and table of the monthly sizes (the chart is drawn beside it)."""
    return (f'<p class="seg-meta seg-sizes-note">{html.escape(sizes_note(cutoff_window(state.model)))}</p>'
            + sizes_table_html(sizes_of(state), state.data.period))


def moves_section_html(state, days: int) -> str:
    lines = state.data.lines
    then, now, counted = moves_window(lines, days, cutoff_window(state.model))
    moves = moves_of(state, days)
    return (f'<p class="seg-meta seg-moves-note">{html.escape(moves_note(days, then, now, counted, cutoff_window(state.model)))}</p>'
            + moves_html(move_counts(moves), moves, days))


def changes_html(state, include_plotlyjs: bool | str = False) -> str:
    """The "what changed" section of the report: chart, sizes, moves of 7 and 30 days."""
    if not holds_lines(state.data):
        return NO_LINES
    sizes = sizes_of(state)
    figure = plots.segment_sizes_by_month(sizes, template="plotly_white", period=state.data.period)
    chart = figure.to_html(full_html=False, include_plotlyjs=include_plotlyjs, default_width="100%")
    return (f'<div class="seg-report-chart">{chart}</div>' + sizes_section_html(state)
            + "".join(moves_section_html(state, days) for days in RECENT_DAYS))


def formula_html(state, horizon_days) -> str:
    return (f'<p class="seg-meta seg-campaign-formula">'
            f"{html.escape(formula_in_words(state.campaign_cost, state.campaign_uplift, horizon_days, state.currency))}"
            "</p>")


def campaign_html(state) -> str:
    """The campaign plan with its rule in words (page and report)."""
    plan = plan_of(state)
    return formula_html(state, plan.attrs.get("horizon_days")) + campaign_plan_html(plan, state.currency)


class ChangesPanel:
    """Sizes by month and recent moves, drawn on first opening of the section."""

    def __init__(self, state):
        self.state = state
        self.days = classed(W.ToggleButtons(options=[(f"Last {d} days", d) for d in RECENT_DAYS], value=RECENT_DAYS[0]),
                            "seg-moves-days")
        self.chart_box = W.VBox([])
        self.sizes = classed(W.HTML(), "seg-sizes")
        self.moves = classed(W.HTML(), "seg-moves-recent")
        self.chart: Chart | None = None
        self.accordion = classed(W.Accordion(children=[W.VBox([self.chart_box, self.sizes, W.HTML("<h4>Who moved</h4>"),
                                                               self.days, self.moves])],
                                             titles=(CHANGES_TITLE,), selected_index=None), "seg-changes-section")
        self.widget = classed(W.VBox([W.HTML("<h3>What changed</h3>"), classed(W.HTML(
            '<span class="seg-meta">Every customer (the filters do not apply here), scored by the saved model at '
            "each date with only the purchases up to that date. Open the section to compute it.</span>"),
            "seg-changes-note"), self.accordion]), "seg-panel", "seg-changes")
        self.drawn = False
        self.accordion.observe(guarded(state, lambda _c: self.draw()), names="selected_index")
        self.days.observe(guarded(state, lambda _c: self.draw_moves()), names="value")
        state.observe(guarded(state, lambda _c: self.redraw()), names=["model_version", "data_version"])

    def redraw(self) -> None:
        self.drawn = False
        self.draw()

    def draw(self) -> None:
        if self.accordion.selected_index is None or self.drawn:
            return
        state = self.state
        if not holds_lines(state.data):
            self.sizes.value, self.moves.value = NO_LINES, ""
            self.drawn = True
            return
        sizes = sizes_of(state)
        figure = (plots.segment_sizes_by_month(sizes, template=FIGURE_TEMPLATE, period=state.data.period)
                  if not sizes.empty else empty_figure())
        if self.chart is None:
            self.chart = Chart(state, figure, 420)
            self.chart_box.children = (self.chart.widget,)
        else:
            self.chart.show(figure)
        self.sizes.value = sizes_section_html(state)
        self.draw_moves()
        self.drawn = True

    def draw_moves(self) -> None:
        if self.accordion.selected_index is None or not holds_lines(self.state.data):
            return
        self.moves.value = moves_section_html(self.state, int(self.days.value))

    @property
    def charts(self) -> list[Chart]:
        return [self.chart] if self.chart is not None else []


class CampaignPanel:
    """Campaign planning per segment shown, at the cost per contact and uplift typed in."""

    def __init__(self, state):
        self.state = state
        currency = state.currency
        self.cost = classed(W.BoundedFloatText(value=state.campaign_cost, min=0, max=1_000_000, step=0.1,
                                               description=f"Cost per contact ({currency})",
                                               style={"description_width": "initial"},
                                               layout=W.Layout(width="240px")), "seg-campaign-cost")
        self.uplift = classed(W.BoundedFloatText(value=round(100 * state.campaign_uplift, 6), min=0, max=1000, step=1,
                                                 description="Uplift (%)", style={"description_width": "initial"},
                                                 layout=W.Layout(width="180px")), "seg-campaign-uplift")
        self.table = classed(W.HTML(), "seg-campaign-plan")
        self.widget = classed(W.VBox([
            W.HTML("<h3>Campaign planning</h3>"),
            classed(W.HTML(f'<span class="seg-meta">For the segments shown (the filters apply). Defaults: '
                           f"{currency}1 per contact and 10 % uplift.</span>"), "seg-campaign-defaults"),
            W.HBox([self.cost, self.uplift], layout=W.Layout(grid_gap="12px", flex_flow="row wrap")),
            self.table]), "seg-panel", "seg-campaign-planning")
        self.cost.observe(guarded(state, lambda _c: self._take_inputs()), names="value")
        self.uplift.observe(guarded(state, lambda _c: self._take_inputs()), names="value")
        state.observe(guarded(state, lambda _c: self.show()),
                      names=["filters", "model_version", "data_version", "segmentation"])
        self.show()

    def _take_inputs(self) -> None:
        state = self.state
        state.campaign_cost = float(self.cost.value or 0.0)
        state.campaign_uplift = float(self.uplift.value or 0.0) / 100
        self.show()

    def show(self) -> None:
        self.table.value = campaign_html(self.state)
