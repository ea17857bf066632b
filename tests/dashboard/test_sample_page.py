"""Issue 22, point 8 in a real browser: the page `make run` serves on the built-in sample
(the shipped model in artifacts/, read-only) tells the real data's story, a small VIP tier
whose mean spend is far above Loyal's, not a cluster of giants inside Loyal."""
from __future__ import annotations

import os
import shutil

import pytest
from test_browser import Served, _require_chromium, _segments, pages_on

from segkit.config import ARTIFACTS_DIR

pytestmark = pytest.mark.browser

SUMMARY = """() => {
    const table = document.querySelector('.seg-summary table');
    const head = [...table.querySelectorAll('thead th')].map(c => c.innerText.trim());
    const rows = [...table.querySelectorAll('tbody tr')].map(r => [...r.querySelectorAll('th, td')].map(c => c.innerText.trim()));
    return {head, rows};
}"""


@pytest.fixture(scope="module")
def shipped_page(tmp_path_factory, browser, sample_data):
    from segkit.config import default_data_path

    if default_data_path() is not None:
        pytest.skip(f"data/ holds {default_data_path().name}: the sample-data page needs an empty data/ folder")
    folder = tmp_path_factory.mktemp("voila-shipped")
    shutil.copytree(ARTIFACTS_DIR, folder / "artifacts")  # the shipped model, never the checkout's folder
    env = {k: v for k, v in os.environ.items() if k != "SEGKIT_DATA"}
    env.update(SEGKIT_ARTIFACTS=str(folder / "artifacts"), SEGKIT_CACHE=str(folder / "cache"), SEGKIT_ANALYST="")
    _require_chromium()
    served = Served("shipped", folder, env)
    served.data = sample_data
    try:
        yield from pages_on(served, browser)
    finally:
        served.stop()


def test_the_sample_page_shows_a_small_vip_tier_far_above_loyal(shipped_page, sample_data):
    page = shipped_page
    assert "Using the saved model" in page.inner_text(".seg-app")
    assert {"VIP", "Loyal", "Regular", "Budget", "New", "Lapsed"} <= set(_segments(page)), _segments(page)
    table = page.evaluate(SUMMARY)
    head = table["head"]
    spend = next(i for i, h in enumerate(head) if h.startswith("Avg spend"))
    customers = head.index("Customers")
    rows = {r[0]: r for r in table["rows"]}
    mean_spend = {name: float(r[spend].replace(",", "").lstrip("£")) for name, r in rows.items()}
    assert max(mean_spend, key=mean_spend.get) == "VIP", mean_spend
    assert mean_spend["VIP"] > 3 * mean_spend["Loyal"], mean_spend
    vip_share = int(rows["VIP"][customers].replace(",", "")) / len(sample_data.customers)
    assert 0.03 <= vip_share <= 0.10, vip_share
