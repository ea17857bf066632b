"""The customer table and its CSV download, named after the view.

Reads the selection; writes only its own inputs (sort, order, rows per page, page).
"""
from __future__ import annotations

import ipywidgets as W
import numpy as np
import pandas as pd

from ..views import TABLE_COLUMNS, download_link_html, readable_table, table_html
from ..wording import title
from .state import WINDOW_COLUMNS
from .urlsync import view_name
from .widgets import FileDownload, classed, guarded

__all__ = ["TablePanel", "EAGER_DOWNLOAD_ROWS"]

#: Up to this many rows the CSV is a data-URI link rebuilt on every filter change; above it
#: the "Prepare CSV" button builds it on request and hands it to the browser as a Blob
#: (``FileDownload``): Chromium refuses data URIs above 2 MB (about 15,000 customers).
EAGER_DOWNLOAD_ROWS = 10_000


class TablePanel:
    def __init__(self, state):
        self.state = state
        currency = state.currency
        sortable = [c for c in TABLE_COLUMNS if c != "Recommendation"] + WINDOW_COLUMNS
        self.sort_by = W.Dropdown(options=[(title(c, currency), c) for c in sortable], value="TotalSpend",
                                  description="Sort by", layout=W.Layout(width="300px"))
        self.sort_order = W.ToggleButtons(options=["Descending", "Ascending"], value="Descending")
        self.sort_order.style.button_width = "95px"
        self.page_size = W.Dropdown(options=[25, 50, 100, 250], value=25, description="Rows",
                                    layout=W.Layout(width="150px"))
        self.prev_page = W.Button(description="‹ Previous", layout=W.Layout(width="auto"))
        self.next_page = W.Button(description="Next ›", layout=W.Layout(width="auto"))
        self.page_label = classed(W.HTML(), "seg-page-label")
        self.page = 1
        self.table = classed(W.HTML(), "seg-table-view")
        self.download = classed(W.HTML(), "seg-download")
        self.big_download = classed(FileDownload(), "seg-download")
        self.prepare_download = classed(W.Button(description="Prepare CSV", icon="download",
                                                 layout=W.Layout(display="none", width="auto")), "seg-prepare-csv")
        self.widget = classed(W.VBox([
            W.HTML("<h3>Customers</h3>"),
            W.HBox([self.sort_by, self.sort_order, self.page_size], layout=W.Layout(flex_flow="row wrap")),
            W.HBox([self.prev_page, self.page_label, self.next_page, self.download, self.prepare_download,
                    self.big_download], layout=W.Layout(align_items="center", grid_gap="12px", flex_flow="row wrap")),
            W.Box([self.table], layout=W.Layout(max_height="520px", overflow="auto")),
        ]), "seg-customers", "seg-panel")
        for widget in (self.sort_by, self.sort_order, self.page_size):
            widget.observe(guarded(state, lambda _c: self.show(first_page=True)), names="value")
        self.prev_page.on_click(guarded(state, lambda _b: self._turn(-1)))
        self.next_page.on_click(guarded(state, lambda _b: self._turn(+1)))
        self.prepare_download.on_click(guarded(state, lambda _b: self._draw_download(force=True)))
        state.observe(guarded(state, lambda _c: self.show(first_page=True)), names=["filters", "model_version"])
        state.observe(guarded(state, lambda _c: self.show()), names="data_version")  # new data: same page
        self.show()

    def _rows(self) -> np.ndarray:
        return self.state.table_rows(self.sort_by.value, self.sort_order.value == "Ascending")

    @property
    def customer_rows(self) -> pd.DataFrame:
        """The customer table as shown (every page), with the page's column titles: what
        the CSV download holds."""
        frame = self.state.table_frame().take(self._rows()).reset_index(drop=True)
        return readable_table(frame, self.state.currency)

    @property
    def filename(self) -> str:
        state = self.state
        first, last = (ts.date() for ts in state.data.period)
        return view_name(state.filters, (first, last)) + ".csv"

    def _turn(self, step: int) -> None:
        self.page += step
        self.show(download=False)

    def show(self, first_page: bool = False, download: bool = True) -> None:
        if first_page:
            self.page = 1
        rows = self._rows()
        self.n_rows = len(rows)
        page_size = self.page_size.value
        n_pages = max(1, -(-len(rows) // page_size))
        self.page = min(max(1, int(self.page)), n_pages)
        frame = self.state.table_frame()
        page_rows = frame.take(rows[(self.page - 1) * page_size: self.page * page_size])
        self.page_label.value = f"{len(rows):,} customers · page {self.page} of {n_pages}"
        self.table.value = table_html(page_rows.reset_index(drop=True), self.state.currency)
        self.prev_page.disabled = self.page <= 1
        self.next_page.disabled = self.page >= n_pages
        if download:
            self._draw_download()

    def _draw_download(self, force: bool = False) -> None:
        if self.n_rows <= EAGER_DOWNLOAD_ROWS:
            self.download.value = download_link_html(self.customer_rows, self.filename)
            self.big_download.clear()
            self.prepare_download.layout.display = "none"
        elif force:
            self.download.value = ""
            self.prepare_download.layout.display = "none"
            self.big_download.show(self.customer_rows, self.filename)
        else:
            self.download.value = ""
            self.big_download.clear()
            self.prepare_download.description = f"Prepare CSV ({self.n_rows:,} customers)"
            self.prepare_download.layout.display = ""
