"""The "value over time" panel: cohort retention, segment trends, migration since a
cut-off, and the model's segments against the RFM rule segments.

Reads the state (selection, model, segmentation, theme); writes only its own inputs
(the switches and the cut-off). Everything here follows the **country and segment
filters** (spend, dates and category are about the customers' past, not about time);
cohorts, trends and migration need the purchase lines, and say so when the page does
not hold them.

The sections are in an accordion that starts closed: a section computes and draws on
its first opening, and afterwards redraws only while open (a closed one is redrawn when
opened again), so the page's first draw costs nothing extra.
"""
from __future__ import annotations

import html

import ipywidgets as W
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from segkit.dashboard.urlsync import view_name
from segkit.dashboard.widgets import (
    FIGURE_TEMPLATE,
    Chart,
    FileDownload,
    classed,
    empty_figure,
    guarded,
)
from segkit.modeling.label import RFM_LABELS, RFM_PREFIX, rfm_scores, segment_crosstab
from segkit.page.data import holds_lines
from segkit.pipeline.workflow import scoring_window
from segkit.rules.registry import REGISTERED_FEATURES
from segkit.schema import snapshot_date_for
from segkit.value.movement import (
    cohort_retention,
    equal_window_segments,
    migration_table,
    migration_window,
    segment_trend,
)
from segkit.views import plots
from segkit.views.export import to_safe_csv
from segkit.views.tables import Filters, filter_mask, segment_customers

__all__ = ["ValuePanel", "value_filters", "customers_followed", "lines_of", "cutoff_choices", "cutoff_window",
           "migration_note", "migration_html", "crosstab_html", "palive_note", "single_day_note", "value_range_note", "group_range_note", "SECTIONS", "VALUE_CHART_HEIGHT"]

VALUE_CHART_HEIGHT = 420
#: The accordion's sections, in order.
SECTIONS = ("Cohort retention", "Revenue and customers per segment by month", "Migration since a cut-off",
            "Model segments against RFM segments")


# ---------------------------------------------------------------- pure functions

def value_filters(filters: Filters) -> Filters:
    """The part of the page's filters this panel follows: segments and country."""
    return Filters(segments=filters.segments, country=filters.country)


def customers_followed(everyone: pd.DataFrame, filters: Filters) -> pd.DataFrame:
    """The rows of ``everyone`` in the filters' segments and country."""
    return everyone[filter_mask(everyone, value_filters(filters))]


def lines_of(lines: pd.DataFrame, customers: pd.Index) -> pd.DataFrame:
    """The purchase lines of ``customers`` (CustomerIDs, compared as text)."""
    return lines[lines["CustomerID"].astype("string").isin(customers.astype("string"))]


def cutoff_choices(period: tuple[pd.Timestamp, pd.Timestamp], min_months: int = 3) -> list[pd.Timestamp]:
    """First days of the months a cut-off can be: at least ``min_months`` after the
    first purchase and a month before the last (empty for a short log)."""
    first, last = (pd.Timestamp(t) for t in period)
    start = (first + pd.DateOffset(months=min_months)).to_period("M").to_timestamp()
    end = (last - pd.DateOffset(months=1)).normalize()
    return list(pd.date_range(start, end, freq="MS")) if start <= end else []


def cutoff_window(model) -> int | None:
    """The observation window (days) of the segmentation at a cut-off: the model's own
    (``workflow.scoring_window``: the window it was trained on), ending at the cut-off;
    ``None`` (every purchase before the cut-off) for a model trained on whole logs."""
    return scoring_window(model)[0]


def migration_note(model, cutoff: pd.Timestamp, segmentation: str = "model", lines: pd.DataFrame | None = None) -> str:
    """What the migration compares, in one sentence: the two equal windows it counts."""
    cutoff = pd.Timestamp(cutoff)
    what = "RFM rule segments of" if segmentation == "rfm" else "the model applied to"
    if lines is None or lines.empty:
        window = cutoff_window(model)
        span = f"the {window:,} days before it" if window else "all purchases before it"
        return f"Segment on {cutoff:%d %b %Y}: {what} each customer's purchases over {span}."
    days = migration_window(lines, cutoff, cutoff_window(model))
    now = snapshot_date_for(lines["InvoiceDate"].max())
    return (f"Both sides count {days:,} days: segment on {cutoff:%d %b %Y} is {what} each customer's purchases "
            f"over the {days:,} days before it; now, over the {days:,} days before {now:%d %b %Y}. "
            "Purchases and spend are counted within each window (recency over all history): equal windows, "
            "so a move is a change in what customers did, not more history.")


def _count_table_html(table: pd.DataFrame, css_class: str) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in [table.index.name or ""] + list(table.columns))
    rows = []
    for name, values in table.iterrows():
        cells = "".join(f'<td class="num">{int(v):,}</td>' if v else '<td class="num seg-zero">·</td>' for v in values)
        rows.append(f'<tr><td class="text">{html.escape(str(name))}</td>{cells}</tr>')
    return (f'<div class="seg-scroll"><table class="seg-table {css_class}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def migration_html(table: pd.DataFrame) -> str:
    """The migration table (counts): rows the segment at the cut-off, columns now."""
    if table.empty:
        return '<p class="seg-note">No customers to compare.</p>'
    shown = table.copy()
    shown.index.name = "at the cut-off ↓ / now →"
    return _count_table_html(shown, "seg-migration-table")


def crosstab_html(table: pd.DataFrame) -> str:
    """The model-by-RFM cross-tab (counts, with totals)."""
    if table.empty:
        return '<p class="seg-note">No customers match the filters.</p>'
    shown = table.copy()
    shown.index.name = "Model segment ↓ / RFM segment →"
    return _count_table_html(shown, "seg-crosstab-table")


def palive_note(palive: pd.Series, spread: float = 0.05) -> str:
    """A plain note when P(alive) hardly varies (the middle 90% of customers within
    ``spread``), as maximum likelihood gives on data with almost no dropout signal (BG/NBD,
    MBG/NBD and Pareto/NBD alike on Online Retail); else ""."""
    values = pd.to_numeric(palive, errors="coerce").dropna()
    if len(values) < 2:
        return ""
    low, high = np.quantile(values, [0.05, 0.95])
    if high - low >= spread:
        return ""
    return (f"P(alive) is between {low:.3f} and {high:.3f} for 90% of these customers: on this data the model sees "
            "almost no churn, so it does not tell who is leaving. Use the lifecycle stages (At risk, Lost) for churn; "
            "lifetime value still ranks customers by expected spend.")


def single_day_note(palive: pd.Series, recency: pd.Series, params, silent_days: int = 180) -> str:
    """Under BG/NBD (``params``' purchase model) a customer who bought on a single day has
    P(alive) = 1 however long silent: a plain note when some of the customers given show
    P(alive) 1 (to four decimals) with their last purchase over ``silent_days`` days ago; else ""."""
    # start-up: scipy.optimize loads on first use, not on import (0.6 s, measured)
    from segkit.value.clv import purchase_model

    if not params or purchase_model(params) != "bgnbd":
        return ""
    alive = pd.to_numeric(palive, errors="coerce").to_numpy()
    silent = pd.to_numeric(recency, errors="coerce").to_numpy()
    count = int(((alive >= 0.99995) & (silent > silent_days)).sum())
    if not count:
        return ""
    return (f"{count:,} of these customers last bought over {silent_days} days ago and still show P(alive) 1: in "
            "BG/NBD a customer who bought on a single day never counts as gone. Read P(alive) beside the days since "
            "the last purchase.")


def group_range_note(level: float = 0.9) -> str:
    """What the range beside a group's lifetime value (a segment's, the customers shown)
    covers, in plain words."""
    return (f"Lifetime value in brackets (low\u2013high): {level:.0%} of the totals the model gives for those "
            "customers when refitted on resampled customers. A refit moves every customer at once, so a segment's "
            "range comes from the refits' totals, not from adding up its customers' ranges. It shows how sure the "
            "model is of its own figures, not how much these customers will really spend.")


def value_range_note(uncertainty) -> str:
    """What the lifetime-value ranges mean, and a plain warning when the model's spend part
    (Gamma-Gamma) rests on an assumption this shop's data breaks; "" for a model without
    stored draws (``fit_customer_value``)."""
    if not uncertainty or not uncertainty.get("draws"):
        return ""
    level = float(uncertainty.get("level", 0.9))
    note = (f"Lifetime value ranges (low – high) hold {level:.0%} of the values the model gives when refitted on "
            "resampled customers: they show how sure the model is of its own figures, not how much a single customer "
            "may really spend, which varies far more.")
    check = uncertainty.get("independence") or {}
    if check and not check.get("independent", True):
        direction = "more" if float(check.get("spearman", 0)) > 0 else "less"
        note += (f" In this shop, customers who buy more often also spend {direction} per purchase (correlation "
                 f"{float(check['spearman']):.2f}), which the lifetime value model assumes they do not: it tends to "
                 f"under-state the value of frequent buyers and over-state that of occasional ones.")
    return note


# ---------------------------------------------------------------- the panel

class ValuePanel:
    """Cohorts, trends, migration and the RFM cross-tab, each drawn on first opening."""

    @property
    def lines(self) -> pd.DataFrame | None:
        """The clean lines (read when a section is first opened; ``None`` out of core)."""
        return self.state.data.lines if holds_lines(self.state.data) else None

    def __init__(self, state):
        self.state = state
        self.note = classed(W.HTML('<span class="seg-meta">Follows the country and segment filters (spend, dates and '
                                   "category are not applied here). Open a section to draw it.</span>"),
                            "seg-value-note")
        # Cohorts
        self.cohort_value = classed(W.ToggleButtons(options=[("Share active", "ActiveShare"), ("Revenue", "Revenue")],
                                                    value="ActiveShare"), "seg-cohort-switch")
        self.cohort_box = W.VBox([])
        # Trend
        self.trend_measure = classed(W.ToggleButtons(options=["Revenue", "Customers"], value="Revenue"),
                                     "seg-trend-switch")
        self.trend_box = W.VBox([])
        # Migration
        choices = cutoff_choices(state.data.period) if holds_lines(state.data) else []
        default = self._default_cutoff(choices)
        self.cutoff = classed(W.Dropdown(options=[(f"{c:%d %b %Y}", c.date().isoformat()) for c in choices],
                                         value=default, description="Cut-off", layout=W.Layout(width="260px")),
                              "seg-cutoff")
        self.migration_box = W.VBox([])
        self.migration_note = classed(W.HTML(), "seg-migration-note")
        self.migration_table = classed(W.HTML(), "seg-migration")
        self.migration_download = classed(FileDownload(), "seg-migration-download")
        # Cross-tab
        self.crosstab = classed(W.HTML(), "seg-crosstab")
        self.charts_by_section: dict[int, Chart] = {}
        self.sections = [
            W.VBox([self.cohort_value, self.cohort_box]),
            W.VBox([self.trend_measure, self.trend_box]),
            W.VBox([W.HBox([self.cutoff, self.migration_download], layout=W.Layout(align_items="center",
                                                                                    grid_gap="12px")),
                    self.migration_note, self.migration_box, self.migration_table]),
            W.VBox([self.crosstab]),
        ]
        self.accordion = classed(W.Accordion(children=self.sections, titles=SECTIONS, selected_index=None),
                                 "seg-value-sections")
        self.widget = classed(W.VBox([W.HTML("<h3>Value over time</h3>"), self.note, self.accordion]),
                              "seg-panel", "seg-value")
        self.drawn: set[int] = set()  # sections drawn for the current view
        self._view = self._key() + (state.segmentation,)
        self.accordion.observe(guarded(state, lambda _c: self._draw_open()), names="selected_index")
        self.cohort_value.observe(guarded(state, lambda _c: self._redraw(0)), names="value")
        self.trend_measure.observe(guarded(state, lambda _c: self._redraw(1)), names="value")
        self.cutoff.observe(guarded(state, lambda _c: self._redraw(2)), names="value")
        state.observe(guarded(state, lambda _c: self._on_view()), names=["filters", "model_version", "data_version"])

    @staticmethod
    def _default_cutoff(choices: list[pd.Timestamp]) -> str | None:
        """About six months before the end (the middle of a short log)."""
        if not choices:
            return None
        target = choices[-1] - pd.DateOffset(months=5)
        best = min(choices, key=lambda c: abs(c - target))
        return best.date().isoformat()

    # ------------------------------------------------------------ what is followed
    def _key(self) -> tuple:
        state = self.state
        return (state.model_version, state.data_version, value_filters(state.filters))

    def customers(self) -> pd.DataFrame:
        state = self.state
        return state._cached("value_customers", self._key(),
                             lambda: customers_followed(state.everyone, state.filters))

    def followed_lines(self) -> pd.DataFrame:
        state = self.state
        return state._cached("value_lines", self._key(), lambda: lines_of(self.lines, self.customers().index))

    def cohorts(self) -> pd.DataFrame:
        return self.state._cached("value_cohorts", self._key(), lambda: cohort_retention(self.followed_lines()))

    def trend(self) -> pd.DataFrame:
        return self.state._cached("value_trend", self._key(),
                                  lambda: segment_trend(self.followed_lines(), self.customers()["Segment"]))

    def segments_then_and_now(self) -> tuple[pd.Series, pd.Series]:
        """Every customer's segment at the chosen cut-off and now, each over the same
        number of days (``equal_window_segments``; cached on model, segmentation, cut-off)."""
        state = self.state
        cutoff = pd.Timestamp(self.cutoff.value)
        model, segmentation = state.model, state.segmentation

        def segment_of(customers: pd.DataFrame) -> pd.Series:
            if segmentation == "rfm":
                return RFM_PREFIX + rfm_scores(customers)["RFM_Segment"].astype("string")
            return segment_customers(model, customers)["Segment"]

        extra = [f for f in getattr(model, "features", ()) if f in REGISTERED_FEATURES]
        return state._cached("value_then", (model, segmentation, cutoff, state.data_version),
                             lambda: equal_window_segments(segment_of, self.lines, cutoff, cutoff_window(model), extra))

    def segments_then(self) -> pd.Series:
        """Every customer's segment at the chosen cut-off (see ``segments_then_and_now``)."""
        return self.segments_then_and_now()[0]

    def migration(self) -> pd.DataFrame:
        """Customers followed: segment at the cut-off (rows) against now (columns), both
        over windows of the same length, best segment first (``RFM_LABELS`` for RFM segments)."""
        followed = self.customers().index.astype("string")
        then, now = self.segments_then_and_now()
        order = RFM_LABELS if self.state.segmentation == "rfm" else None
        return migration_table(then[then.index.isin(followed)], now[now.index.isin(followed)], order=order)

    def crosstab_table(self) -> pd.DataFrame:
        state = self.state
        shown = self.customers()
        model_segments = state.scored["Segment"].reindex(shown.index)
        rfm = shown["Segment"] if state.segmentation == "rfm" else rfm_scores(state.scored)["RFM_Segment"]
        return segment_crosstab(model_segments, rfm.reindex(shown.index))

    # ------------------------------------------------------------ drawing
    def _on_view(self) -> None:
        view = self._key() + (self.state.segmentation,)
        if view == self._view:  # a filter this panel does not follow (spend, dates, category)
            return
        self._view = view
        self.drawn.clear()
        self._draw_open()

    def _redraw(self, index: int) -> None:
        self.drawn.discard(index)
        self._draw_open()

    def _draw_open(self) -> None:
        index = self.accordion.selected_index
        if index is None or index in self.drawn:
            return
        [self._draw_cohorts, self._draw_trend, self._draw_migration, self._draw_crosstab][index]()
        self.drawn.add(index)

    def _no_lines(self, box: W.Box) -> bool:
        if self.lines is not None:
            return False
        box.children = (classed(W.HTML('<p class="seg-note seg-no-lines">Not available for this log: its purchase '
                                       "lines are not held in memory (aggregated out of core), and cohorts, trends "
                                       "and migration are computed from the lines.</p>"), "seg-no-lines-note"),)
        return True

    def _show(self, index: int, box: W.Box, figure: go.Figure) -> None:
        chart = self.charts_by_section.get(index)
        if chart is None:
            chart = self.charts_by_section[index] = Chart(self.state, figure, VALUE_CHART_HEIGHT)
            box.children = (chart.widget,)
        else:
            chart.show(figure)

    def _draw_cohorts(self) -> None:
        if self._no_lines(self.cohort_box):
            return
        cohorts = self.cohorts()
        figure = (plots.cohort_heatmap(cohorts, self.cohort_value.value, template=FIGURE_TEMPLATE,
                                       currency=self.state.currency, period=self.state.data.period)
                  if not cohorts.empty else empty_figure())
        self._show(0, self.cohort_box, figure)

    def _draw_trend(self) -> None:
        if self._no_lines(self.trend_box):
            return
        trend = self.trend()
        figure = (plots.segment_trend_chart(trend, self.trend_measure.value, template=FIGURE_TEMPLATE,
                                            currency=self.state.currency, period=self.state.data.period)
                  if not trend.empty else empty_figure())
        self._show(1, self.trend_box, figure)

    def _draw_migration(self) -> None:
        if self._no_lines(self.migration_box):
            self.migration_table.value = ""
            return
        if self.cutoff.value is None:
            self.migration_box.children = (W.HTML('<p class="seg-note">The log is too short to choose a cut-off '
                                                  "(it needs four months or more).</p>"),)
            return
        table = self.migration()
        cutoff = pd.Timestamp(self.cutoff.value)
        end = self.state.data.period[1]
        note = migration_note(self.state.model, cutoff, self.state.segmentation, self.lines)
        self.migration_note.value = f'<p class="seg-meta">{html.escape(note)}</p>'
        figure = (plots.migration_sankey(table, title=f"Segment on {cutoff:%d %b %Y} → on {end:%d %b %Y}",
                                         template=FIGURE_TEMPLATE) if not table.empty else empty_figure())
        self._show(2, self.migration_box, figure)
        self.migration_table.value = migration_html(table)
        if table.empty:
            self.migration_download.clear()
        else:
            self.migration_download.offer(to_safe_csv(table.reset_index()).encode("utf-8"), self.migration_filename,
                                          "text/csv;charset=utf-8", "Download this migration table as CSV")

    @property
    def migration_filename(self) -> str:
        state = self.state
        first, last = (ts.date() for ts in state.data.period)
        name = view_name(value_filters(state.filters), (first, last))
        rfm = "_rfm" if state.segmentation == "rfm" else ""
        return f"{name}{rfm}_migration-since-{self.cutoff.value}.csv"

    def _draw_crosstab(self) -> None:
        self.crosstab.value = ('<p class="seg-meta seg-crosstab-note">Customers by the <b>model\'s segment</b> (rows: '
                               "VIP, At risk, ... from the clustering) and the <b>RFM rule segment</b> (columns, "
                               "named \u201cRFM: ...\u201d: quintile rules on recency, frequency and spend), both "
                               "over the whole period. The same word means different customers in the two: the "
                               "model's \u201cAt risk\u201d is not \u201cRFM: At risk\u201d.</p>"
                               + crosstab_html(self.crosstab_table()))

    @property
    def charts(self) -> list[Chart]:
        return list(self.charts_by_section.values())
