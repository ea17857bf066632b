"""A self-contained HTML report of the current view (opens offline: plotly.js inlined).

``report_html(state)`` is a pure function of the state: the filters used, the KPIs,
what the segments mean, the summary, campaign planning at the page's cost and uplift, the
charts, and what changed (sizes by month, moves of the last 7 and 30 days). ``ReportPanel`` is the "Report"
button that sends it to the browser as a download named after the view.
"""
from __future__ import annotations

import html
from datetime import datetime, timezone

import ipywidgets as W

from segkit.dashboard.changes_panel import campaign_html, changes_html
from segkit.dashboard.header import view_kpis
from segkit.dashboard.scatter import SCATTER_2D_POINTS, plotted
from segkit.dashboard.segments import (
    glossary_html,
    glossary_scope_html,
    lifecycle_note_html,
    products_html,
    value_check_note,
)
from segkit.dashboard.urlsync import view_name
from segkit.dashboard.widgets import FileDownload, classed, guarded
from segkit.views import plots
from segkit.views.tables import ALL, kpi_html, summary_html, theme_css
from segkit.views.wording import money

__all__ = ["report_html", "filters_in_words", "ReportPanel"]


def filters_in_words(state) -> list[str]:
    """The filters of the view, one phrase each ("everyone" when none)."""
    f, currency = state.filters, state.currency
    words = []
    if f.segments is not None:
        words.append("Segments: " + (", ".join(f.segments) if f.segments else "none"))
    if f.country:
        words.append(("Country: " if len(f.country) == 1 else "Countries: ") + ", ".join(f.country))
    if f.spend_min is not None or f.spend_max is not None:
        low = money(f.spend_min, currency) if f.spend_min is not None else "any"
        high = money(f.spend_max, currency) if f.spend_max is not None else "any"
        words.append(f"Total spend from {low} to {high}")
    start, end = state.period()
    if f.start is not None or f.end is not None:
        words.append(f"Bought between {start:%d %b %Y} and {end:%d %b %Y}")
    if f.category != ALL:
        words.append(f"Bought in the product category {f.category}")
    return words or ["No filter: every customer"]


def report_html(state, definitions) -> str:
    """The report of the current view as one HTML document (about 5 MB: plotly.js inside)."""
    selection = state.selection
    template = "plotly_white"
    figures = []
    if len(selection):
        points = plotted(state.everyone, selection.mask, state.sample_rank, SCATTER_2D_POINTS)
        figures = [
            plots.segment_sizes(selection.summary, template=template),
            plots.scatter_2d(points, template=template, segments=state.segment_names, currency=state.currency,
                             point_budget=SCATTER_2D_POINTS),
        ]
    charts = "".join(
        f'<div class="seg-report-chart">{fig.to_html(full_html=False, include_plotlyjs=(i == 0), default_width="100%")}</div>'
        for i, fig in enumerate(figures))
    created = datetime.now(timezone.utc).strftime("%d %b %Y %H:%M UTC")
    filters = "".join(f"<li>{html.escape(w)}</li>" for w in filters_in_words(state))
    warnings = "".join(f'<p class="seg-error">{html.escape(w)}</p>' for w in selection.warnings)
    numbers, window = view_kpis(state)
    note = value_check_note(state.model) if "SumCLV" in selection.summary.columns else ""
    checked = f'<p class="seg-value-check">{html.escape(note)}</p>' if note else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Customer segments report</title>
{theme_css("light")}
<style>body {{ font-family: system-ui, sans-serif; margin: 24px; }} .seg-app {{ max-width: 1100px; margin: auto; }}
@media print {{ .seg-report-chart, .seg-panel {{ break-inside: avoid; }} }}</style></head>
<body><div class="seg-app seg-report">
<h1>Customer segments</h1>
<p class="seg-meta">Report of the view, made {created} from {html.escape(state.data.source)}; model: {html.escape(state.status.text)}</p>
<h2>Filters used</h2><ul class="seg-report-filters">{filters}</ul>{warnings}
<h2>Key figures</h2>{kpi_html(numbers, state.currency, '', window)}
<h2>What the segments mean</h2>{lifecycle_note_html(state)}{glossary_scope_html(state)}{glossary_html(definitions)}
<h2>What each segment buys more than other customers</h2>{products_html(state, list(definitions.index))}
<h2>Segments in this view</h2>{summary_html(selection.summary, state.currency)}{checked}
<h2>Campaign planning</h2><div class="seg-campaign-planning">{campaign_html(state)}</div>
<h2>Charts</h2>{charts or '<p class="seg-note">No customers match the filters.</p>'}
<h2>What changed</h2><div class="seg-changes">{changes_html(state, include_plotlyjs=not figures)}</div>
</div></body></html>
"""


class ReportPanel:
    """The "Report" button and the download it starts."""

    def __init__(self, state, definitions):
        self.state, self.definitions = state, definitions
        self.button = classed(W.Button(description="Report", icon="file", tooltip="Download an HTML report of this view",
                                       layout=W.Layout(width="auto")), "seg-report-button")
        self.download = classed(FileDownload(auto=True), "seg-report-download")
        self.widget = W.VBox([self.button, self.download], layout=W.Layout(align_items="flex-end"))
        self.button.on_click(guarded(state, lambda _b: self.make()))

    def make(self) -> None:
        state = self.state
        first, last = (ts.date() for ts in state.data.period)
        name = view_name(state.filters, (first, last)).replace("segments", "report", 1) + ".html"
        payload = report_html(state, self.definitions()).encode("utf-8")
        self.download.offer(payload, name, "text/html;charset=utf-8",
                            f"Download the report ({len(payload) / 1e6:,.1f} MB)")
