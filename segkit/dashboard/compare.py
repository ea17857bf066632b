"""Compare two segments side by side, within the current filters.

Reads the selection; writes only its own inputs (A, B, feature). B never equals A: B's
choices leave A out.
"""
from __future__ import annotations

import html
from dataclasses import replace

import ipywidgets as W
import pandas as pd
import plotly.graph_objects as go

from segkit.dashboard.segments import SMALL_CHART_HEIGHT
from segkit.dashboard.widgets import FIGURE_TEMPLATE, Chart, classed, guarded
from segkit.features.customers import NUMERIC_FEATURES
from segkit.views import plots
from segkit.views.tables import compare_segments, comparison_html
from segkit.views.wording import title

__all__ = ["ComparePanel", "COMPARE_INPUTS"]

#: Columns ``views.compare_segments`` reads.
COMPARE_INPUTS = ["Segment", "NumPurchases", "TotalQuantity", "TotalSpend", "Recency", "Tenure"]


class ComparePanel:
    def __init__(self, state):
        self.state = state
        names = state.segment_names
        features = [f for f in NUMERIC_FEATURES if f in state.data.customers.columns]
        self.compare_a = W.Dropdown(options=names, value=names[0], description="A", layout=W.Layout(width="220px"))
        self.compare_b = W.Dropdown(options=self._others(names[0]), value=self._others(names[0])[0] if len(names) > 1
                                    else None, description="B", layout=W.Layout(width="220px"))
        self.compare_feature = W.Dropdown(options=[(title(f, state.currency), f) for f in features],
                                          value="TotalSpend", description="Chart of", layout=W.Layout(width="300px"))
        self.scope = classed(W.HTML(), "seg-compare-scope")
        self.compare_table = classed(W.HTML(), "seg-scroll")
        self.chart = Chart(state, self._figure(), SMALL_CHART_HEIGHT)
        self.compare_chart = self.chart.widget
        half = W.Layout(width="50%", min_width="320px")
        self.widget = classed(W.VBox([
            W.HTML("<h3>Compare two segments</h3>"),
            W.HBox([self.compare_a, self.compare_b, self.compare_feature], layout=W.Layout(flex_flow="row wrap")),
            self.scope,
            W.HBox([W.VBox([self.compare_table], layout=half), W.VBox([self.compare_chart], layout=half)],
                   layout=W.Layout(flex_flow="row wrap")),
        ]), "seg-compare", "seg-panel")
        self.compare_a.observe(guarded(state, lambda _c: None if self._updating else self._on_a()), names="value")
        self._updating = False  # while this panel sets its own choices (one redraw at the end)
        self._drawn = None  # the inputs of what is drawn (``_inputs``)
        for widget in (self.compare_b, self.compare_feature):
            widget.observe(guarded(state, lambda _c: None if self._updating else self.show()), names="value")
        state.observe(guarded(state, lambda _c: self._on_filters()), names=["filters"])
        state.observe(guarded(state, lambda _c: self.show()), names=["data_version"])
        state.observe(guarded(state, lambda _c: self._on_model()), names=["model_version"])
        self.show(chart=False)

    def _others(self, a: str) -> list[str]:
        return [n for n in self.state.segment_names if n != a]

    def _on_a(self) -> None:
        a, b = self.compare_a.value, self.compare_b.value
        others = self._others(a)
        self._updating = True
        try:
            self.compare_b.options = others
            self.compare_b.value = b if b in others else (others[0] if others else None)
        finally:
            self._updating = False
        self.show()

    def _on_filters(self) -> None:
        """Under a segment filter A and B are segments in it (the first two ticked, in the
        list's order; with one ticked, A is it): never "0 At risk and 0 Budget" beside a
        VIP filter. Choices already in the filter are kept."""
        segments = self.state.filters.segments
        if segments:
            ticked = [n for n in self.state.segment_names if n in segments]
            a, b = self._pair()
            if a not in ticked or (b not in ticked and len(ticked) > 1):
                new_a = a if a in ticked else ticked[0]
                others = self._others(new_a)
                new_b = b if b in ticked and b != new_a else next(
                    (n for n in ticked if n != new_a), b if b in others else (others[0] if others else None))
                self._updating = True
                try:
                    self.compare_a.value = new_a
                    self.compare_b.options = others
                    self.compare_b.value = new_b
                finally:
                    self._updating = False
        self.show()

    def _on_model(self) -> None:
        names = self.state.segment_names
        self._updating = True
        try:
            self.compare_a.options = names
            self.compare_a.value = names[0]
        finally:
            self._updating = False
        self._on_a()

    def _pair(self) -> tuple[str, str]:
        return self.compare_a.value, self.compare_b.value

    def _pair_frame(self) -> pd.DataFrame:
        """The shown customers of segments A and B with the columns the comparison reads
        (``COMPARE_INPUTS`` and the chart's feature): ``compare_segments`` and
        ``compare_histograms`` give the same numbers on them as on every shown customer,
        without copying a million rows of every column."""
        a, b = self._pair()
        selection = self.state.selection
        base = selection.base or selection  # without the segment filter: kept while only segments change
        columns = list(dict.fromkeys(COMPARE_INPUTS + [self.compare_feature.value]))
        key = (a, b, tuple(columns))
        kept = getattr(base, "_pair_frame", None)
        if kept is not None and kept[0] == key:
            pair = kept[1]
        else:
            frame = base.frame(columns)
            segment = frame["Segment"]
            pair = frame[(segment == a).fillna(False).to_numpy(dtype=bool)
                         | (segment == b).fillna(False).to_numpy(dtype=bool)]
            base._pair_frame = (key, pair)
        segments = selection.filters.segments
        if segments is not None and not (a in segments and b in segments):
            pair = pair[pair["Segment"].isin([n for n in (a, b) if n in segments]).to_numpy(dtype=bool)]
        return pair

    def _figure(self) -> go.Figure:
        a, b = self._pair()
        colours = plots.segment_colour_map(self.state.selection.present_segments)
        return plots.compare_histograms(self._pair_frame(), (a, b), self.compare_feature.value,
                                        template=FIGURE_TEMPLATE, currency=self.state.currency, colours=colours)

    @property
    def charts(self) -> list[Chart]:
        return [self.chart]

    def _inputs(self) -> tuple:
        """What the comparison shows depends on: the model, the filters other than the
        segments, A, B, whether each is in the segment filter, the feature and the segments
        shown (their colours)."""
        state = self.state
        filters, (a, b) = state.filters, self._pair()
        inside = tuple(filters.segments is None or name in filters.segments for name in (a, b))
        return (state.model_version, replace(filters, segments=None), a, b, inside, self.compare_feature.value,
                tuple(state.selection.present_segments))

    def show(self, chart: bool = True) -> None:
        a, b = self._pair()
        if b is None:
            self.compare_table.value = '<p class="seg-note">The model has one segment only: nothing to compare.</p>'
            self._drawn = None
            return
        inputs = self._inputs()
        if chart and inputs == self._drawn:
            return  # a filter change that leaves A and B as they were (e.g. another segment ticked)
        self._drawn = inputs
        selection = self.state.selection
        self.scope.value = (f'<span class="seg-meta">Within the current filters: {selection.segment_count(a):,} '
                            f"{html.escape(a)} and {selection.segment_count(b):,} {html.escape(b)} customers.</span>")
        self.compare_table.value = comparison_html(compare_segments(self._pair_frame(), a, b), self.state.currency)
        if chart:
            self.chart.show(self._figure())
