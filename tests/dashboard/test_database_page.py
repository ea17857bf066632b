"""The page on a table of a database: ``SEGKIT_DATA`` names it as one URL,
``postgresql://USER@HOST:PORT/DB?table=orders``. ``make run``'s first start trains the model
on the table, and the page, its date and category filters included, shows the same numbers
as the same lines read from a file (pandas on the clean lines). Servers, browser and page
helpers as in test_browser.py; PostgreSQL from ``SEGKIT_POSTGRES`` (conftest)."""
from __future__ import annotations

import os
from datetime import date

import numpy as np
import pytest
from test_browser import TIMEOUT_MS, Served, _plain, _require_chromium, open_until_drawn
from dashboard_checks import pandas_kpis

from segkit.engines.database import copy_to_postgres
from segkit.pipeline.workflow import load_customer_data
from segkit.views.tables import ALL

pytestmark = [pytest.mark.browser, pytest.mark.postgres]

TABLE = "segkit_page_orders"


@pytest.fixture(scope="module")
def database_page(tmp_path_factory, postgres, sample_log):
    """Voilà started as ``make run`` starts it with ``SEGKIT_DATA`` naming a PostgreSQL table
    of the sample's lines and no saved model: the first start trains on the table."""
    _require_chromium()
    copy_to_postgres(postgres, TABLE, sample_log.reset_index(drop=True).assign(
        position=np.arange(len(sample_log), dtype="int64")))
    folder = tmp_path_factory.mktemp("voila-database")
    url = f"{postgres}?table={TABLE}&order_by=position"
    env = dict(os.environ, SEGKIT_DATA=url, SEGKIT_ARTIFACTS=str(folder / "artifacts"),
               SEGKIT_CACHE=str(folder / "cache"), SEGKIT_CLV="0", SEGKIT_ANALYST="")
    server = Served("database table", folder, env, first_start=True)
    yield server
    server.stop()


def _card(page, label: str) -> tuple[str, str]:
    card = page.locator(f'.seg-card[data-kpi="{label}"]')
    return _plain(card.locator(".seg-card-value").inner_text()), _plain(card.locator(".seg-card-whole").inner_text())


def test_the_page_opens_on_a_database_table_with_its_date_and_category_filters(database_page, browser, sample_log):
    from segkit.pipeline.artifacts import read_model_card

    log = database_page.log.read_text(errors="replace")
    assert "Trained and saved the model to" in log, log[:2000]
    assert read_model_card(database_page.artifacts)["training_data"]["source"].startswith(TABLE)
    database_page.wait_preheated()
    expected = load_customer_data(sample_log, use_cache=False)  # the same lines read from a frame
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        open_until_drawn(page, database_page.url)
        text = _plain(page.inner_text("body"))
        assert TABLE in text  # the page says what it shows
        assert "postgres@" not in text and "127.0.0.1" not in text  # never the server's address
        cards = _plain(page.inner_text(".seg-kpis"))
        assert f"{len(expected.customers):,}" in cards
        # A date window and a category, from a link: the window's figures from the lines.
        open_until_drawn(page, database_page.url + "?from=2011-09-01&to=2011-11-30&category=Christmas")
        page.wait_for_function("() => document.querySelector('.seg-kpis').innerText.includes('30 Nov 2011')")
        window, whole = pandas_kpis(expected, ALL, None, date(2011, 9, 1), date(2011, 11, 30), "Christmas")
        customers, customers_whole = _card(page, "Customers in the window")
        spend, _ = _card(page, "Spend in the window")
        assert customers == f"{window['Customers']:,}" and customers_whole == f"Whole period: {whole['Customers']:,}"
        assert spend == f"£{window['Spend']:,.2f}"
        print(f"\npage on PostgreSQL table {TABLE}: {len(expected.customers):,} customers; "
              f"Christmas, 01/09-30/11/2011: {window}")
    finally:
        context.close()
