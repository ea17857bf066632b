"""Score an uploaded file of transactions or customers with the page's model.

Writes nothing to the state; reads the model and the segmentation. A result says which
model scored it and which customers of the file got no segment (and why); after the
model changes, an older result says it came from the earlier model. Under the RFM switch
the customers get the RFM rule segment (quintiles of the page's customers) as the segment
shown, the model's segment beside it, as the page's table does.

A file of transactions naming customers the page's log knows joins that log (the library
function of ``segkit score --history``): those customers are scored on their whole history
with the new lines added, and the result lists who moved segment because of the upload.
A file of customers the log does not know is scored on its own.
"""
from __future__ import annotations

import html
import re

import ipywidgets as W
import pandas as pd

from segkit.dashboard.upload_mapping import MAPPING_CONTROL, READ_BUTTON, ColumnMapping
from segkit.dashboard.widgets import UploadButton, classed, guarded
from segkit.errors import SegkitError
from segkit.ingest.load import ColumnsNotRecognised
from segkit.modeling.label import rfm_segmented
from segkit.page.data import holds_lines
from segkit.pipeline.backtest import segment_evidence
from segkit.pipeline.workflow import segment_moves
from segkit.server.serve import max_upload_bytes
from segkit.views.tables import (
    EVIDENCE_TITLE,
    UPLOAD_SUFFIXES,
    customers_as_shown,
    download_link_html,
    readable_table,
    score_upload,
    segment_summary,
    summary_html,
    table_html,
    with_evidence,
)

__all__ = ["ScorePanel", "page_words", "moves_html", "MOVES_SHOWN"]


def _ids(ids: list[str], limit: int = 10) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f" and {len(ids) - limit:,} more" if len(ids) > limit else "")


#: The Dates list of the upload: (label, ``dayfirst``).
DATE_ORDERS = [("decided from the file", None), ("day first (dd/mm/yyyy)", True), ("month first (mm/dd/yyyy)", False)]

#: What the loader tells a command-line user, and what a page visitor does instead.
_PAGE_WORDS = [
    (re.compile(r"pass --dayfirst \(dd/mm/yyyy\) or --monthfirst \(mm/dd/yyyy\)\.?"),
     ("choose \u201cday first (dd/mm/yyyy)\u201d or \u201cmonth first (mm/dd/yyyy)\u201d in the Dates list next to "
      "the upload button, then upload the file again.")),
    (re.compile(r"pass --(day|month)first or leave the order out to let segkit decide\.?"),
     lambda m: f"choose \u201c{m.group(1)} first\u201d or \u201cdecided from the file\u201d in the Dates list next "
               "to the upload button, then upload the file again."),
    (re.compile(r" ?\(--allow-short-window\)"), ""),
    (re.compile(r" ?\(drop --rules to use the model's\)"), ""),
    # Columns: the page's column mapping (``upload_mapping``), offered with the refusal.
    (re.compile(r"Rename the columns to the UCI layout \([^)]*\) or pass --columns [^.]*\.$"),
     f"Choose the file's column for each role in the {MAPPING_CONTROL} and press \u201c{READ_BUTTON}\u201d."),
    (re.compile(r"add one, or pass --columns with the roles of its columns \(e\.g\. --columns [^)]*\) to declare "
                r"that every line is one unit\."),
     f"add one (1 on a line of one unit), or choose its columns in the {MAPPING_CONTROL} (with no quantity, "
     f"every line is one unit) and press \u201c{READ_BUTTON}\u201d."),
    (re.compile(r" ?\(--layout \w+\)"), ""),
    (re.compile(r"Leave --layout out, or pass --columns ROLE=COLUMN for the missing roles\."),
     f"Choose the file's column for each role in the {MAPPING_CONTROL} and press \u201c{READ_BUTTON}\u201d."),
    (re.compile(r"Fix the names in --columns\."), f"Choose them again in the {MAPPING_CONTROL}."),
    (re.compile(r"Map the right column with --columns financial_status=<name>, or correct the statuses\."),
     "Correct the statuses in the file, then upload it again."),
    (re.compile(r"map the order's refunded amount with --columns refunded_amount=<name>\."),
     "add each order's refunded amount to the file, then upload it again."),
    (re.compile(r"add one or pass --columns customer=<name>\."), "add one, then upload the file again."),
    (re.compile(r"pass --sheet NAME with the sheet of transactions, or give the sheets the same columns to read them "
                r"as one log\."),
     ("keep only the sheet of transactions in the workbook (or save that sheet as CSV), or give the sheets the same "
      "columns, then upload the file again.")),
    (re.compile(r"save it as parquet and use --engine duckdb, or split it\."),
     "or split it into parts (each customer's lines in one part) and upload them one by one."),
    (re.compile(r"export the transactions as CSV or parquet,"), "export the transactions as CSV,"),
    # Currencies: the page has no exchange rates (``--fx``); one currency per file is what a viewer can upload.
    (re.compile(r"pass --fx RATES\.csv \(lines 'currency,rate_to_<base>'\) to convert them, or convert them first\."),
     "convert them to one currency in the file (this page takes no exchange rates), then upload the file again."),
    (re.compile(r"export one currency per file, or pass --fx RATES\.csv \(lines 'currency,rate_to_<base>'\) to "
                r"convert them to one currency\."),
     "export one currency per file (this page takes no exchange rates) and upload the files one by one."),
    (re.compile(r"; pass --sheet NAME to read one sheet\."), "."),
]


def page_words(text: str) -> str:
    """A loader's sentence for a page visitor: the command-line switches it names
    (``--dayfirst``, ``--columns``, ``--sheet``, ...) become the page's own controls, or
    what a viewer can change in the file before uploading it again."""
    for pattern, replacement in _PAGE_WORDS:
        text = pattern.sub(replacement, text)
    return text


#: Moved customers listed by name on the page (all of them are in the download).
MOVES_SHOWN = 50


def moves_html(scored: pd.DataFrame, limit: int = MOVES_SHOWN) -> str:
    """Who moved segment because of an upload, from ``workflow.segment_moves``'s
    ``SegmentBefore`` / ``Moved``: how many of the known customers moved, the count per
    move (before -> after), and the moved customers (up to ``limit``)."""
    known = scored[scored["SegmentBefore"].notna()]
    moved = known[known["Moved"]]
    if moved.empty:
        return (f'<p class="seg-upload-moves">None of the {len(known):,} customer{"s" if len(known) != 1 else ""} '
                "this page already knew moved segment: with the new lines added to their history they stay where "
                "they were.</p>")
    counts = moved.groupby([moved["SegmentBefore"].astype(str), moved["Segment"].astype(str)]).size()
    counts = counts.sort_values(ascending=False, kind="stable")
    pairs = "; ".join(f"{n:,} {html.escape(old)} \u2192 {html.escape(new)}" for (old, new), n in counts.items())
    rows = "".join(f"<tr><td>{html.escape(str(customer))}</td><td>{html.escape(str(row.SegmentBefore))}</td>"
                   f"<td>{html.escape(str(row.Segment))}</td></tr>"
                   for customer, row in moved.sort_index().head(limit).iterrows())
    more = (f'<p class="seg-meta">and {len(moved) - limit:,} more (all in the download\'s '
            "\u201cSegment before the upload\u201d column).</p>") if len(moved) > limit else ""
    return (f'<div class="seg-upload-moves"><p>{len(moved):,} of the {len(known):,} customer'
            f'{"s" if len(known) != 1 else ""} this page already knew moved segment because of this upload: '
            f"{pairs}.</p>"
            '<table class="seg-table seg-moves-table"><thead><tr><th>Customer</th><th>Before</th><th>After</th>'
            f"</tr></thead><tbody>{rows}</tbody></table>{more}</div>")


class ScorePanel:
    def __init__(self, state):
        self.state = state
        try:
            self.upload_limit = max_upload_bytes()
        except ValueError as exc:
            raise SegkitError(str(exc)) from None
        self.upload = classed(UploadButton(accept=",".join(UPLOAD_SUFFIXES)), "seg-upload")
        self.upload_result = classed(W.HTML(), "seg-upload-result", "seg-scroll")
        #: The column mapping, offered when an upload's columns are not recognised.
        self.mapping = ColumnMapping(guarded(state, lambda name, content, columns: self._score(name, content, columns)))
        #: Text dates: decided from the values, or day- or month-first when every date could be either.
        self.date_order = classed(W.Dropdown(options=DATE_ORDERS, value=None, description="Dates",
                                             layout=W.Layout(width="300px")), "seg-upload-date-order")
        self.scored_with = None
        self.scored_as = None  # the segmentation ("model" or "rfm") of the result shown
        #: The customers of the last file scored, as the page shows them (``None``: none, or refused).
        self.scored: pd.DataFrame | None = None
        self.widget = classed(W.VBox([
            W.HTML("<h3>Score new customers</h3><span class='seg-meta'>A CSV or XLSX of transactions (like the "
                   "shop's data) or of customers (CustomerID and the model's features); each customer gets a "
                   "segment and a recommendation from the model this page shows.</span>"),
            W.HBox([self.upload, self.date_order], layout=W.Layout(flex_flow="row wrap", grid_gap="8px",
                                                                   align_items="center")),
            self.mapping.widget,
            self.upload_result,
        ]), "seg-panel", "seg-upload-box")
        self.upload.observe(guarded(state, lambda _c: self._on_upload()), names="uploads")
        state.observe(guarded(state, lambda _c: self._on_model()), names="model_version")

    @staticmethod
    def _columns_note(columns: dict[str, str]) -> str:
        chosen = ", ".join(f"{role.replace('_', ' ')}: {column}" for role, column in columns.items())
        return f'<p class="seg-meta seg-upload-columns">Read with the columns chosen ({html.escape(chosen)}).</p>'

    def _which_model(self) -> str:
        return "the saved model" if self.state.saved else "this page's model (not saved)"

    def _on_model(self) -> None:
        if self.scored_with is not None and self.upload_result.value:
            if self.scored_as != self.state.segmentation:
                what = "RFM rule segments" if self.state.segmentation == "rfm" else "the model's segments"
                text = f"The page now shows {what}; upload the file again to score it that way."
            else:
                text = ("The model on this page has changed since the last file was scored; upload it again to "
                        "score it with the current model.")
            self.upload_result.value = f'<p class="seg-note seg-upload-stale">{text}</p>'
            self.scored_with = None

    def _on_upload(self) -> None:
        name, content = self.upload.name, self.upload.payload()
        self.mapping.clear()  # a new file: the lists of the last one no longer apply
        try:
            self._score(name, content)
        finally:
            self.upload.content = b""  # the file is not kept in the page (but by an offered mapping)

    def _score(self, name: str, content: bytes, columns: dict[str, str] | None = None) -> None:
        """Score the upload ``name`` (``columns``: the mapping chosen) and show the result,
        or the refusal (offering the column mapping when the columns are not recognised)."""
        size = len(content)
        if size > self.upload_limit:
            self.scored = None
            megabytes = self.upload_limit / 2**20
            limit = f"{megabytes:,.0f} MB" if megabytes >= 1 else f"{megabytes:.2g} MB"
            self.upload_result.value = (
                f'<p class="seg-error seg-upload-too-large">{html.escape(name)} is {size / 2**20:,.1f} MB, above this '
                f"page's upload limit of {limit}; split it into parts under {limit} (each customer's lines in one "
                "part, e.g. a part per group of customers) and upload them one by one, or ask the person who runs "
                "this page to raise the limit.</p>")
            return
        self.upload.busy = True
        try:
            # A file of transactions of customers the page's log knows joins that log (as
            # `segkit score --history`): they are scored on their whole history.
            history = self.state.data.transactions if holds_lines(self.state.data) else None
            scored = score_upload(content, name, self.state.model, self.date_order.value, history=history,
                                  columns=columns)
        except SegkitError as exc:
            self.scored = None
            if isinstance(exc, ColumnsNotRecognised) and exc.columns and not columns:
                self.mapping.offer(name, content, exc.columns)
            text = page_words(str(exc))  # the loader names the CLI's switches; here the page's controls
            self.upload_result.value = f'<p class="seg-error">{html.escape(text)}</p>'
            return
        finally:
            self.upload.busy = False
        self.mapping.clear()
        currency = self.state.currency
        rfm = self.state.segmentation == "rfm"
        if rfm:  # the page's quintiles, so a customer gets the RFM segment the page would give
            scored = rfm_segmented(scored, reference=self.state.scored).__finalize__(scored)
        known = scored.attrs.get("known", [])
        if known:  # the segment each had on this page before the upload (model or RFM, as shown)
            scored = segment_moves(scored, self.state.everyone["Segment"]).__finalize__(scored)
        shown = customers_as_shown(scored)
        table = shown.copy()
        if rfm:
            table.insert(table.columns.get_loc("Segment") + 1, "ModelSegment",
                         scored["ModelSegment"].reindex(table["CustomerID"]).to_numpy())
        if known:
            table.insert(table.columns.get_loc("Segment") + 1, "SegmentBefore",
                         scored["SegmentBefore"].reindex(table["CustomerID"]).to_numpy())
        said = segment_evidence(self.state.model, table["Segment"].astype(str).unique(), currency)
        table = readable_table(with_evidence(table, said), currency).rename(columns={
            "ModelSegment": "Model segment", "SegmentBefore": "Segment before the upload", "Evidence": EVIDENCE_TITLE})
        # Main's warnings (e.g. a log shorter than the model's observation window) first.
        alone = [f'<p class="seg-warning seg-upload-alone">None of the customers in {html.escape(name)} are in this '
                 "page's log, so each is scored on the lines of this file alone: a customer looks as new as the "
                 "file is short.</p>"] if scored.attrs.get("alone") else []
        notes = alone + [f'<p class="seg-warning">{html.escape(page_words(note))}</p>' for note in scored.attrs.get("notes", [])]
        unscored = scored.attrs.get("unscored", [])
        if unscored:
            notes.append(f'<p class="seg-warning seg-upload-unscored">{len(unscored):,} customer'
                         f"{'s' if len(unscored) != 1 else ''} in the file got no segment: no purchase left after "
                         "cleaning (only cancellations, returns or zero prices): "
                         f"{html.escape(_ids(unscored))}.</p>")
        without = scored.attrs.get("lines_without_customer", 0)
        if without:
            notes.append(f'<p class="seg-meta">{without:,} line{"s" if without != 1 else ""} without a customer id '
                         "were left out.</p>")
        if rfm:
            notes.append('<p class="seg-meta seg-upload-rfm">Segments shown: RFM rule segments, from the quintiles of '
                         "this page's customers (as in the page's table); the model's segment is in the download's "
                         "Model segment column.</p>")
        total = len(scored) + len(unscored)
        self.scored = scored
        self.scored_with, self.scored_as = self.state.model_version, self.state.segmentation
        suffix = "_rfm" if rfm else ""
        self.upload_result.value = (
            f'<p class="seg-ok">Scored {len(scored):,} of {total:,} customers from {html.escape(name)} with '
            f"{self._which_model()}.</p>" + (self._columns_note(columns) if columns else "") + "".join(notes) + (moves_html(scored) if known else "")
            + summary_html(segment_summary(scored), currency)
            + "<p>" + download_link_html(table, "scored_" + name.rsplit(".", 1)[0] + suffix + ".csv",
                                         f"Download the {len(table):,} scored customers as CSV") + "</p>"
            + table_html(shown.head(10), currency)
        )
