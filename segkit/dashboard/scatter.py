"""The scatter panel: customers as points (2D with chosen axes; 3D on request).

Reads the selection; writes only its own inputs (axes, log scale, 3D toggle). Above its
point budget the 2D chart is a density image of every shown customer (datashader, imported
only then) and the 3D chart draws a fixed random sample; the panel says so.
"""
from __future__ import annotations

import ipywidgets as W
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from segkit.dashboard.widgets import (
    FIGURE_TEMPLATE,
    Chart,
    classed,
    empty_figure,
    guarded,
)
from segkit.features.customers import NUMERIC_FEATURES
from segkit.views import plots
from segkit.views.wording import title

__all__ = ["ScatterPanel", "SCATTER_2D_POINTS", "SCATTER_3D_POINTS", "CHART_HEIGHT", "plotted"]

#: Point budgets of the WebGL scatter charts (see ``plotted``). Above its budget the 2D chart
#: is a density image (``plots.scatter_density``), which costs the browser a small fraction of
#: what the budget's points cost it (docs/benchmarks.md).
SCATTER_2D_POINTS = 50_000
SCATTER_3D_POINTS = 20_000
CHART_HEIGHT = 430


def plotted(everyone: pd.DataFrame, mask: np.ndarray, rank: np.ndarray, budget: int) -> pd.DataFrame:
    """The shown customers (``everyone[mask]``), or the ``budget`` of them with the lowest
    fixed random ``rank`` (the same customers keep their points across filter changes)."""
    if int(mask.sum()) <= budget:
        return everyone[mask]
    ranks = np.where(mask, rank, len(everyone))
    chosen = np.sort(np.argpartition(ranks, budget - 1)[:budget])
    return everyone.iloc[chosen]


class ScatterPanel:
    def __init__(self, state):
        self.state = state
        currency = state.currency
        features = [f for f in NUMERIC_FEATURES if f in state.data.customers.columns]
        options = [(title(f, currency), f) for f in features]
        self.x_axis = W.Dropdown(options=options, value="TotalQuantity", description="Across",
                                 layout=W.Layout(width="260px"))
        self.y_axis = W.Dropdown(options=options, value="TotalSpend", description="Up",
                                 layout=W.Layout(width="260px"))
        self.log_axes = W.Checkbox(value=True, description="Log scale", indent=False)
        self.sample_note = classed(W.HTML(), "seg-sample-note")
        self._segment_labels: tuple = (None, None, None)  # (everyone, names, categorical Segment)
        self.chart = Chart(state, self._figure_2d(), CHART_HEIGHT)
        self.scatter2d = self.chart.widget
        self.chart3d: Chart | None = None
        self.show_3d = classed(W.ToggleButton(value=False, description="Show 3D view", icon="cube",
                                              layout=W.Layout(width="auto")), "seg-3d-toggle")
        self.box3d = W.VBox([])
        half = W.Layout(width="50%", min_width="320px")
        self.widget = classed(W.VBox([self.sample_note, W.HBox([
            W.VBox([W.HBox([self.x_axis, self.y_axis, self.log_axes], layout=W.Layout(flex_flow="row wrap")),
                    self.scatter2d], layout=half),
            W.VBox([W.HBox([W.HTML(f"<b>Purchases, items bought and spend ({currency})</b> (log scale)"),
                            self.show_3d], layout=W.Layout(align_items="center", grid_gap="8px")), self.box3d],
                   layout=half),
        ], layout=W.Layout(flex_flow="row wrap"))]), "seg-charts")
        draw = guarded(state, lambda _c: self._show_2d())
        for widget in (self.x_axis, self.y_axis, self.log_axes):
            widget.observe(draw, names="value")
        self.show_3d.observe(guarded(state, lambda _c: self._toggle_3d()), names="value")
        state.observe(guarded(state, lambda _c: self.show()), names=["filters", "model_version", "data_version"])
        self._note()

    def _points(self, budget: int) -> pd.DataFrame:
        state = self.state
        return plotted(state.everyone, state.selection.mask, state.sample_rank, budget)

    def _density_frame(self, x: str, y: str) -> pd.DataFrame:
        """The two axes and a categorical ``Segment`` of the shown customers (the categorical
        of everyone is kept per model: converting a million names on every filter is too slow)."""
        state = self.state
        everyone, names = state.everyone, state.segment_names
        kept, kept_names, labels = self._segment_labels
        if kept is not everyone or kept_names != names:
            labels = pd.Categorical(everyone["Segment"].astype(str), categories=names)
            self._segment_labels = (everyone, names, labels)
        mask = state.selection.mask
        return pd.DataFrame({x: everyone[x].to_numpy()[mask], y: everyone[y].to_numpy()[mask],
                             "Segment": labels[mask]}, copy=False)

    def _figure_2d(self) -> go.Figure:
        n = len(self.state.selection)
        if not n:
            return empty_figure()
        axes = dict(x=self.x_axis.value, y=self.y_axis.value, log_axes=self.log_axes.value,
                    template=FIGURE_TEMPLATE, segments=self.state.segment_names, currency=self.state.currency)
        if n > SCATTER_2D_POINTS:
            return plots.scatter_density(self._density_frame(axes["x"], axes["y"]), **axes)
        figure = plots.scatter_2d(self._points(SCATTER_2D_POINTS), point_budget=SCATTER_2D_POINTS, **axes)
        # undo what a density figure set (the browser keeps layout keys a new figure lacks)
        figure.update_layout(xaxis_autorange=True, yaxis_autorange=True, legend_itemclick="toggle",
                             legend_itemdoubleclick="toggleothers")
        return figure

    def _show_2d(self) -> None:
        figure = self._figure_2d()
        if self.chart.widget.layout.images and not figure.layout.images:
            self.chart.widget.layout.images = ()  # sent as a removal; a layout swap would keep the image
        self.chart.show(figure)

    def _figure_3d(self) -> go.Figure:
        if not len(self.state.selection):
            return empty_figure()
        return plots.scatter_3d(self._points(SCATTER_3D_POINTS), template=FIGURE_TEMPLATE,
                                point_budget=SCATTER_3D_POINTS, segments=self.state.segment_names,
                                currency=self.state.currency)

    def _toggle_3d(self) -> None:
        if self.show_3d.value:
            if self.chart3d is None:
                self.chart3d = Chart(self.state, self._figure_3d(), CHART_HEIGHT)
            else:
                self.chart3d.show(self._figure_3d())
            self.box3d.children = (self.chart3d.widget,)
            self.show_3d.description = "Hide 3D view"
        else:
            self.box3d.children = ()  # not redrawn while hidden
            self.show_3d.description = "Show 3D view"

    @property
    def charts(self) -> list[Chart]:
        return [self.chart] + ([self.chart3d] if self.chart3d is not None and self.show_3d.value else [])

    def _note(self) -> None:
        n = len(self.state.selection)
        if n > SCATTER_2D_POINTS:
            self.sample_note.value = (
                f'<div class="seg-banner seg-sample-note-text"><b>The 2D chart shows a density.</b> More than '
                f"{SCATTER_2D_POINTS:,} customers: the 2D chart is a density image of all {n:,} customers shown "
                f"(no hover), the 3D chart draws {SCATTER_3D_POINTS:,} randomly chosen of them (WebGL point "
                f"budget); the KPIs, summary, comparison, table and download use all {n:,}.</div>")
        elif n > SCATTER_3D_POINTS:
            self.sample_note.value = (
                f'<div class="seg-meta seg-sample-note-text">The 3D chart draws {SCATTER_3D_POINTS:,} randomly chosen '
                f"of the {n:,} customers shown (point budget); every other view uses all of them.</div>")
        else:
            self.sample_note.value = ""

    def show(self) -> None:
        self._note()
        self._show_2d()
        if self.chart3d is not None and self.show_3d.value:
            self.chart3d.show(self._figure_3d())
