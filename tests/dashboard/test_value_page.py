"""What segments are worth and how they move, in a real browser: Voilà serving
dashboard.ipynb on the built-in sample, with a saved model that carries lifetime value
(fixed published parameters, no fitting), driven by Playwright in Debian's Chromium.

Server and browser as in ``test_browser.py``; one page that the tests share in order,
each undoing what it sets.
"""
from __future__ import annotations

import json
import os
import re

import numpy as np
import pandas as pd
import pytest
from test_browser import (
    TIMEOUT_MS,
    Served,
    _plain,
    _require_chromium,
    _summary,
    _wait_summary_change,
    open_until_drawn,
)
from dashboard_checks import show_section
from test_value_panel import jittered_draws

from segkit.modeling.label import RFM_LABELS

pytestmark = pytest.mark.browser

CLV_PARAMS = {"bgnbd": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},
              "gamma_gamma": {"p": 6.25, "q": 3.74, "v": 15.44}, "time_unit": "D"}
#: How many plotly charts the page draws on load (scatter, sizes, centres; the comparison
#: below the first screen when shown): the value panel adds none until a section is opened.
PAGE_CHARTS = 3
SECTION_DRAWN = """(kind) => {
  const plots = [...document.querySelectorAll('.seg-value .js-plotly-plot')];
  return plots.some(gd => gd.data && gd.data.length && gd.data[0].type === kind && gd.querySelector('.main-svg'));
}"""
SANKEY_LINKS = """() => {
  const gd = [...document.querySelectorAll('.seg-value .js-plotly-plot')]
    .find(g => g.data && g.data[0].type === 'sankey');
  return gd ? Array.from(gd.data[0].link.value) : null;
}"""


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Voilà on the sample with a saved model that has lifetime value (read-only page)."""
    from segkit.config import default_data_path
    from segkit.pipeline.artifacts import save_artifacts
    from segkit.pipeline.workflow import load_customer_data, train_model

    if default_data_path() is not None:
        pytest.skip(f"data/ holds {default_data_path().name}: the sample-data page needs an empty data/ folder")
    _require_chromium()
    folder = tmp_path_factory.mktemp("voila-value")
    data = load_customer_data(None)
    model, _ = train_model(data, 5)
    model.clv_params_ = CLV_PARAMS
    model.clv_uncertainty_ = {"level": 0.9, "draws": jittered_draws(CLV_PARAMS), "independence": {}}
    save_artifacts(model, folder / "artifacts", data.training_info())
    env = dict(os.environ)
    env["SEGKIT_ARTIFACTS"] = str(folder / "artifacts")
    env["SEGKIT_CACHE"] = str(folder / "cache")
    env.pop("SEGKIT_DATA", None)
    env["SEGKIT_ANALYST"] = ""
    server = Served("sample", folder, env)
    server.data, server.model = data, model
    yield server
    server.stop()


@pytest.fixture(scope="module")
def page(served, browser):  # noqa: F811
    served.wait_preheated()
    context = browser.new_context(viewport={"width": 1500, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.load_seconds = open_until_drawn(page, served.url)
    page.full_summary = _summary(page)
    yield page
    context.close()


def _open_section(page, title: str) -> None:
    show_section(page, "value")
    page.locator(".seg-value-sections").get_by_text(title, exact=True).click()


def test_value_panel_is_lazy_and_draws_on_opening(page, served):
    print(f"\nvalue page on the sample: loaded and drawn in {page.load_seconds:.2f} s "
          f"(load average {os.getloadavg()[0]:.2f})")
    assert page.locator(".seg-value").count() == 0  # below the first screen: drawn when shown
    assert page.locator(".js-plotly-plot").count() == PAGE_CHARTS  # nothing extra on the first draw
    show_section(page, "value")
    assert page.locator(".seg-value").count() == 1
    assert page.locator(".seg-value .js-plotly-plot").count() == 0
    kpis = page.inner_text(".seg-kpis").upper()
    assert "LIFETIME VALUE" in kpis and "EXPECTED PURCHASES" in kpis
    assert "Value at stake" in page.inner_text(".seg-at-stake")
    _open_section(page, "Cohort retention")
    page.wait_for_function(SECTION_DRAWN, arg="heatmap", polling=100)
    _open_section(page, "Revenue and customers per segment by month")
    page.wait_for_function(SECTION_DRAWN, arg="scatter", polling=100)
    assert page.inner_text(".seg-message") == ""


def test_migration_chooser_changes_the_sankey(page, served):
    _open_section(page, "Migration since a cut-off")
    page.wait_for_function(SECTION_DRAWN, arg="sankey", polling=100)
    before = page.evaluate(SANKEY_LINKS)
    assert before and sum(before) == len(served.data.customers)
    page.wait_for_selector(".seg-migration table.seg-migration-table")
    # The table and its download arrive just after the chart.
    page.wait_for_function("() => /\\.csv$/.test((document.querySelector('.seg-migration-download a') || {})"
                           ".download || '')", polling=100)
    link = page.locator(".seg-migration-download a")
    assert re.fullmatch(r"segments_migration-since-\d{4}-\d{2}-\d{2}\.csv", link.get_attribute("download"))
    select = page.locator(".seg-cutoff select")
    options = select.locator("option").all_inner_texts()
    select.select_option(label=options[0])
    page.wait_for_function(f"() => JSON.stringify(({SANKEY_LINKS})()) !== {json.dumps(json.dumps(before))}",
                           polling=100)
    assert sum(page.evaluate(SANKEY_LINKS)) == len(served.data.customers)
    assert options[0].replace("\xa0", " ").split()[-1] in page.inner_text(".seg-value")  # the year in the title
    # what the segments at the cut-off count: the model's window (the whole log here) ending there
    assert "Both sides count" in page.inner_text(".seg-migration-note")  # equal windows before and after
    assert page.inner_text(".seg-message") == ""


def test_rfm_switch_changes_segment_names_in_the_summary(page):
    before = _summary(page)
    assert "VIP" in before and "Champions" not in before
    page.locator(".seg-segmentation button", has_text="RFM rules").click()
    after = _wait_summary_change(page, before)
    assert "RFM: Champions" in _plain(after) and "VIP" not in after
    options = [_plain(t.strip()) for t in page.locator(".seg-segment-filter select option").all_inner_texts()]
    assert "RFM: Champions" in options and "VIP" not in options
    assert all(o.startswith("RFM: ") for o in options)  # never one of the model's names
    assert "RFM: Champions" in _plain(page.inner_text(".seg-glossary"))
    # the migration section (open since the test before) redraws with RFM segments, best first
    page.wait_for_function("() => (document.querySelector('.seg-migration-note') || {}).innerText"
                           "?.includes('RFM rule segments')", polling=100)
    page.wait_for_function("() => document.querySelector('.seg-migration-table')?.innerText.includes('Champions')",
                           polling=100)
    rows = [t.strip() for t in page.locator(".seg-migration-table tbody td.text").all_inner_texts()]
    named = [_plain(r) for r in rows if _plain(r) in RFM_LABELS]
    assert len(named) > 3 and named == [n for n in RFM_LABELS if n in named]
    page.locator(".seg-segmentation button", has_text="Model segments").click()
    page.wait_for_function("(t) => document.querySelector('.seg-summary').innerText === t", arg=page.full_summary)


def test_campaign_export_downloads_a_csv_with_the_expected_columns(page, served, tmp_path):
    show_section(page, "table")  # the campaign download sits under the customer table
    before = _summary(page)
    page.locator(".seg-country-filter select").select_option(label="Germany")
    _wait_summary_change(page, before)
    with page.expect_download() as download_info:
        page.locator(".seg-campaign").click()
    download = download_info.value
    assert download.suggested_filename == "campaign_Germany.csv"
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    from segkit.dashboard.table import campaign_titles

    campaign = pd.read_csv(path, dtype={"Customer ID": str})
    assert {"Days since last purchase", "Total spend (£)", "Chance still active (0-1)"} <= set(campaign.columns)
    campaign = campaign.rename(columns={v: k for k, v in campaign_titles().items()})
    assert {"CustomerID", "Segment", "Recommendation", "CLV", "PAlive", "ExpectedPurchases90d", "Country",
            "LastPurchase"} <= set(campaign.columns)
    customers = served.data.customers
    assert len(campaign) == int((customers["Country"] == "Germany").sum())
    assert (campaign["Country"] == "Germany").all() and campaign["CLV"].is_monotonic_decreasing
    page.get_by_role("button", name="Reset filters").click()
    page.wait_for_function("(t) => document.querySelector('.seg-summary').innerText === t", arg=page.full_summary)


SUMMARY_CELLS = """() => [...document.querySelectorAll('.seg-summary table tr')]
  .map(tr => [...tr.querySelectorAll('th, td')].map(c => c.innerText.trim()))"""
MONEY_RANGE = re.compile(r"£([\d,]+) \(£([\d,]+)\u2013£([\d,]+)\)")


def test_a_segments_range_on_the_page_is_that_of_its_draws_totals(page, served):
    """The summary shows each segment's lifetime value as "£X (£L–£H)", the range
    read from every stored draw's total over the segment (here recomputed from the draws),
    and says in words what the range covers."""
    from segkit.value.clv import rfm_frame, value_intervals_by_group, values_under_draws
    from segkit.views.tables import segment_customers

    page.wait_for_function("(t) => document.querySelector('.seg-summary').innerText === t", arg=page.full_summary)
    rows = page.evaluate(SUMMARY_CELLS)
    column = rows[0].index("Lifetime value, 12 months (£)")
    shown = {_plain(row[0]): MONEY_RANGE.fullmatch(_plain(row[column])) for row in rows[1:]}
    assert shown and all(shown.values()), shown
    data, model = served.data, served.model
    rfm = rfm_frame(data.lines)
    draws = values_under_draws(rfm, model.clv_uncertainty_["draws"])
    segments = segment_customers(model, data.customers)["Segment"].astype(str)
    expected = value_intervals_by_group(draws, segments.reindex(rfm.index.astype(segments.index.dtype)).to_numpy())
    for name, match in shown.items():
        low, high = (float(match.group(i).replace(",", "")) for i in (2, 3))
        assert low == pytest.approx(expected.loc[name, "Low"], abs=1.0), name
        assert high == pytest.approx(expected.loc[name, "High"], abs=1.0), name
        assert low < float(match.group(1).replace(",", "")) < high
    assert "not from adding up its customers" in page.inner_text(".seg-summary-range-note")
    card = MONEY_RANGE.search(_plain(page.inner_text(".seg-kpis [data-kpi='Lifetime value, next 12 months']")))
    total_low, total_high = np.quantile(np.nansum(draws, axis=0), [0.05, 0.95])
    assert float(card.group(2).replace(",", "")) == pytest.approx(total_low, abs=1.0)
    assert float(card.group(3).replace(",", "")) == pytest.approx(total_high, abs=1.0)
