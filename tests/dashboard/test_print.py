"""The page printed to PDF, checked by the text of each printed page.

The page on the built-in sample and on the real data (``viewer_served`` and ``viewer_page``
of tests/dashboard/conftest.py; the real data in CI), a country chosen, then printed as Chromium prints on Ctrl+P:
print media, the ``beforeprint`` event (``page.pdf`` fires neither), then an A4 PDF at the
page's own margins. The PDF's text is read back page by page with pypdf.
"""
from __future__ import annotations

import io
import os
import re
import unicodedata

import pytest
from dashboard_checks import SECTIONS, show_section
from test_browser import (
    _decode_download,
    _summary,
    _wait_summary_change,
    open_until_drawn,
)

from segkit.dashboard.app import SECTIONS as TITLED_SECTIONS
from segkit.dashboard.fold import NOT_OPENED
from segkit.dashboard.segments import PRODUCTS_TITLE
from segkit.views.products import top_products

pytestmark = pytest.mark.browser

COUNTRY = "Germany"
#: The sections below the first screen the printed page opens (the chart and the summary
#: opened with the page, ``open_until_drawn``; the others stay closed).
OPENED = ("scatter", "segments", "compare", "table")
#: The texts the printed pages must hold whole, as the page shows them on screen.
SCREEN_TEXTS = """(selector) => [...document.querySelectorAll(selector)].map(e => e.innerText.trim()).filter(Boolean)"""


def _words(text: str) -> str:
    """Text as words: ligatures ("ﬁ") undone, every run of white space one space."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip()


def _pdf_pages(pdf: bytes) -> list[str]:
    try:
        import pypdf
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("pypdf is missing in CI: install segkit[test] (make test does)")
        pytest.skip("pypdf is missing: install segkit[test]")
    return [_words(page.extract_text() or "") for page in pypdf.PdfReader(io.BytesIO(pdf)).pages]


def _print(page) -> bytes:
    """The page printed to an A4 PDF, as Chrome's print does (print media, beforeprint)."""
    page.emulate_media(media="print")
    try:
        page.evaluate("() => window.dispatchEvent(new Event('beforeprint'))")
        page.wait_for_timeout(300)
        return page.pdf(format="A4", prefer_css_page_size=True)
    finally:
        page.evaluate("() => window.dispatchEvent(new Event('afterprint'))")
        page.emulate_media(media="screen")


@pytest.fixture(scope="module")
def printed(viewer_page, viewer_served):
    """The page with one country chosen and the sections ``OPENED`` shown, printed: (the
    page, the text of each PDF page); ``page.everyone``: the customers' download before the filter."""
    page = viewer_page
    for name in OPENED:
        show_section(page, name)
    page.everyone = _decode_download(page)  # every customer with the segment the page gives
    before = _summary(page)
    page.locator(".seg-country-filter select").select_option(label=COUNTRY)
    _wait_summary_change(page, before)
    # Every panel has followed the filter: the table's count and the print header (if any).
    customers = int((viewer_served.data.customers["Country"] == COUNTRY).sum())
    page.wait_for_function("""([label, country]) => {
        const filters = document.querySelector('.seg-print-filters');
        return document.querySelector('.seg-page-label').innerText.startsWith(label)
            && (!filters || filters.textContent.includes('Country: ' + country)); }""",
                           arg=[f"{customers:,} customers ·", COUNTRY])
    pdf = _print(page)
    return page, _pdf_pages(pdf)


def test_printed_page_one_has_title_period_and_filters(printed, viewer_served):
    _page, pages = printed
    start, end = viewer_served.data.period
    first = pages[0]
    assert "Customer segments" in first, first[:500]
    assert f"Data period: {start:%d %b %Y} – {end:%d %b %Y}" in first, first[:500]
    assert f"Filters used: Country: {COUNTRY}" in first, first[:500]
    # The filters and the period come before the page's own header and numbers.
    assert first.index("Filters used") < first.index("Data:"), first[:800]


def test_printed_pages_are_numbered_and_none_is_blank(printed):
    _page, pages = printed
    assert len(pages) >= 3, pages
    for number, text in enumerate(pages, start=1):
        footer = f"Page {number} of {len(pages)}"
        assert footer in text, (number, text[:300])
        assert len(text.replace(footer, "").strip()) > 100, f"page {number} is blank: {text!r}"


def test_printed_pages_hold_every_section_whole(printed):
    """Text cut at the page's right edge is missing from the PDF: each sentence and cell
    the screen shows must be found whole in the printed text."""
    page, pages = printed
    document = " ".join(pages)
    assert "DATA PERIOD" in document.upper()
    for selector in (".seg-definition", ".seg-in-numbers", ".seg-recommendation",  # what the segments mean
                     ".seg-summary-table td:last-child",  # the summary's recommendation column
                     ".seg-compare-table td:last-child"):  # the comparison's "Higher" column
        texts = page.evaluate(SCREEN_TEXTS, selector)
        assert texts, selector
        missing = [t for t in texts if _words(t) not in document]
        assert not missing, (selector, missing)


def test_printed_customer_table_says_how_many_rows_are_left_out(printed, viewer_served):
    page, pages = printed
    document = " ".join(pages)
    everyone = viewer_served.data.customers
    total = int((everyone["Country"] == COUNTRY).sum())
    shown = len(page.locator(".seg-customer-table tbody tr").all())
    assert 0 < shown < total, (shown, total)
    assert (f"Rows 1–{shown} of {total:,} shown; {total - shown:,} more row{'' if total - shown == 1 else 's'} "
            "not shown") in document, document[-3000:]


def test_dark_theme_prints_dark_text_on_white(printed, viewer_served):
    page, _pages = printed
    other = page.context.new_page()
    try:
        open_until_drawn(other, viewer_served.url + "?theme=dark")
        other.wait_for_function("() => document.querySelector('style[data-seg-theme=\"dark\"]') !== null")
        other.emulate_media(media="print")
        colours = other.evaluate("""() => ['.seg-app', '.seg-panel', '.seg-table td'].map(s => {
            const style = getComputedStyle(document.querySelector(s));
            return [style.color, style.backgroundColor]; })""")
        for colour, background in colours:
            assert colour.startswith("rgba(0, 0, 0") or colour == "rgb(0, 0, 0)", colours
            assert background in ("rgba(0, 0, 0, 0)", "rgb(255, 255, 255)") or "245" in background, colours
    finally:
        other.close()


def test_printed_page_holds_the_top_products_once_the_section_was_opened(printed, viewer_served):
    """Never opened, the top-products section prints a sentence saying to
    open it (never a silent gap); opened once, the printed page holds each segment's first
    product as pandas ranks it for the page's own segments."""
    page, pages = printed
    document = " ".join(pages)
    assert PRODUCTS_TITLE in document and "open it before printing to include them" in document
    page.locator(".seg-glossary-box").get_by_text(PRODUCTS_TITLE, exact=True).click()
    page.wait_for_selector(".seg-glossary-box .seg-top-products-table")
    page.locator(".seg-glossary-box").get_by_text(PRODUCTS_TITLE, exact=True).click()  # closed again
    document = " ".join(_pdf_pages(_print(page)))
    assert "open it before printing" not in document
    everyone = page.everyone
    segments = everyone.set_index(everyone["Customer"].astype(str))["Segment"]
    expected = top_products(viewer_served.data.lines, segments)
    assert not expected.empty
    for name, rows in expected.groupby("Segment", sort=True):
        first = rows.iloc[0]
        assert _words(str(first.Description)) in document and f"({first.StockCode})" in document, (name, first)


def test_printed_definitions_say_they_are_the_whole_shops(printed, viewer_served):
    """On paper: under the country filter the glossary says its numbers are
    the whole shop's, with the whole shop's customer count."""
    _page, pages = printed
    document = " ".join(pages)
    customers = len(viewer_served.data.customers)
    assert f"are the whole shop's: all {customers:,} customers" in document.replace("’", "'"), document[:3000]


def test_a_never_opened_section_prints_one_line_saying_how_to_include_it(printed):
    """The sections below the first screen that were never shown print their title and one
    line (open it before printing, or the HTML report); those shown print their contents."""
    _page, pages = printed
    document = " ".join(pages)
    closed = [(name, title) for name, title in TITLED_SECTIONS if name not in OPENED]
    assert {name for name, _t in closed} == set(SECTIONS) - set(OPENED)
    assert document.count(_words(NOT_OPENED)) == len(closed), document[-3000:]
    for _name, title in closed:
        assert f"{title} {_words(NOT_OPENED)}" in document, title
    assert "Compare two segments" in document and "Difference" in document  # opened: its contents
