"""The customer table, its CSV download and the campaign CSV, named after the view.

Reads the selection; writes only its own inputs (sort, order, rows per page, page).
The campaign CSV (one click) holds the customers shown with what a mailing needs:
segment, recommendation and the segment's evidence in words (what customers like these did
next), the segment's campaign planning figures at the page's cost and uplift, lifetime value, P(alive), country and purchase dates. The table's CSV is the table
as shown (its columns are the page's) with each customer's segment's evidence in words
after the recommendation (``EVIDENCE_TITLE``), as in the campaign CSV. A CSV small enough
for a data-URI link (``DATA_URI_MAX_BYTES``) is one, rebuilt on every filter change; a
larger one (the real data's 4,324 customers with their evidence) goes to the browser as a
Blob (``FileDownload``), and above ``EAGER_DOWNLOAD_ROWS`` customers only on request.
"""
from __future__ import annotations

from typing import Mapping

import ipywidgets as W
import numpy as np
import pandas as pd

from segkit.dashboard.changes_panel import plan_of
from segkit.dashboard.printout import rows_left_out_html
from segkit.dashboard.state import DATE_RANGE_COLUMNS
from segkit.dashboard.urlsync import view_name
from segkit.dashboard.value_panel import palive_note, single_day_note, value_range_note
from segkit.dashboard.widgets import FileDownload, classed, guarded
from segkit.views.tables import (
    EVIDENCE_TITLE,
    TABLE_COLUMNS,
    download_link_html,
    readable_table,
    table_html,
    with_evidence,
)
from segkit.views.export import to_safe_csv
from segkit.views.wording import title

__all__ = ["TablePanel", "EAGER_DOWNLOAD_ROWS", "DATA_URI_MAX_BYTES", "CAMPAIGN_COLUMNS", "PLAN_COLUMNS", "campaign_table", "campaign_titles",
           "plan_titles", "campaign_csv", "campaign_filename"]

#: Up to this many rows the CSV is a data-URI link rebuilt on every filter change; above it
#: the "Prepare CSV" button builds it on request and hands it to the browser as a Blob
#: (``FileDownload``): Chromium refuses data URIs above 2 MB (about 15,000 customers).
EAGER_DOWNLOAD_ROWS = 10_000
#: The largest CSV sent as a data-URI link: base64 makes it 4/3 as long, and Chromium
#: refuses data URIs above 2 MB.
DATA_URI_MAX_BYTES = 1_400_000

#: Columns of the campaign CSV, in order (those the page has; column names as in the data,
#: for import into a mailing tool). ``ModelSegment`` is there when the page shows RFM segments.
CAMPAIGN_COLUMNS = ["CustomerID", "Segment", "Recommendation", "Evidence", "CLV", "CLVLow", "CLVHigh",
                    "SegmentCLV", "SegmentCLVLow", "SegmentCLVHigh", "PAlive",
                    "ExpectedPurchases90d", "Country", "LastPurchase", "Recency", "FirstPurchase", "NumPurchases", "TotalSpend", "AvgOrderValue",
                    "PurchasesInWindow", "SpendInWindow", "ModelSegment"]


def campaign_titles(currency: str = "£") -> dict[str, str]:
    """The campaign CSV's headings: each column in words, with its unit."""
    return {"CustomerID": "Customer ID", "Segment": "Segment", "Recommendation": "Recommendation",
            "Evidence": EVIDENCE_TITLE,
            "CLV": f"Lifetime value, next 12 months ({currency})",
            "CLVLow": f"Lifetime value, low end of range ({currency})",
            "CLVHigh": f"Lifetime value, high end of range ({currency})",
            "SegmentCLV": f"Lifetime value of this segment's customers in the list ({currency})",
            "SegmentCLVLow": f"Lifetime value of this segment's customers in the list, low end of range ({currency})",
            "SegmentCLVHigh": f"Lifetime value of this segment's customers in the list, high end of range ({currency})",
            "PAlive": "Chance still active (0-1)",
            "ExpectedPurchases90d": "Expected purchase days, next 90 days", "Country": "Country",
            "LastPurchase": "Last purchase (date)", "Recency": "Days since last purchase",
            "FirstPurchase": "First purchase (date)", "NumPurchases": "Purchases (orders)",
            "TotalSpend": f"Total spend ({currency})", "AvgOrderValue": f"Average order value ({currency})",
            "PurchasesInWindow": "Purchases in the date/category window",
            "SpendInWindow": f"Spend in the date/category window ({currency})", "ModelSegment": "Model segment"}


#: Campaign planning per segment (``value.campaign.campaign_plan``) as the campaign CSV
#: repeats it on each customer's row: plan column -> CSV column.
PLAN_COLUMNS = {"Customers": "SegmentCustomers", "ReturnRate": "ReturnRate", "MeanNextSpend": "MeanNextSpend",
                "ExpectedExtraRevenue": "SegmentExpectedExtraRevenue", "Net": "SegmentNet"}


def plan_titles(currency: str = "£", horizon_days: int | None = None, cost: float | None = None,
                uplift: float | None = None) -> dict[str, str]:
    """Headings of the campaign plan's columns in the campaign CSV, with the inputs used."""
    within = f"within {horizon_days} days" if horizon_days else "in the backtest's horizon"
    inputs = f" at {currency}{cost:,.2f} per contact and {uplift:.0%} uplift" if cost is not None else ""
    return {"SegmentCustomers": "Customers in the segment (shown)",
            "ReturnRate": f"Segment's customers who came back {within}, measured (0-1)",
            "MeanNextSpend": f"Segment's mean next spend per returning customer ({currency})",
            "SegmentExpectedExtraRevenue": f"Segment's expected extra revenue{inputs} ({currency})",
            "SegmentNet": f"Segment's net{inputs} ({currency})"}


def campaign_csv(shown: pd.DataFrame, currency: str = "£", evidence: Mapping[str, str] | None = None,
                 draws: np.ndarray | None = None, plan: pd.DataFrame | None = None, cost: float | None = None,
                 uplift: float | None = None) -> pd.DataFrame:
    """What the campaign CSV holds: ``campaign_table`` with the headings of ``campaign_titles``;
    with ``evidence`` (segment -> sentence, ``State.evidence``) each customer's segment's
    evidence beside the recommendation; with ``draws`` (rows as ``shown``) each segment's
    lifetime value in the list with its range (``campaign_table``); with ``plan``
    (``campaign_plan`` of the segments shown, at ``cost`` and ``uplift``) the segment's
    planning figures after the evidence, "not measured" where the backtest has none."""
    table = campaign_table(shown, draws)
    if evidence is not None:
        table = with_evidence(table, evidence)
    titles = campaign_titles(currency)
    if plan is not None and "Segment" in table.columns:
        per_segment = plan.set_index("Segment")[list(PLAN_COLUMNS)].rename(columns=PLAN_COLUMNS)
        at = table.columns.get_loc("Evidence") + 1 if "Evidence" in table.columns else \
            table.columns.get_loc("Segment") + 1
        segments = table["Segment"].astype(str)
        for offset, column in enumerate(per_segment.columns):
            values = segments.map(per_segment[column])
            if column != "SegmentCustomers":
                values = values.astype(object).where(values.notna(), "not measured")
            table.insert(at + offset, column, values.to_numpy())
        titles.update(plan_titles(currency, plan.attrs.get("horizon_days"), cost, uplift))
    return table.rename(columns=titles)


def campaign_table(shown: pd.DataFrame, draws: np.ndarray | None = None) -> pd.DataFrame:
    """The customers ``shown`` (index CustomerID) as a campaign list: ``CAMPAIGN_COLUMNS``
    they have, most valuable first (lifetime value, else spend), dates as YYYY-MM-DD.

    ``draws``: each customer's CLV under every stored parameter draw (rows as ``shown``);
    then ``SegmentCLV``, ``SegmentCLVLow`` and ``SegmentCLVHigh`` on every row: the total
    lifetime value of the customers of that row's segment in this list, and its interval
    over the draws (``clv.value_intervals_by_group``)."""
    frame = shown.reset_index()
    if draws is not None and "CLV" in frame.columns and len(frame):
        # start-up: scipy.optimize loads on first use, not on import (0.6 s, measured)
        from segkit.value.clv import value_intervals_by_group

        segments = frame["Segment"].astype(str)
        intervals = value_intervals_by_group(draws, segments.to_numpy())
        frame["SegmentCLV"] = segments.map(frame.groupby(segments)["CLV"].sum()).round(2)
        frame["SegmentCLVLow"] = segments.map(intervals["Low"]).round(2)
        frame["SegmentCLVHigh"] = segments.map(intervals["High"]).round(2)
    frame = frame[[c for c in CAMPAIGN_COLUMNS if c in frame.columns]]
    order = "CLV" if "CLV" in frame.columns else "TotalSpend"
    frame = frame.sort_values([order, "CustomerID"], ascending=[False, True], kind="stable", ignore_index=True)
    for column in ("LastPurchase", "FirstPurchase"):
        if column in frame.columns:
            frame[column] = pd.to_datetime(frame[column]).dt.strftime("%Y-%m-%d")
    return frame


def campaign_filename(filters, period, segmentation: str = "model") -> str:
    """``campaign_<view>.csv``, e.g. ``campaign_At-risk_France.csv`` (``_rfm`` for RFM segments)."""
    name = "campaign" + view_name(filters, period)[len("segments"):]
    return name + ("_rfm" if segmentation == "rfm" else "") + ".csv"


class TablePanel:
    def __init__(self, state):
        self.state = state
        currency = state.currency
        sortable = [c for c in TABLE_COLUMNS if c != "Recommendation"] + DATE_RANGE_COLUMNS
        self.sort_by = W.Dropdown(options=[(title(c, currency), c) for c in sortable], value="TotalSpend",
                                  description="Sort by", layout=W.Layout(width="300px"))
        self.sort_order = W.ToggleButtons(options=["Descending", "Ascending"], value="Descending")
        self.sort_order.style.button_width = "95px"
        self.page_size = W.Dropdown(options=[25, 50, 100, 250], value=25, description="Rows",
                                    layout=W.Layout(width="150px"))
        self.prev_page = W.Button(description="‹ Previous", layout=W.Layout(width="auto"))
        self.next_page = W.Button(description="Next ›", layout=W.Layout(width="auto"))
        self.page_label = classed(W.HTML(), "seg-page-label")
        #: On paper only: how many rows the printed page of the table leaves out.
        self.left_out = classed(W.HTML(), "seg-print-only", "seg-rows-left-out-box")
        self.page = 1
        self.table = classed(W.HTML(), "seg-table-view")
        self.download = classed(W.HTML(), "seg-download")
        self.big_download = classed(FileDownload(), "seg-download")
        self.prepare_download = classed(W.Button(description="Prepare CSV", icon="download",
                                                 layout=W.Layout(display="none", width="auto")), "seg-prepare-csv")
        self.campaign_button = classed(W.Button(description="Campaign CSV", icon="envelope", layout=W.Layout(
            width="auto"), tooltip="The customers shown with segment, recommendation, lifetime value, P(alive), "
                                   "country and purchase dates, most valuable first"), "seg-campaign")
        self.campaign_download = classed(FileDownload(auto=True), "seg-campaign-download")
        self.palive_note = classed(W.HTML(), "seg-palive-note")
        self.widget = classed(W.VBox([
            W.HTML("<h3>Customers</h3>"),
            W.HBox([self.sort_by, self.sort_order, self.page_size], layout=W.Layout(flex_flow="row wrap")),
            W.HBox([self.prev_page, self.page_label, self.next_page, self.download, self.prepare_download,
                    self.big_download, self.campaign_button, self.campaign_download],
                   layout=W.Layout(align_items="center", grid_gap="12px", flex_flow="row wrap")),
            self.palive_note,
            W.Box([self.table], layout=W.Layout(max_height="520px", overflow="auto")),
            self.left_out,
        ]), "seg-customers", "seg-panel")
        for widget in (self.sort_by, self.sort_order, self.page_size):
            widget.observe(guarded(state, lambda _c: self.show(first_page=True)), names="value")
        self.prev_page.on_click(guarded(state, lambda _b: self._turn(-1)))
        self.next_page.on_click(guarded(state, lambda _b: self._turn(+1)))
        self.prepare_download.on_click(guarded(state, lambda _b: self._draw_download(force=True)))
        self.campaign_button.on_click(guarded(state, lambda _b: self.export_campaign()))
        state.observe(guarded(state, lambda _c: self.show(first_page=True)), names=["filters", "model_version"])
        state.observe(guarded(state, lambda _c: self.show()), names="data_version")  # new data: same page
        self.show()

    def _rows(self) -> np.ndarray:
        return self.state.table_rows(self.sort_by.value, self.sort_order.value == "Ascending")

    @property
    def customer_rows(self) -> pd.DataFrame:
        """The customer table as shown (every page), with the page's column titles and each
        row's segment's evidence in words after the recommendation (``with_evidence`` of
        ``State.evidence``): what the CSV download holds."""
        frame = self.state.table_frame().take(self._rows()).reset_index(drop=True)
        frame = with_evidence(frame, self.state.evidence)
        return readable_table(frame, self.state.currency).rename(columns={"Evidence": EVIDENCE_TITLE})

    @property
    def filename(self) -> str:
        state = self.state
        first, last = (ts.date() for ts in state.data.period)
        return view_name(state.filters, (first, last)) + ".csv"

    @property
    def campaign_rows(self) -> pd.DataFrame:
        """What the campaign CSV holds (``campaign_csv`` of the customers shown)."""
        state = self.state
        selection = state.selection
        return campaign_csv(selection.shown, state.currency, state.evidence, selection.draws, plan_of(state),
                            state.campaign_cost, state.campaign_uplift)

    def export_campaign(self) -> None:
        """Send the campaign CSV to the browser, which saves it at once."""
        state = self.state
        first, last = (ts.date() for ts in state.data.period)
        self.campaign_download.clear()
        self.campaign_download.show(self.campaign_rows, campaign_filename(state.filters, (first, last),
                                                                          state.segmentation))

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
        first = (self.page - 1) * page_size + 1
        self.left_out.value = rows_left_out_html(first, first + len(page_rows) - 1, len(rows))
        self.prev_page.disabled = self.page <= 1
        self.next_page.disabled = self.page >= n_pages
        if download:
            self._draw_download()
            self.campaign_download.clear()  # a list of other customers than those shown now would mislead
            selection = self.state.selection
            note = ""
            if "PAlive" in selection.columns:  # where P(alive) hardly varies, that note says all
                palive = pd.Series(selection.column("PAlive"))
                note = palive_note(palive) or single_day_note(palive, pd.Series(selection.column("Recency")),
                                                              getattr(self.state.model, "clv_params_", None))
            if "CLVLow" in selection.columns:
                note = " ".join(filter(None, [note, value_range_note(getattr(self.state.model, "clv_uncertainty_", None))]))
            self.palive_note.value = f'<p class="seg-meta seg-palive-text">{note}</p>' if note else ""

    def _draw_download(self, force: bool = False) -> None:
        if self.n_rows <= EAGER_DOWNLOAD_ROWS:
            rows = self.customer_rows
            payload = to_safe_csv(rows).encode("utf-8")
            self.prepare_download.layout.display = "none"
            if len(payload) <= DATA_URI_MAX_BYTES:
                self.download.value = download_link_html(rows, self.filename)
                self.big_download.clear()
            else:  # too long for a data URI: a Blob link, built now all the same
                self.download.value = ""
                self.big_download.show(rows, self.filename)
        elif force:
            self.download.value = ""
            self.prepare_download.layout.display = "none"
            self.big_download.show(self.customer_rows, self.filename)
        else:
            self.download.value = ""
            self.big_download.clear()
            self.prepare_download.description = f"Prepare CSV ({self.n_rows:,} customers)"
            self.prepare_download.layout.display = ""
