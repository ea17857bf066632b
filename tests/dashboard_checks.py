"""What several dashboard test modules check with: the settings of a viewer and an analyst,
a CSV download decoded back into a table, the rows of an HTML table, and a view's key figures
computed straight from the clean lines with pandas (the independent answer)."""
from __future__ import annotations

import base64
import inspect
import io

import pandas as pd

from segkit.config import Settings

VIEWER = Settings(currency="£", analyst=False)
ANALYST = Settings(currency="£", analyst=True)
#: The first screen drawn (what a visitor sees first, at 1280x800): the header's KPIs, the
#: filters and what the segments mean (the charts are below it). For ``page.wait_for_function``.
FIRST_SCREEN_DRAWN = """() => !document.querySelector('#loading')
  && !!document.querySelector('.seg-kpis .seg-cards')
  && !!document.querySelector('.seg-country-filter select')
  && !!document.querySelector('.seg-glossary .seg-glossary-list')"""
#: A section below the first screen (``segkit.dashboard.fold``) built and drawn: its
#: placeholder gone, its panel in place, each of its charts drawn.
SECTION_SHOWN = """(name) => { const box = document.querySelector('.seg-fold-' + name);
  return !!box && !box.querySelector('.seg-fold-placeholder') && !!box.querySelector('.widget-html')
    && [...box.querySelectorAll('.js-plotly-plot')].every(gd => !!gd.querySelector('.main-svg')); }"""
#: Click a section's "Show" if it is still a placeholder (a click in the page: the
#: placeholder may go meanwhile, scrolled into view).
_CLICK_SHOW = """(name) => { const button = document.querySelector(
  '.seg-fold-' + name + ' .seg-fold-placeholder .seg-fold-show'); if (button) button.click(); }"""
#: The sections below the first screen, in page order (``segkit.dashboard.app.SECTIONS``).
SECTIONS = ("scatter", "segments", "compare", "value", "changes", "campaign", "table", "score", "model")


def show_section(page, name: str):
    """Open the section ``name`` of the page (click its "Show" unless it is built already)
    and wait until its contents are there. With Playwright's async page, returns the
    coroutine to await."""
    if inspect.iscoroutinefunction(page.evaluate):
        async def shown() -> None:
            await page.wait_for_selector(f".seg-fold-{name}", state="attached")
            await page.evaluate(_CLICK_SHOW, name)
            await page.wait_for_function(SECTION_SHOWN, arg=name, polling=100)
        return shown()
    page.wait_for_selector(f".seg-fold-{name}", state="attached")
    page.evaluate(_CLICK_SHOW, name)
    page.wait_for_function(SECTION_SHOWN, arg=name, polling=100)
    return None


def show_sections(page, names=SECTIONS) -> None:
    """Open several sections (default: all) of a sync Playwright page, clicking each
    "Show" first, then waiting for each."""
    for name in names:
        page.wait_for_selector(f".seg-fold-{name}", state="attached")
        page.evaluate(_CLICK_SHOW, name)
    for name in names:
        page.wait_for_function(SECTION_SHOWN, arg=name, polling=100)


def decode_csv_href(href: str) -> pd.DataFrame:
    prefix = "data:text/csv;charset=utf-8;base64,"
    assert href.startswith(prefix)
    return pd.read_csv(io.StringIO(base64.b64decode(href[len(prefix):]).decode("utf-8")), dtype={"CustomerID": str})


def count_rows(html_text: str) -> int:
    return html_text.count("<tr>") - 1


def pandas_kpis(data, country, spend_min, start, end, category):
    """The KPIs of a view straight from the clean lines with pandas: the window's
    customers, orders, spend and average order, and the whole period's (same country and
    spend filters, every date and category)."""
    from segkit.views.tables import ALL, line_categories

    customers = data.customers
    keep = customers.index.to_series().astype(str)
    ok = pd.Series(True, index=customers.index)
    if country != ALL:  # one country, or several (a tuple)
        ok &= customers["Country"].isin([country] if isinstance(country, str) else list(country))
    if spend_min is not None:
        ok &= customers["TotalSpend"] >= spend_min
    kept = set(keep[ok.to_numpy(bool)])
    lines = data.lines
    inside = lines["CustomerID"].astype(str).isin(kept)
    if start is not None:
        inside &= lines["InvoiceDate"] >= pd.Timestamp(start)
    if end is not None:
        inside &= lines["InvoiceDate"] < pd.Timestamp(end) + pd.Timedelta(days=1)
    if category != ALL:
        inside &= line_categories(lines) == category
    window = lines[inside.to_numpy(bool)]
    whole = customers[ok.to_numpy(bool)]
    orders = window["InvoiceNo"].nunique()
    return ({"Customers": window["CustomerID"].nunique(), "Orders": orders, "Spend": window["TotalPrice"].sum(),
             "AvgOrderValue": window["TotalPrice"].sum() / orders if orders else float("nan")},
            {"Customers": len(whole), "Orders": whole["NumPurchases"].sum(), "Spend": whole["TotalSpend"].sum(),
             "AvgOrderValue": whole["TotalSpend"].sum() / whole["NumPurchases"].sum() if len(whole) else float("nan")})


def new_lines_for_known_customers(sample_log, segmented):
    """December's lines of the page's best customers (already in the log) and, a day after
    the log ends, an order from each of five Lost (or Lapsed) customers."""
    log = sample_log.drop(columns=["TotalPrice"], errors="ignore")
    ids = log["CustomerID"].astype("Int64").astype("string")
    in_december = set(ids[log["InvoiceDate"] >= "2011-12-01"])
    best = [c for c in segmented.sort_values("TotalSpend", ascending=False).index if c in in_december][:5]
    lost = segmented.index[segmented["Segment"].isin(["Lost", "Lapsed"])][:5]  # "Lapsed" where the backtest renamed it
    december = log[ids.isin(best) & (log["InvoiceDate"] >= "2011-12-01")]
    back = log[ids.isin(lost)].groupby("CustomerID").head(2).copy()
    back["InvoiceDate"] = log["InvoiceDate"].max() + pd.Timedelta(days=1)
    back["InvoiceNo"] = "N" + back["InvoiceNo"].astype(str)
    return pd.concat([december, back]), set(best), set(lost)
