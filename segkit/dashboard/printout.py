"""The page on paper: what printing it (Ctrl+P in Chromium, "Save as PDF") gives.

- ``PRINT_CSS``: A4 pages, every section within the page width (Voilà's fixed-height
  shell let flow onto pages, boxes stacked, tables wrapped in a smaller font, the
  controls left out) and page numbers in the bottom margin. The numbers are an ``@page``
  margin box (``@bottom-right``), which Chromium draws since version 131 when the print
  dialog's own "Headers and footers" is off; with it on, Chromium's footer replaces them.
- ``print_header_html(state)``: the title, the data period and the filters in words, shown
  only on paper, first; ``PrintHeader`` keeps it up to date with the filters.
- ``rows_left_out_html``: under a table the page cuts to a page of rows, how many rows
  the paper leaves out.

The charts are fitted to the paper in the browser when printing starts (``urlsync.PageBridge``):
the text inside the 12 mm side margins is 186 mm, 703 CSS pixels, wide.
"""
from __future__ import annotations

import html

import ipywidgets as W

from segkit.dashboard.report import filters_in_words
from segkit.dashboard.widgets import classed, guarded
from segkit.views.tables import THEMES

__all__ = ["PRINT_CSS", "print_header_html", "rows_left_out_html", "PrintHeader"]

#: Paper is white: the dark theme's light text would not show (``:root`` thrice outranks
#: the theme's ``:root:root``).
_LIGHT_ON_PAPER = ":root:root:root { " + "".join(f"{k}: {v}; " for k, v in THEMES["light"].items()) + "}"

PRINT_CSS = """
.seg-print-only { display: none; }
@media print {
  LIGHT_ON_PAPER
  @page {
    size: A4; margin: 12mm 12mm 14mm 12mm;
    @bottom-right { content: "Page " counter(page) " of " counter(pages); font-size: 8pt; color: #555; }
  }
  /* Voilà's shell is a fixed-height box with its own scrolling (lumino panels placed
     absolutely, with contain: strict): let the page flow onto pages. */
  html, body, #main, #jp-main-content-panel, #rendered_cells, #rendered_cells > div, .jp-LabShell, .lm-BoxPanel,
  .lm-BoxPanel-child, .jp-Notebook, .jp-Cell, .jp-OutputArea, .jp-OutputArea-child, .jp-OutputArea-output,
  .jp-Cell-outputWrapper, .seg-app, .seg-app .widget-box { height: auto !important; max-height: none !important;
    overflow: visible !important; position: static !important; contain: none !important; }
  /* Lumino sets the shell's width in pixels to the window's: on paper, the page's. */
  html, body, #main, #jp-main-content-panel, #rendered_cells, #rendered_cells > div, .jp-LabShell, .lm-BoxPanel,
  .lm-BoxPanel-child, .jp-Notebook, .jp-Cell, .jp-Cell-outputWrapper, .jp-OutputArea, .jp-OutputArea-child,
  .jp-OutputArea-output { width: auto !important; min-width: 0 !important; max-width: none !important; }
  body, .jp-Notebook, .jp-Cell, .jp-Cell-outputWrapper, .jp-OutputArea-output { padding: 0 !important;
    margin: 0 !important; }
  .jp-OutputArea-child, .jp-OutputArea-output { display: block !important; }
  /* JupyterLab keeps an output on one page (break-inside: avoid-page): the whole page is
     one output, so Chromium began it on page 2 and left page 1 blank. */
  .jp-Cell, .jp-Cell-outputWrapper, .jp-OutputArea, .jp-OutputArea-child, .jp-OutputArea-output, .seg-app,
  .seg-app .widget-box { break-inside: auto !important; }
  .jp-OutputArea-prompt, .jp-InputArea, .jp-MarkdownCell { display: none !important; }
  .seg-print-only { display: block !important; }
  /* A section never opened (fold.FoldSection) prints its title and one line saying so. */
  .seg-fold-hint, .seg-fold-watch { display: none !important; }
  .seg-fold-placeholder { min-height: 0 !important; }
  .seg-app { display: block !important; width: 100% !important; font-size: 10px !important; }
  /* Every box at most the page's width. Columns (vbox) never wrap: a wrapping column
     takes the width of its widest line, far wider than the paper. Rows (hbox) wrap and
     their columns take the whole width, one under the other. */
  .seg-app > *, .seg-app .widget-box, .seg-app .widget-html, .seg-app .widget-html-content {
    max-width: 100% !important; min-width: 0 !important; box-sizing: border-box; }
  .seg-app > * { width: 100% !important; padding: 0 !important; }
  .seg-app .widget-vbox { flex-wrap: nowrap !important; }
  .seg-app .widget-hbox { flex-wrap: wrap !important; }
  .seg-app .widget-hbox > .widget-vbox { width: 100% !important; flex: 1 1 100% !important; }
  /* break-word, not anywhere: "anywhere" lets table columns shrink to one letter. */
  .seg-app .widget-html-content { white-space: normal !important; overflow-wrap: break-word;
    line-height: 1.35 !important; }
  .seg-app h1 { font-size: 18px; } .seg-app h2 { font-size: 14px; } .seg-app h3 { font-size: 12px; }
  .seg-panel { padding: 4px 6px; border-radius: 0; }
  .seg-cards { gap: 4px; }
  .seg-card { flex: 1 1 100px; padding: 3px 6px; }
  .seg-card-value { font-size: 13px; }
  .seg-card-label, .seg-card-whole, .seg-meta { font-size: 8px; }
  .seg-glossary-list { display: block !important; }
  /* A closed section (lumino hides its contents) is printed open: paper has no click. */
  .seg-products-section .jupyter-widget-Collapse-contents, .seg-products-section .lm-mod-hidden {
    display: block !important; }
  /* Tables: wrapped in a smaller font, headings repeated on each page, never scrolled. */
  .seg-scroll, .seg-upload-result, .seg-k-table-view { overflow: visible !important; }
  .seg-table { font-size: 8px !important; line-height: 1.25; width: 100% !important; table-layout: auto; }
  .seg-table th, .seg-table td { white-space: normal !important; overflow-wrap: break-word; padding: 2px 3px !important;
    min-width: 0 !important; }
  .seg-table td.num { white-space: nowrap !important; }
  .seg-table th { position: static !important; }
  .seg-table thead { display: table-header-group; }
  .seg-table tr, .seg-card, .seg-term, .js-plotly-plot, .seg-print-header { break-inside: avoid; }
  /* The controls do nothing on paper. */
  .seg-filters, .seg-theme, .seg-report-button, .seg-report-download, .seg-upload-box, .seg-retrain,
  .seg-prepare-csv, .seg-3d-toggle, .seg-download, .seg-campaign-download, .seg-live-moves, .jupyter-button,
  .widget-button, .widget-dropdown, .widget-toggle-buttons, .widget-checkbox, .seg-upload-button { display: none !important; }
  .seg-print-header { border-bottom: 1px solid #999; margin-bottom: 6px; padding-bottom: 4px; }
  .seg-print-header h1 { margin: 0 0 4px 0; }
  .seg-print-header p, .seg-print-header ul { margin: 2px 0; }
  .seg-print-header ul { padding-left: 16px; }
}
""".replace("LIGHT_ON_PAPER", _LIGHT_ON_PAPER)


def print_header_html(state) -> str:
    """The title, the data period, the customers shown and the filters in words
    (``report.filters_in_words``), shown first on paper."""
    start, end = state.data.period
    customers = len(state.selection)
    everyone = len(state.data.customers)
    filters = "".join(f"<li>{html.escape(w)}</li>" for w in filters_in_words(state))
    return (f'<div class="seg-print-header seg-print-only"><h1>Customer segments</h1>'
            f'<p class="seg-print-period"><b>Data period</b>: {start:%d %b %Y} – {end:%d %b %Y} · '
            f"{html.escape(state.data.source)}</p>"
            f'<p class="seg-print-shown"><b>Customers shown</b>: {customers:,} of {everyone:,}</p>'
            f'<p><b>Filters used</b>:</p><ul class="seg-print-filters">{filters}</ul></div>')


def rows_left_out_html(first: int, last: int, total: int) -> str:
    """Under a table showing rows ``first``..``last`` (1-based) of ``total``: how many
    rows the paper leaves out ("" when it shows them all); shown only on paper."""
    left_out = total - (last - first + 1)
    if total == 0 or left_out <= 0:
        return ""
    return (f'<p class="seg-print-only seg-rows-left-out">Rows {first:,}–{last:,} of {total:,} shown; '
            f"{left_out:,} more row{'' if left_out == 1 else 's'} not shown (the CSV download holds them all).</p>")


class PrintHeader:
    """The print CSS and the print-only header, one widget (hidden on screen) kept up to
    date with the filters, the model and the data."""

    def __init__(self, state):
        self.state = state
        self.widget = classed(W.HTML(), "seg-print-only", "seg-print-header-box")
        state.observe(guarded(state, lambda _c: self.show()), names=["filters", "model_version", "data_version"])
        self.show()

    def show(self) -> None:
        self.widget.value = f"<style data-seg-print>{PRINT_CSS}</style>{print_header_html(self.state)}"
