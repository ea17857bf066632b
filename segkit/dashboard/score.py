"""Score an uploaded file of transactions or customers with the page's model.

Writes nothing to the state; reads the model and the segmentation. A result says which
model scored it and which customers of the file got no segment (and why); after the
model changes, an older result says it came from the earlier model. Under the RFM switch
the customers get the RFM rule segment (quintiles of the page's customers) as the segment
shown, the model's segment beside it, as the page's table does.
"""
from __future__ import annotations

import html
import re

import ipywidgets as W

from segkit.dashboard.widgets import UploadButton, classed, guarded
from segkit.errors import SegkitError
from segkit.modeling.label import rfm_segmented
from segkit.server.serve import MAX_UPLOAD_ENV, max_upload_bytes
from segkit.views.tables import (
    UPLOAD_SUFFIXES,
    customer_table,
    download_link_html,
    readable_table,
    score_upload,
    segment_summary,
    summary_html,
    table_html,
)

__all__ = ["ScorePanel", "page_words"]


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
]


def page_words(text: str) -> str:
    """A loader's sentence for a page visitor: the command-line switches it names
    (``--dayfirst``, ``--allow-short-window``, ...) become the page's own controls."""
    for pattern, replacement in _PAGE_WORDS:
        text = pattern.sub(replacement, text)
    return text


class ScorePanel:
    def __init__(self, state):
        self.state = state
        try:
            self.upload_limit = max_upload_bytes()
        except ValueError as exc:
            raise SegkitError(str(exc)) from None
        self.upload = classed(UploadButton(accept=",".join(UPLOAD_SUFFIXES)), "seg-upload")
        self.upload_result = classed(W.HTML(), "seg-upload-result", "seg-scroll")
        #: Text dates: decided from the values, or day- or month-first when every date could be either.
        self.date_order = classed(W.Dropdown(options=DATE_ORDERS, value=None, description="Dates",
                                             layout=W.Layout(width="300px")), "seg-upload-date-order")
        self.scored_with = None
        self.scored_as = None  # the segmentation ("model" or "rfm") of the result shown
        self.widget = classed(W.VBox([
            W.HTML("<h3>Score new customers</h3><span class='seg-meta'>A CSV or XLSX of transactions (like the "
                   "shop's data) or of customers (CustomerID and the model's features); each customer gets a "
                   "segment and a recommendation from the model this page shows.</span>"),
            W.HBox([self.upload, self.date_order], layout=W.Layout(flex_flow="row wrap", grid_gap="8px",
                                                                   align_items="center")),
            self.upload_result,
        ]), "seg-panel", "seg-upload-box")
        self.upload.observe(guarded(state, lambda _c: self._on_upload()), names="uploads")
        state.observe(guarded(state, lambda _c: self._on_model()), names="model_version")

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
        size = len(content)
        if size > self.upload_limit:
            self.upload_result.value = (
                f'<p class="seg-error seg-upload-too-large">{html.escape(name)} is {size / 2**20:,.1f} MB, above the '
                f"upload limit of {self.upload_limit / 2**20:,.0f} MB; score it with <code>segkit score</code> "
                f"instead, or ask whoever runs this page to raise {MAX_UPLOAD_ENV}.</p>")
            return
        self.upload.busy = True
        try:
            scored = score_upload(content, name, self.state.model, self.date_order.value)
        except SegkitError as exc:
            text = page_words(str(exc))  # the loader names the CLI's switches; here it is the Dates list
            self.upload_result.value = f'<p class="seg-error">{html.escape(text)}</p>'
            return
        finally:
            self.upload.busy = False
            self.upload.content = b""  # the file is not kept in the page
        currency = self.state.currency
        rfm = self.state.segmentation == "rfm"
        if rfm:  # the page's quintiles, so a customer gets the RFM segment the page would give
            scored = rfm_segmented(scored, reference=self.state.scored).__finalize__(scored)
        shown = customer_table(scored)
        table = shown.copy()
        if rfm:
            table.insert(table.columns.get_loc("Segment") + 1, "ModelSegment",
                         scored["ModelSegment"].reindex(table["CustomerID"]).to_numpy())
        table = readable_table(table, currency).rename(columns={"ModelSegment": "Model segment"})
        # Main's warnings (e.g. a log shorter than the model's observation window) first.
        notes = [f'<p class="seg-warning">{html.escape(page_words(note))}</p>' for note in scored.attrs.get("notes", [])]
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
        self.scored_with, self.scored_as = self.state.model_version, self.state.segmentation
        suffix = "_rfm" if rfm else ""
        self.upload_result.value = (
            f'<p class="seg-ok">Scored {len(scored):,} of {total:,} customers from {html.escape(name)} with '
            f"{self._which_model()}.</p>" + "".join(notes)
            + summary_html(segment_summary(scored), currency)
            + "<p>" + download_link_html(table, "scored_" + name.rsplit(".", 1)[0] + suffix + ".csv",
                                         f"Download the {len(table):,} scored customers as CSV") + "</p>"
            + table_html(shown.head(10), currency)
        )
