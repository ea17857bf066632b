"""In a real browser on the real Online Retail data: "what changed" (segment sizes at
each month's end, moves of the last 7 and 30 days) and campaign planning, each figure checked
against a plain-pandas recomputation (the helpers of test_changes_page.py).

The server: the real parquet with a model saved as ``segkit train`` saves it, backtest
evidence included (``real_trained_served`` below). The shared real-data server of
tests/dashboard/conftest.py (``viewer_served``) saves ``real_auto_model`` without a backtest,
so its campaign plan reads "not measured" in every figure but the cost: nothing there
to check against pandas. Read-only, one pre-heated kernel, as viewers get it.
"""
from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from dashboard_checks import show_section
from test_browser import _plain, pages_on, served_with_evidence
from test_changes_page import _check_plan, _customers_by_pandas, _expected_plan, _open_changes, _table

pytestmark = [pytest.mark.browser, pytest.mark.real_data, pytest.mark.slow]

COST, UPLIFT_PERCENT = "3", "40"  # typed into the page: £3 per contact, 40 % uplift


@pytest.fixture(scope="module")
def real_trained_served(real_parquet, real_data, real_auto_model, tmp_path_factory):
    """Voilà on the real parquet with the model ``segkit train`` saves: the auto model plus
    its backtest evidence (``apply_evidence``, which may rename a segment the evidence does
    not back). The session's ``real_auto_model`` is copied, never changed."""
    yield from served_with_evidence("real changes", tmp_path_factory.mktemp("voila-real-changes"), real_data,
                                    copy.deepcopy(real_auto_model), real_parquet)


@pytest.fixture(scope="module")
def page(real_trained_served, browser):
    yield from pages_on(real_trained_served, browser)


def expected_monthly_sizes(model, lines: pd.DataFrame) -> list[tuple[pd.Timestamp, pd.Series]]:
    """Each month's end of the log (the 1st of the next month; the day after the last
    purchase for the last month) and the customers per segment there: the model on a pandas
    customer table of the lines before it."""
    last_day = lines["InvoiceDate"].max().normalize() + pd.Timedelta(days=1)
    firsts = pd.date_range(lines["InvoiceDate"].min().normalize() + pd.offsets.MonthBegin(1), last_day, freq="MS")
    ends = [*firsts[firsts < last_day], last_day]
    return [(as_of, model.segment(_customers_by_pandas(lines, as_of))["Segment"].astype(str).value_counts())
            for as_of in ends]


def expected_moves(model, lines: pd.DataFrame, days: int) -> tuple[pd.Series, int, int]:
    """(customers per from -> to, customers known at both dates, customers new since): the
    model on pandas tables of two equal windows (all the days before the earlier date)."""
    now = lines["InvoiceDate"].max().normalize() + pd.Timedelta(days=1)
    then = now - pd.Timedelta(days=days)
    window = (then - lines["InvoiceDate"].min().normalize()).days
    before = model.segment(_customers_by_pandas(lines, then, window))["Segment"].astype(str)
    after = model.segment(_customers_by_pandas(lines, now, window))["Segment"].astype(str)
    both = before.index.intersection(after.index)
    moved = both[before[both] != after[both]]
    counts = pd.DataFrame({"From": before[moved], "To": after[moved]}).value_counts()
    return counts, len(both), len(after.index.difference(before.index))


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def test_what_changed_on_the_real_data_is_what_pandas_counts(page, real_trained_served):
    """Thirteen months' ends (Dec 2011: 9 days, marked partial), each month's customers per
    segment; then the moves of 7 and of 30 days per from -> to, the customers compared and
    the new ones: all as the saved model gives them on pandas customer tables."""
    served = real_trained_served
    model, lines = served.model, served.data.lines
    _open_changes(page)
    heads = [_plain(h).strip() for h in page.locator(".seg-sizes-table thead th").all_inner_texts()]
    rows = _table(page, ".seg-sizes-table")
    months = expected_monthly_sizes(model, lines)
    assert [r[0] for r in rows] == [f"{m:%b %Y}" for m in pd.date_range("2010-12-01", "2011-11-01", freq="MS")] + [
        "Dec 2011 (9 days)"]
    assert page.locator(".seg-sizes-table tr.seg-partial-month").count() == 1
    assert len(rows) == len(months)
    for row, (as_of, expected) in zip(rows, months):
        shown = {name: _number(value) for name, value in zip(heads[1:-1], row[1:-1])}
        assert {k: v for k, v in shown.items() if v} == expected.to_dict(), (as_of, shown, expected.to_dict())
        assert _number(row[-1]) == expected.sum()
    # The last month's end is the whole log: every customer of the data, as the page's summary counts them.
    assert months[-1][1].sum() == len(served.data.customers)

    for days in (7, 30):
        if days == 30:
            page.locator(".seg-moves-days").get_by_text("Last 30 days", exact=True).click()
            page.wait_for_selector('.seg-moves-summary[data-days="30"]')
        counts, known, new = expected_moves(model, lines, days)
        assert counts.sum() >= 50  # on the real data hundreds move: the check means something
        shown = {(r[0], r[1]): _number(r[2]) for r in _table(page, ".seg-recent-moves")}
        assert shown == {k: int(v) for k, v in counts.items()}, days
        summary = _plain(page.inner_text(".seg-moves-summary"))
        assert summary.startswith(f"{counts.sum():,} of the {known:,} customers known {days} days ago changed segment")
        assert f"{new:,} bought for the first time" in summary
        print(f"\nreal data, moves of {days} days: {counts.sum():,} of {known:,} customers moved, {new:,} new; "
              f"largest: {counts.idxmax()[0]} -> {counts.idxmax()[1]} ({counts.max():,})")


def test_campaign_plan_and_csv_on_the_real_data_follow_the_cost_and_uplift_typed_in(page, real_trained_served,
                                                                                    tmp_path):
    """At the defaults (£1, 10 %) and at £3 and 40 % typed in: each segment's customers,
    return rate, mean next spend, expected extra revenue and net as pandas computes them from
    the saved evidence; the campaign CSV gives every customer their segment's figure."""
    served = real_trained_served
    cost, uplift = float(COST), float(UPLIFT_PERCENT) / 100
    show_section(page, "campaign")
    page.locator(".seg-campaign-plan-table").scroll_into_view_if_needed()
    _check_plan(page, served, 1.0, 0.10)
    assert not _expected_plan(served, 1.0, 0.10)["ReturnRate"].isna().all()  # the evidence reached the page

    for selector, value in ((".seg-campaign-cost input", COST), (".seg-campaign-uplift input", UPLIFT_PERCENT)):
        page.locator(selector).fill(value)
        page.locator(selector).press("Enter")
    page.wait_for_function("() => document.querySelector('.seg-campaign-formula').innerText"
                           f".includes('£{cost:.2f} per contact and {UPLIFT_PERCENT}% uplift')")
    _check_plan(page, served, cost, uplift)

    show_section(page, "table")  # built now: it reads the cost and uplift typed in above
    with page.expect_download() as download_info:
        page.locator(".seg-campaign").click()
    path = tmp_path / download_info.value.suggested_filename
    download_info.value.save_as(path)
    campaign = pd.read_csv(path, dtype={"Customer ID": str})
    expected = _expected_plan(served, cost, uplift)
    segments = served.model.segment(served.data.customers)["Segment"].astype(str)
    segments.index = segments.index.astype(str)
    # Every customer of the view, each in the segment the model gives them.
    assert len(campaign) == len(segments)
    assert (campaign.set_index("Customer ID")["Segment"].astype(str).sort_index()
            == segments.sort_index().reindex(campaign["Customer ID"].sort_values())).all()
    inputs = f"at £{cost:.2f} per contact and {UPLIFT_PERCENT}% uplift"
    columns = {"Customers": "Customers in the segment (shown)",
               "Extra": f"Segment's expected extra revenue {inputs} (£)", "Net": f"Segment's net {inputs} (£)",
               "MeanNextSpend": "Segment's mean next spend per returning customer (£)"}
    rate = [c for c in campaign.columns if c.startswith("Segment's customers who came back within")]
    assert len(rate) == 1, list(campaign.columns)
    columns["ReturnRate"] = rate[0]
    per_customer = expected.loc[campaign["Segment"].astype(str)]
    for figure, heading in columns.items():
        shown, want = campaign[heading], per_customer[figure].to_numpy()
        measured = ~np.isnan(want.astype(float))
        assert (shown[~measured] == "not measured").all(), heading
        assert shown[measured].astype(float).to_numpy() == pytest.approx(want[measured].astype(float), rel=1e-6,
                                                                         abs=1e-6), heading
    print(f"\nreal data, campaign plan at £{cost:.2f} and {UPLIFT_PERCENT} %: "
          + ", ".join(f"{n} £{v:,.0f}" for n, v in expected["Extra"].items()))
