"""The header: page style (theme), banner, where the data came from, messages and KPIs.

Reads ``state.theme``, ``state.message``, ``state.notice``, the selection and the model
status; writes only ``state.theme`` (the theme switch).
"""
from __future__ import annotations

import html

import ipywidgets as W

from segkit.dashboard.widgets import classed, guarded
from segkit.page.data import line_count
from segkit.views.tables import ALL, kpi_html, kpis, theme_css

__all__ = ["HeaderPanel", "source_html", "banner_html", "KPI_INPUTS", "view_kpis"]

#: Columns ``views.kpis`` reads (only these are selected: cheaper at a million customers).
KPI_INPUTS = ["NumPurchases", "TotalSpend", "CLV", "ExpectedPurchases90d"]
#: What a date or category filter adds: the customers' orders and spend in the window.
DATE_RANGE_INPUTS = ["PurchasesInWindow", "SpendInWindow"]


def view_kpis(state) -> tuple[dict, str]:
    """``views.kpis`` of the page's view and the words for its window ("in Christmas"):
    under a date or category filter the window's figures, with the whole-period figures
    of the same filters without the dates and category beside them. With stored parameter
    draws, ``TotalCLVRange``: the interval of the lifetime value of the customers shown
    (``Selection.value_interval``)."""
    selection = state.selection
    filters = selection.filters
    if selection.activity is None:
        numbers = kpis(selection.frame(KPI_INPUTS), selection.period)
        window = ""
    else:
        whole = state.whole_period_selection()
        numbers = kpis(selection.frame(KPI_INPUTS + DATE_RANGE_INPUTS), selection.period, whole.frame(KPI_INPUTS),
                       whole.period)
        window = f"in {filters.category}" if filters.category != ALL else ""
    if numbers.get("TotalCLV") is not None and selection.value_interval is not None:
        numbers["TotalCLVRange"] = selection.value_interval  # of the customers shown, from every draw's total
    return numbers, window


def banner_html(data) -> str:
    """The banner above everything: only for the built-in sample, and only what is true.

    It tells a viewer what they see, not how to change it: where the server reads its data
    is said to the operator, in the terminal of ``make run`` (``serve.main``)."""
    if not data.is_sample:
        return ""
    return ('<div class="seg-banner seg-sample-banner"><b>Sample data.</b> This page shows the built-in '
            "sample (synthetic, not a real retailer): the figures show how the method works, not facts "
            "about a shop.</div>")


def source_html(data) -> str:
    start, end = data.period
    lines = line_count(data)
    lines_text = f"{lines:,} clean lines · " if lines else ""
    return (f'<div class="seg-meta seg-source"><b>Data</b>: {html.escape(data.source)} · {lines_text}'
            f"{len(data.customers):,} customers · {start:%d %b %Y} – {end:%d %b %Y} · cleaning rules "
            f"'{html.escape(data.rules)}'</div>")


class HeaderPanel:
    def __init__(self, state, extra_buttons: list[W.Widget] = ()):
        self.state = state
        self.style = W.HTML(theme_css(state.theme))
        self.theme_switch = classed(W.ToggleButtons(options=["Light", "Dark"], value=state.theme.title(),
                                                    description="Theme"), "seg-theme")
        self.theme_switch.style.button_width = "70px"
        self.banner = W.HTML(banner_html(state.data))
        self.source = W.HTML(source_html(state.data))
        self.model_line = classed(W.HTML(), "seg-model-line")
        self.message = classed(W.HTML(), "seg-message")
        #: What the engine is computing while the page waits (a spinner and a sentence).
        self.progress = classed(W.HTML(), "seg-progress")
        self.kpis = classed(W.HTML(), "seg-kpis")
        self.widget = W.VBox([
            self.style,
            W.HBox([W.VBox([self.banner, self.source, self.model_line],
                           layout=W.Layout(flex="1 1 auto")),
                    W.VBox([self.theme_switch, *extra_buttons], layout=W.Layout(align_items="flex-end"))],
                   layout=W.Layout(align_items="flex-start")),
            self.progress, self.message, self.kpis,
        ])
        self.theme_switch.observe(guarded(state, lambda c: setattr(state, "theme", c["new"].lower())), names="value")
        state.observe(self._on_theme, names="theme")
        state.observe(lambda _c: self.show_message(), names=["message", "notice"])
        state.observe(lambda _c: self.show_progress(), names="progress")
        state.observe(guarded(state, lambda _c: self.show()), names=["filters", "model_version", "data_version"])
        self.show()

    def _on_theme(self, change) -> None:
        self.style.value = theme_css(change["new"])
        if self.theme_switch.value.lower() != change["new"]:
            self.theme_switch.value = change["new"].title()

    def show_progress(self) -> None:
        text = self.state.progress
        self.progress.value = f'<p class="seg-meta seg-busy">{html.escape(text)}</p>' if text else ""

    def show_message(self) -> None:
        state = self.state
        parts = []
        if state.message:
            parts.append(f'<p class="seg-error">{html.escape(state.message)}</p>')
        for warning in state.selection.warnings:
            parts.append(f'<p class="seg-error seg-filter-warning">{html.escape(warning)}</p>')
        if state.notice:
            parts.append(f'<p class="seg-ok seg-notice">{html.escape(state.notice)}</p>')
        self.message.value = "".join(parts)

    def show(self) -> None:
        state = self.state
        self.source.value = source_html(state.data)
        numbers, window = view_kpis(state)
        self.kpis.value = kpi_html(numbers, state.currency, state.value_missing, window)
        if state.segmentation == "rfm":
            what = (f"{len(state.segment_names)} RFM rule segments (quintiles of recency, frequency and spend; "
                    f"switch back to the model's under <i>What the segments mean</i>); model: {state.status.html()}")
        else:
            what = f"{len(state.segment_names)} groups of customers from the model ({state.status.html()})"
        self.model_line.value = (f'<div class="seg-meta">Segments: {what} · details under '
                                 "<i>About the model</i> below.</div>")
        self.show_message()
