"""Two of a manager's requests in a real browser: each segment's top products
under "What the segments mean", and a link with several countries. The read-only servers
and the page are tests/dashboard/conftest.py's (sample, and the real parquet with a saved
model)."""
from __future__ import annotations

import pytest
from dashboard_checks import show_section
from test_browser import _decode_download, _plain, opened_page

from segkit.dashboard.segments import PRODUCTS_TITLE
from segkit.views.products import lift_words, top_products

pytestmark = pytest.mark.browser

BOTH = ("France", "Germany")


def test_top_products_table_is_on_the_page(viewer_page, viewer_served):
    """Opening the section shows a small table per segment; the first segment's products
    and lifts are those pandas gives for the page's own segments (its download)."""
    page, served = viewer_page, viewer_served
    box = page.locator(".seg-glossary-box")
    box.get_by_text(PRODUCTS_TITLE, exact=True).click()
    page.wait_for_selector(".seg-glossary-box .seg-top-products-table")
    everyone = _decode_download(page)
    segments = everyone.set_index(everyone["Customer"].astype(str))["Segment"]
    expected = top_products(served.data.lines, segments)
    shown = {_plain(page.locator(".seg-top-products-segment").nth(i).get_attribute("data-segment"))
             for i in range(page.locator(".seg-top-products-segment").count())}
    assert shown == {_plain(s) for s in segments.unique()}
    for name in sorted(set(expected["Segment"]))[:2]:
        rows = expected[expected["Segment"] == name]
        table = page.locator(f'.seg-top-products-segment[data-segment="{name}"] tbody tr').all_inner_texts()
        assert len(table) == len(rows)
        for text, row in zip(table, rows.itertuples()):
            cells = [_plain(c.strip()) for c in text.split("\t")]
            assert row.StockCode in cells[0] and cells[1] == f"{row.Buyers:,}" and cells[3] == lift_words(row.Lift)
    first = expected.iloc[0]
    print(f"\ntop products on {served.name}: {first.Segment}: {first.Description} ({first.StockCode}), "
          f"{lift_words(first.Lift)}, spend £{first.Spend:,.2f}")
    box.get_by_text(PRODUCTS_TITLE, exact=True).click()  # closed again


def test_a_link_with_two_countries_shows_the_customers_of_both(viewer_served, browser):
    served = viewer_served
    customers = served.data.customers
    expected = customers[customers["Country"].isin(BOTH)]
    with opened_page(served, browser, "?country=France,Germany") as page:
        show_section(page, "table")  # built after the link set the countries
        page.wait_for_function("(n) => document.querySelector('.seg-download a') &&"
                               " document.querySelector('.seg-download a').dataset.rows === String(n)",
                               arg=len(expected))
        chosen = page.eval_on_selector(".seg-country-filter select",
                                       "s => [...s.selectedOptions].map(o => o.textContent.trim())")
        assert sorted(chosen) == list(BOTH)
        downloaded = _decode_download(page)
        assert len(downloaded) == len(expected) and set(downloaded["Country"]) == set(BOTH)
        assert downloaded["Spend (£)"].sum() == pytest.approx(expected["TotalSpend"].sum(), abs=0.01 * len(expected))
        card = _plain(page.locator('.seg-card[data-kpi="Customers"] .seg-card-value').inner_text())
        assert card == f"{len(expected):,}"
        spend = _plain(page.locator('.seg-card[data-kpi="Total spend"] .seg-card-value').inner_text())
        assert spend == f"£{expected['TotalSpend'].sum():,.0f}"
        assert "country=France,Germany" in page.url
        assert "Countries: France, Germany" in page.text_content(".seg-print-filters")  # stated on paper
        assert page.get_attribute(".seg-download a", "download") == "segments_France-Germany.csv"
        print(f"\n{served.name}: France + Germany: {len(expected):,} customers "
              f"({(expected['Country'] == 'France').sum():,} + {(expected['Country'] == 'Germany').sum():,}), "
              f"spend £{expected['TotalSpend'].sum():,.2f}")
