"""The page: one ``DashboardState`` and the panels that show it, in an ``AppLayout``.

``build_app()`` loads the data (``data/``, ``SEGKIT_DATA`` or the built-in sample),
takes the saved model when it fits the data (else trains one), and lays out the header
(KPIs, theme, report), the filters on the left, and in the centre what the segments
mean, the charts, the segment summary, the comparison, the customer table with its
download, scoring of an uploaded file and the model (retraining in analyst mode).
The chart of every customer, the segment summary and every section under them
(``SECTIONS``) are below the first screen (at 1280x800 it holds the header, the filters and
what the segments mean): each is built
when the visitor scrolls to it or clicks its "Show" (``fold.FoldSection``).

Each panel reads the state and writes only its own inputs; ``Dashboard`` only wires
them, and mirrors filters and theme in the page's URL (``urlsync``).
"""
from __future__ import annotations

import html
import os
from pathlib import Path

import ipywidgets as W
import pandas as pd

from segkit.config import Settings, artifacts_dir
from segkit.config import settings as read_settings
from segkit.dashboard.changes_panel import CampaignPanel, ChangesPanel
from segkit.dashboard.compare import ComparePanel
from segkit.dashboard.filters import FiltersPanel
from segkit.dashboard.fold import FoldSection
from segkit.dashboard.header import HeaderPanel
from segkit.dashboard.live_panel import LivePanel, open_live_state
from segkit.dashboard.model_panel import ModelPanel
from segkit.dashboard.printout import PrintHeader
from segkit.dashboard.report import ReportPanel
from segkit.dashboard.scatter import ScatterPanel
from segkit.dashboard.score import ScorePanel
from segkit.dashboard.segments import SegmentsPanel
from segkit.dashboard.state import DashboardState
from segkit.dashboard.table import TablePanel
from segkit.dashboard.urlsync import PageBridge, encode_query, parse_query
from segkit.dashboard.value_panel import ValuePanel
from segkit.dashboard.widgets import classed, guarded
from segkit.errors import SegkitError
from segkit.live.live_page import follows_folder
from segkit.page.data import load_dashboard_data
from segkit.pipeline.workflow import CustomerData
from segkit.views.tables import theme_css

__all__ = ["CSS_CLASSES", "CHART", "FOLDED", "SECTIONS", "Dashboard", "build_app"]

#: Stable CSS classes of the main controls (tests and users' own CSS rely on them).
CSS_CLASSES = (
    "seg-theme", "seg-segment-filter", "seg-country-filter", "seg-spend-filter", "seg-date-filter",
    "seg-category-filter", "seg-compare", "seg-summary", "seg-download", "seg-upload", "seg-retrain",
    "seg-kpis",
)


#: The chart of every customer: the first section below the first screen (at 1280x800 the
#: glossary fills it); name, title, panel class (called with the state when shown).
CHART = ("scatter", "Customers by purchases, items bought and spend", ScatterPanel)
#: The panels below the summary, in page order, as ``CHART``.
FOLDED = (
    ("compare", "Compare two segments", ComparePanel),
    ("value", "Value over time", ValuePanel),
    ("changes", "What changed", ChangesPanel),
    ("campaign", "Campaign planning", CampaignPanel),
    ("table", "Customers", TablePanel),
    ("score", "Score new customers", ScorePanel),
    ("model", "About the model", ModelPanel),
)
#: Every section below the first screen, in page order: name and title. The chart comes
#: first, then the summary ("segments": its texts are the segments panel's, kept from the start).
SECTIONS = (CHART[:2], ("segments", "Segments in this view")) + tuple((name, title) for name, title, _p in FOLDED)


def _folded_panel(name: str) -> property:
    """``Dashboard.<name>``: the section's panel, built (and shown) first if it was not."""
    return property(lambda self: self.sections[name].panel,
                    doc=f"The {name} panel (reading it builds the section, as showing it does).")


class Dashboard:
    """A page: ``.state`` and the panels; ``.app`` is the widget to display.

    ``.sections`` holds the sections below the first screen (``SECTIONS``), built on demand;
    ``.compare``, ``.table`` ... are their panels (reading one builds its section); the
    summary's texts are ``.segments``' from the start, its charts once its section is shown.

    Parameters
    ----------
    data : ``CustomerData``, a path, a DataFrame or ``None`` (``data/``, ``SEGKIT_DATA``
        or the built-in sample).
    artifacts : folder of the saved model (default ``config.artifacts_dir()``).
    theme : ``"light"`` or ``"dark"``.
    settings : ``config.Settings`` (currency, analyst mode); default from the environment.
    query : a URL query to open (default ``$QUERY_STRING``, which Voilà sets).
    """

    def __init__(self, data: CustomerData | str | Path | pd.DataFrame | None = None,
                 artifacts: str | Path | None = None, theme: str = "light", settings: Settings | None = None,
                 query: str | None = None):
        artifacts = Path(artifacts) if artifacts is not None else artifacts_dir()
        # A folder or glob is followed while it grows, with the saved model (``live.py``).
        state, feed, first = open_live_state(data, artifacts, settings, theme) if follows_folder(data) \
            else (None, None, None)
        if state is None:
            data = load_dashboard_data(data, artifacts)
            state = DashboardState.load(data, artifacts, settings or read_settings(), theme)
        self.state = state
        self.filters = FiltersPanel(state)
        self.segments = SegmentsPanel(state)
        self.report = ReportPanel(state, self.segments.definitions)
        self.header = HeaderPanel(state, extra_buttons=[self.report.widget])
        self.print_header = PrintHeader(state)
        self.sections = {CHART[0]: FoldSection(CHART[0], CHART[1], lambda: ScatterPanel(state), state),
                         "segments": FoldSection("segments", SECTIONS[1][1], self.segments.summary_view, state)}
        self.sections.update((name, FoldSection(name, title, lambda panel=panel: panel(state), state))
                             for name, title, panel in FOLDED)
        self.live = LivePanel(state, feed, first)
        self.bridge = PageBridge()
        center = W.VBox([self.segments.glossary_box, *(section.widget for section in self.sections.values())],
                        layout=W.Layout(padding="0 0 0 8px", min_width="0"))
        self.app = classed(W.AppLayout(header=W.VBox([self.print_header.widget, self.header.widget, self.live.widget,
                                                               self.bridge]),
                                       left_sidebar=self.filters.widget, center=center,
                                       right_sidebar=None, footer=None, pane_widths=["250px", 1, 0], grid_gap="8px"),
                           "seg-app")
        # AppLayout sizes rows in fr units, which stretch the header to a share of a long
        # page; rows sized by their content read better (the layout is not changed later).
        self.app.layout.grid_template_rows = "auto auto"
        self.app.dashboard = self
        state.observe(lambda _c: self._write_query(), names=["filters", "theme", "segmentation"])
        self.bridge.observe(guarded(state, lambda _c: self._on_opened()), names="opened")
        query = os.environ.get("QUERY_STRING", "") if query is None else query
        if query:
            self.open_query(query)
        self._write_query()
        self.live.start()

    scatter, compare, value, changes, campaign, table, score, model = (_folded_panel(name)
                                                                       for name, _t, _p in (CHART, *FOLDED))

    @property
    def charts(self):
        """The charts drawn so far: the summary's, then those of the other sections built, in page order."""
        built = [section.built_panel for name, section in self.sections.items() if name != "segments"]
        return self.segments.charts + [c for panel in built for c in getattr(panel, "charts", ())]

    def open_query(self, query: str) -> None:
        """Show the view a URL query describes (``urlsync.parse_query``); unknown values
        are left out with a note."""
        state = self.state
        parsed = parse_query(query, state.segment_names, state.countries,
                             list(self.filters.category_options))
        if parsed.segmentation and parsed.segmentation != state.segmentation:
            # RFM segments have other names: switch first, then read the segment filter.
            state.segmentation = parsed.segmentation
            parsed = parse_query(query, state.segment_names, state.countries, list(self.filters.category_options))
        if parsed.theme:
            state.theme = parsed.theme
        state.filters = parsed.filters
        if parsed.ignored:
            state.notice = "Left out of the link: " + "; ".join(parsed.ignored) + "."

    def _write_query(self) -> None:
        first, last = (ts.date() for ts in self.state.data.period)
        self.bridge.query = encode_query(self.state.filters, self.state.theme, (first, last), self.state.segmentation)

    def _on_opened(self) -> None:
        """The page is shown in a browser: take a newer saved model, then the link's view."""
        self.state.reload_saved_model()
        if self.bridge.initial:
            self.open_query(self.bridge.initial)
        self.live.page_opened()


def build_app(data: CustomerData | str | Path | pd.DataFrame | None = None, artifacts: str | Path | None = None,
              theme: str = "light") -> W.Widget:
    """The dashboard widget (``Dashboard(...).app``; the ``Dashboard`` is ``.dashboard``).

    A data file that cannot be used gives a page with the one-sentence reason instead.
    """
    try:
        return Dashboard(data, artifacts, theme).app
    except SegkitError as exc:
        return W.HTML(f'{theme_css(theme)}<h2>Customer segments</h2><p class="seg-error">{html.escape(str(exc))}</p>')
