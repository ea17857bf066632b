"""In a real browser: "what changed" (segment sizes at each month's end, moves of the
last 7 and 30 days) and campaign planning, each figure checked against pandas.

One Voilà server on the built-in sample with a saved model that carries its backtest (as
``segkit train`` saves it); read-only, as viewers get it. The server is
conftest.py's ``evidence_served``; the page as in test_browser.py (``pages_on``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from dashboard_checks import show_section
from test_browser import _plain, pages_on

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def served(evidence_served):
    return evidence_served


@pytest.fixture(scope="module")
def page(served, browser):
    yield from pages_on(served, browser)


def _customers_by_pandas(lines: pd.DataFrame, as_of: pd.Timestamp, window: int | None = None) -> pd.DataFrame:
    """The customer table as of ``as_of`` by plain pandas: counts and money over the ``window``
    days before it (None: all), dates over all purchases before it."""
    known = lines[lines["InvoiceDate"] < as_of].assign(Spend=lambda f: f["Quantity"] * f["UnitPrice"])
    ids = known["CustomerID"].astype("string").rename("CustomerID")
    table = known.groupby(ids).agg(FirstPurchase=("InvoiceDate", "min"), LastPurchase=("InvoiceDate", "max"),
                                   Country=("Country", lambda s: sorted(s.value_counts().loc[lambda c: c == c.max()]
                                                                        .index)[0]))
    inside = known if window is None else known[known["InvoiceDate"] >= as_of - pd.Timedelta(days=window)]
    counted = inside.groupby(inside["CustomerID"].astype("string").rename("CustomerID")).agg(
        NumPurchases=("InvoiceNo", "nunique"), TotalQuantity=("Quantity", "sum"), TotalSpend=("Spend", "sum"),
        DistinctProducts=("StockCode", "nunique"))
    table = table.join(counted)
    for column in ("NumPurchases", "TotalQuantity", "DistinctProducts"):
        table[column] = table[column].fillna(0).astype("int64")
    table["TotalSpend"] = table["TotalSpend"].fillna(0.0).round(2)
    table["Recency"] = (as_of - table["LastPurchase"]).dt.days
    table["Tenure"] = (table["LastPurchase"] - table["FirstPurchase"]).dt.days
    table["AvgOrderValue"] = (table["TotalSpend"] / table["NumPurchases"].where(table["NumPurchases"] > 0)).fillna(
        0.0).round(2)
    return table


def _open_changes(page) -> None:
    from segkit.dashboard.changes_panel import CHANGES_TITLE

    show_section(page, "changes")
    page.locator(".seg-changes-section").get_by_text(CHANGES_TITLE, exact=True).click()
    page.wait_for_selector(".seg-sizes-table", timeout=180_000)
    page.wait_for_selector(".seg-moves-summary", timeout=180_000)


def _table(page, selector: str) -> list[list[str]]:
    return [[_plain(c).strip() for c in row.split("\t")] for row in page.locator(f"{selector} tbody tr").all_inner_texts()]


def test_what_changed_shows_each_months_sizes_and_the_last_weeks_moves_as_pandas_counts_them(page, served):
    """Each month's end: the saved model on a pandas customer table of the lines before it;
    the last month says it is partial. Moves of 7 days, then of 30: the model on pandas tables
    of two equal windows, counted per from -> to."""
    model, lines = served.model, served.data.lines
    _open_changes(page)
    heads = [_plain(h).strip() for h in page.locator(".seg-sizes-table thead th").all_inner_texts()]
    rows = _table(page, ".seg-sizes-table")
    assert len(rows) == 13 and rows[0][0] == "Dec 2010" and rows[-1][0] == "Dec 2011 (9 days)"
    assert page.locator(".seg-sizes-table tr.seg-partial-month").count() == 1
    assert "Partial month: Dec 2011 (9 days)" in _plain(page.inner_text(".seg-partial-note"))
    assert "up to that month's end" in _plain(page.inner_text(".seg-sizes-note"))
    ends = [pd.Timestamp(f"{y}-{m:02d}-01") for y, m in [(2011, m) for m in range(1, 13)]] + [pd.Timestamp("2011-12-10")]
    for row, as_of in zip(rows, ends):
        expected = model.segment(_customers_by_pandas(lines, as_of))["Segment"].astype(str).value_counts()
        shown = {name: int(value.replace(",", "")) for name, value in zip(heads[1:-1], row[1:-1])}
        assert {k: v for k, v in shown.items() if v} == expected.to_dict(), (as_of, shown, expected)
        assert int(row[-1].replace(",", "")) == expected.sum()

    now = pd.Timestamp("2011-12-10")
    first_day = lines["InvoiceDate"].min().normalize()
    for days in (7, 30):
        if days == 30:
            page.locator(".seg-moves-days").get_by_text("Last 30 days", exact=True).click()
            page.wait_for_selector('.seg-moves-summary[data-days="30"]')
        then = now - pd.Timedelta(days=days)
        window = (then - first_day).days  # a model of whole logs: all the days before "then", both sides
        before = model.segment(_customers_by_pandas(lines, then, window))["Segment"].astype(str)
        after = model.segment(_customers_by_pandas(lines, now, window))["Segment"].astype(str)
        both = before.index.intersection(after.index)
        moved = both[before[both] != after[both]]
        expected = pd.DataFrame({"From": before[moved], "To": after[moved]}).value_counts()
        assert len(moved) >= 5  # the test means something
        shown = {(r[0], r[1]): int(r[2].replace(",", "")) for r in _table(page, ".seg-recent-moves")}
        assert shown == {k: int(v) for k, v in expected.items()}, days
        summary = _plain(page.inner_text(".seg-moves-summary"))
        assert summary.startswith(f"{len(moved):,} of the {len(both):,} customers known {days} days ago changed segment")
        assert f"{len(after.index.difference(before.index)):,} bought for the first time" in summary
        note = _plain(page.inner_text(".seg-moves-note"))
        assert f"as of {then:%d %b %Y} against now ({now:%d %b %Y}" in note and f"over the {window:,} days" in note
        print(f"\nmoves of {days} days on the sample: {len(moved)} of {len(both)} customers moved")


def _plan_rows(page) -> dict[str, dict[str, str]]:
    rows = {}
    for i in range(page.locator(".seg-campaign-plan-table tbody tr").count()):
        row = page.locator(".seg-campaign-plan-table tbody tr").nth(i)
        cells = row.locator("td")
        rows[_plain(row.get_attribute("data-segment"))] = {
            cells.nth(j).get_attribute("data-column"): (cells.nth(j).get_attribute("data-value")
                                                        or _plain(cells.nth(j).inner_text()).strip())
            for j in range(cells.count())}
    return rows


def _expected_plan(served, cost: float, uplift: float) -> pd.DataFrame:
    sizes = served.model.segment(served.data.customers)["Segment"].astype(str).value_counts()
    found = served.model.evidence_["segments"]
    rate = sizes.index.map(lambda s: found.get(s, {}).get("return_rate", np.nan)).to_numpy(dtype=float)
    spend = sizes.index.map(lambda s: found.get(s, {}).get("mean_spend", np.nan)).to_numpy(dtype=float)
    per_returner = np.where(rate > 0, spend / np.where(rate > 0, rate, 1), 0.0)
    extra = sizes.to_numpy() * rate * per_returner * uplift
    return pd.DataFrame({"Customers": sizes.to_numpy(), "ReturnRate": rate, "MeanNextSpend": per_returner,
                         "Extra": extra, "Net": extra - sizes.to_numpy() * cost}, index=sizes.index)


def _check_plan(page, served, cost: float, uplift: float) -> None:
    expected = _expected_plan(served, cost, uplift)
    shown = _plan_rows(page)
    assert set(shown) == set(expected.index)
    for name, row in expected.iterrows():
        cells = shown[name]
        assert int(cells["Customers"].replace(",", "")) == row["Customers"]
        if np.isnan(row["ReturnRate"]):
            assert cells["ExpectedExtraRevenue"] == "not measured" == cells["Net"]
            continue
        # The page writes each figure with six decimals (data-value): equal to within 1e-6.
        assert float(cells["ReturnRate"]) == pytest.approx(row["ReturnRate"], rel=1e-6, abs=1e-6)
        assert float(cells["MeanNextSpend"]) == pytest.approx(row["MeanNextSpend"], rel=1e-6, abs=1e-6)
        assert float(cells["ExpectedExtraRevenue"]) == pytest.approx(row["Extra"], rel=1e-6, abs=1e-6)
        assert float(cells["Net"]) == pytest.approx(row["Net"], rel=1e-6, abs=1e-6)


def test_campaign_planning_follows_the_evidence_and_the_cost_and_uplift_typed_in(page, served, tmp_path):
    """Defaults £1 and 10 %: per segment size x return rate x mean next spend x uplift, net of
    size x cost, from the model's stored evidence (pandas); then £2.50 and 25 %: new figures,
    and the campaign CSV carries the same figures per customer's segment."""
    show_section(page, "campaign")
    page.locator(".seg-campaign-plan-table").scroll_into_view_if_needed()
    formula = _plain(page.inner_text(".seg-campaign-formula"))
    assert "Expected extra revenue = customers × return rate × mean next spend × uplift" in formula
    assert "£1.00 per contact and 10% uplift" in formula
    heads = [_plain(h) for h in page.locator(".seg-campaign-plan-table thead th").all_inner_texts()]
    assert "Expected extra revenue (£)" in heads and "Net (£)" in heads
    _check_plan(page, served, 1.0, 0.10)

    for selector, value in ((".seg-campaign-cost input", "2.5"), (".seg-campaign-uplift input", "25")):
        page.locator(selector).fill(value)
        page.locator(selector).press("Enter")
    page.wait_for_function("() => document.querySelector('.seg-campaign-formula').innerText"
                           ".includes('£2.50 per contact and 25% uplift')")
    _check_plan(page, served, 2.5, 0.25)

    show_section(page, "table")  # built now: it reads the cost and uplift typed in above
    with page.expect_download() as download_info:
        page.locator(".seg-campaign").click()
    path = tmp_path / download_info.value.suggested_filename
    download_info.value.save_as(path)
    campaign = pd.read_csv(path, dtype={"Customer ID": str})
    expected = _expected_plan(served, 2.5, 0.25)
    extra = campaign["Segment's expected extra revenue at £2.50 per contact and 25% uplift (£)"]
    by_segment = pd.Series(extra.to_numpy(), index=campaign["Segment"]).groupby(level=0).first()
    for name, value in by_segment.items():
        if np.isnan(expected.loc[name, "Extra"]):
            assert value == "not measured"
        else:
            assert float(value) == pytest.approx(expected.loc[name, "Extra"], rel=1e-6)
    print("\ncampaign plan at £2.50 and 25 %: " + ", ".join(f"{n} £{v:,.0f}" for n, v in expected["Extra"].items()))
