"""In a real browser: what the page says is true in every corner. The compare
figures and the KPIs of a filtered window are checked against pandas, the upload of
day-first dates against the same rows with ISO dates, and a plain `voila` without the
installed template serves the page. The server and the page: tests/dashboard/conftest.py."""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from test_browser import (
    TIMEOUT_MS,
    _decode_download,
    _plain,
    _reset,
    _segments,
    _summary,
    _upload,
    _wait_summary_change,
    open_until_drawn,
)
from dashboard_checks import pandas_kpis, show_section

from segkit.views.tables import ALL

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def served(viewer_served):
    """The read-only server of tests/dashboard/conftest.py (sample and real)."""
    return viewer_served


@pytest.fixture(scope="module")
def page(viewer_page):
    return viewer_page


def _expected_higher(a: str, value_a: float, b: str, value_b: float) -> str:
    """What the "Higher" column must say, from two figures computed with pandas."""
    (high, hv), (low, lv) = sorted([(a, value_a), (b, value_b)], key=lambda p: p[1], reverse=True)
    ratio = hv / lv
    if ratio >= 1.95:
        return f"{high} is {ratio:,.1f} times {low} (+{(ratio - 1) * 100:,.0f} %)"
    return f"{high} is {(ratio - 1) * 100:,.0f} % above {low}"


def _choose_pair(page, a: str, b: str) -> dict[str, list[str]]:
    show_section(page, "compare")
    compare = page.locator(".seg-compare")
    compare.locator("select").nth(0).select_option(label=a)
    page.wait_for_function("(a) => [...document.querySelectorAll('.seg-compare select')][1].options.length > 0"
                           " && ![...document.querySelectorAll('.seg-compare select')[1].options]"
                           ".some(o => o.textContent.trim().replace(/\\u00a0/g, ' ') === a)", arg=_plain(a))
    compare.locator("select").nth(1).select_option(label=b)
    page.wait_for_function("([a, b]) => { const t = document.querySelector('.seg-compare-table').innerText;"
                           " return t.includes('A: ' + a) && t.includes('B: ' + b); }", arg=[_plain(a), _plain(b)])
    rows = page.locator(".seg-compare-table tbody tr").all_inner_texts()
    return {r.split("\t")[0].strip(): [c.strip() for c in r.split("\t")] for r in rows}


def test_compare_says_how_many_times_the_higher_is_whichever_is_a(page, served):
    """The segment with the highest average spend against the one with the lowest, both
    ways round: the "Higher" column gives the pandas ratio and per cent each time."""
    everyone = _decode_download(page)
    spend = everyone.groupby("Segment")["Spend (£)"].agg(["mean", "sum"])
    high, low = spend["mean"].idxmax(), spend["mean"].idxmin()
    labels = {_plain(s): s for s in _segments(page)}
    want_mean = _expected_higher(high, spend.loc[high, "mean"], low, spend.loc[low, "mean"])
    want_sum = _expected_higher(high, spend.loc[high, "sum"], low, spend.loc[low, "sum"])
    seen = []
    for a, b in ((high, low), (low, high)):
        rows = _choose_pair(page, labels[a], labels[b])
        assert _plain(rows["Avg spend"][4]) == want_mean, (rows["Avg spend"], want_mean)
        assert _plain(rows["Total spend"][4]) == want_sum, (rows["Total spend"], want_sum)
        seen.append(_plain(rows["Avg spend"][4]))
        assert " by " not in _plain(page.inner_text(".seg-compare-table"))
    assert seen[0] == seen[1]
    print(f"\ncompare on {served.name}: {want_mean}; total spend: {want_sum}")


def _set_dates(page, start: str, end: str) -> None:
    boxes = page.locator(".seg-date-filter input")
    for i, text in ((0, start), (1, end)):
        before = _summary(page)
        boxes.nth(i).fill(text)
        boxes.nth(i).press("Enter")
        _wait_summary_change(page, before)


def _card(page, label: str) -> tuple[str, str]:
    card = page.locator(f'.seg-card[data-kpi="{label}"]')
    return _plain(card.locator(".seg-card-value").inner_text()), _plain(card.locator(".seg-card-whole").inner_text())


@pytest.mark.parametrize("country,category", [("France", "Christmas"), (ALL, ALL), ("Germany", ALL),
                                              (ALL, "Christmas")])
def test_kpis_under_a_date_window_are_the_windows_with_the_whole_period_beside(page, served, country, category):
    """01/09/2011-30/11/2011 with a country and a category: the cards show the window's
    customers, orders, spend and average order (pandas on the clean lines), the whole
    period's beside them, labelled."""
    if country != ALL:
        before = _summary(page)
        page.locator(".seg-country-filter select").select_option(label=country)
        _wait_summary_change(page, before)
    if category != ALL:
        before = _summary(page)
        page.locator(".seg-category-filter select").select_option(label=category)
        _wait_summary_change(page, before)
    _set_dates(page, "01/09/2011", "30/11/2011")
    page.wait_for_function("() => document.querySelector('.seg-kpis').innerText.includes('30 Nov 2011')")
    from datetime import date

    window, whole = pandas_kpis(served.data, country, None, date(2011, 9, 1), date(2011, 11, 30), category)
    customers, customers_whole = _card(page, "Customers in the window")
    orders, orders_whole = _card(page, "Orders in the window")
    spend, spend_whole = _card(page, "Spend in the window")
    average, average_whole = _card(page, "Avg order in the window")
    assert customers == f"{window['Customers']:,}" and customers_whole == f"Whole period: {whole['Customers']:,}"
    assert orders == f"{window['Orders']:,}" and orders_whole == f"Whole period: {whole['Orders']:,}"
    assert spend == f"£{window['Spend']:,.2f}" and spend_whole == f"Whole period: £{whole['Spend']:,.0f}"
    assert average == f"£{window['AvgOrderValue']:,.2f}" and average_whole == f"Whole period: £{whole['AvgOrderValue']:,.2f}"
    note = _plain(page.inner_text(".seg-kpi-window-note"))
    assert "01 Sep 2011 – 30 Nov 2011" in note and ("in Christmas" in note) == (category != ALL)
    assert "Total spend" not in _plain(page.inner_text(".seg-kpis"))  # no whole-period figure without its label
    print(f"\nKPIs on {served.name}, {country}, {category}, 01/09-30/11/2011: {window} (whole period {whole})")
    _reset(page)


def _december(served, folder: Path, dayfirst: bool) -> Path:
    lines = served.data.transactions
    lines = lines[lines["InvoiceDate"] >= "2011-12-01"].drop(columns=["TotalPrice"], errors="ignore").copy()
    if dayfirst:
        lines["InvoiceDate"] = lines["InvoiceDate"].dt.strftime("%d/%m/%Y %H:%M")
    path = folder / ("december_dayfirst.csv" if dayfirst else "december_iso.csv")
    lines.to_csv(path, index=False)
    return path


def _upload_result(page, path: Path) -> str:
    show_section(page, "score")
    before = page.inner_text(".seg-upload-result")
    _upload(page, path)
    page.wait_for_function("([t, n]) => { const r = document.querySelector('.seg-upload-result').innerText;"
                           " return r !== t && (r.includes(n) || r.includes('Scored')); }", arg=[before, path.name])
    page.wait_for_timeout(300)
    return _plain(page.inner_text(".seg-upload-result"))


def _figures(text: str) -> tuple:
    scored = re.search(r"Scored ([\d,]+) of ([\d,]+) customers", text)
    unscored = re.search(r"([\d,]+) customers? in the file got no segment", text)
    without = re.search(r"([\d,]+) lines? without a customer id", text)
    return (scored.groups() if scored else None, unscored.group(1) if unscored else "0",
            without.group(1) if without else "0")


def test_upload_of_day_first_dates_counts_every_customer_as_iso_dates_do(page, served, tmp_path):
    """1-9 December 2011 (every date reads either way): with "day first" chosen, the page
    counts the customers without a segment and the lines without an id as it does for
    the same rows with ISO dates; without a choice it
    says to use the Dates list, not a command-line switch."""
    iso = _december(served, tmp_path, dayfirst=False)
    dayfirst = _december(served, tmp_path, dayfirst=True)
    show_section(page, "score")
    order = page.locator(".seg-upload-date-order select")
    order.select_option(label="decided from the file")
    refused = _upload_result(page, dayfirst)
    assert "--" not in refused and "Dates list" in refused and "day first (dd/mm/yyyy)" in refused, refused
    iso_text = _upload_result(page, iso)
    lines = served.data.transactions
    december = lines[lines["InvoiceDate"] >= "2011-12-01"]
    expected_without = int(december["CustomerID"].isna().sum())
    figures = _figures(iso_text)
    assert figures[0] is not None and int(figures[0][1].replace(",", "")) == december["CustomerID"].nunique()
    assert int(figures[2].replace(",", "")) == expected_without
    order.select_option(label="day first (dd/mm/yyyy)")
    day_text = _upload_result(page, dayfirst)
    assert _figures(day_text) == figures, (day_text, iso_text)
    assert "--" not in day_text and " 1 days" not in day_text
    print(f"\nupload of December 2011 on {served.name}: {figures} with ISO and with day-first dates")
    order.select_option(label="decided from the file")


def test_compare_under_a_segment_filter_compares_segments_in_it(page, served):
    """With one or two segments ticked the comparison defaults to segments in the filter,
    never to "0 At risk and 0 Budget"."""
    segments = _segments(page)
    chosen = segments[-2:]
    show_section(page, "compare")
    before = _summary(page)
    page.locator(".seg-segment-filter select").select_option(label=chosen)
    _wait_summary_change(page, before)
    page.wait_for_function("(names) => { const s = document.querySelectorAll('.seg-compare select');"
                           " const v = [...s].map(x => x.options[x.selectedIndex]?.textContent.trim()"
                           ".replace(/\\u00a0/g, ' ')); return names.includes(v[0]) && names.includes(v[1]); }",
                           arg=[_plain(s) for s in chosen])
    scope = _plain(page.inner_text(".seg-compare-scope"))
    assert not re.search(r"\b0 ", scope.split(":", 1)[1]), scope
    before = _summary(page)
    page.locator(".seg-segment-filter select").select_option(label=[segments[0]])
    _wait_summary_change(page, before)
    page.wait_for_function("(a) => { const s = document.querySelectorAll('.seg-compare select')[0];"
                           " return s.options[s.selectedIndex]?.textContent.trim().replace(/\\u00a0/g, ' ') === a; }",
                           arg=_plain(segments[0]))
    _reset(page)


def test_plain_voila_without_the_installed_template_serves_the_page(browser, tmp_path):
    """`voila dashboard.ipynb` where no Jupyter data folder holds the segkit template (an
    editable install without `make`): the page opens, drawn, with the package's template."""
    from test_template import jupyter_data_without_segkit, start_voila_without_template

    from segkit.config import PROJECT_ROOT
    from segkit.server import serve

    data = jupyter_data_without_segkit(tmp_path / "data")
    env = {k: v for k, v in os.environ.items() if k not in ("SEGKIT_PLOTLY_BUNDLE", "SEGKIT_DATA")}
    env.update(JUPYTER_PATH=str(data), SEGKIT_ARTIFACTS=str(tmp_path / "artifacts"), SEGKIT_CACHE=str(tmp_path / "c"),
               SEGKIT_POOL_SIZE="1", PYTHONPATH=str(PROJECT_ROOT))
    port = serve.free_port()
    process = start_voila_without_template(tmp_path, port, env, tmp_path / "empty-prefix")
    try:
        serve.wait_until_preheated(port, tmp_path / "voila.log", timeout=TIMEOUT_MS / 1000, process=process)
        context = browser.new_context(viewport={"width": 1500, "height": 1000})
        try:
            page_ = context.new_page()
            page_.set_default_timeout(TIMEOUT_MS)
            start = time.perf_counter()
            open_until_drawn(page_, f"http://127.0.0.1:{port}/")
            print(f"\nplain voila without the installed template: drawn in {time.perf_counter() - start:.1f} s")
            css = page_.request.get(f"http://127.0.0.1:{port}/voila/templates/segkit/static/index.css")
            assert css.status == 200
        finally:
            context.close()
        log = (tmp_path / "voila.log").read_text(errors="replace")
        assert "served from the package" in log and "TemplateNotFound" not in log
    finally:
        process.terminate()
        process.wait(timeout=30)


def _open_section(page, title: str) -> None:
    show_section(page, "value")
    page.locator(".seg-value-sections").get_by_text(title, exact=True).click()


def test_time_charts_mark_the_partial_last_month(page, served):
    """The log ends on 9 December 2011: the monthly chart labels that month "Dec 2011
    (9 days)" and says it is partial, with £ on the revenue axis."""
    last = served.data.period[1]
    _open_section(page, "Revenue and customers per segment by month")
    page.wait_for_function("""() => [...document.querySelectorAll('.seg-value .js-plotly-plot')]
        .some(gd => gd.data && gd.data.length && gd.data[0].stackgroup && gd.querySelector('.xtick'))""")
    chart = page.evaluate("""() => { const gd = [...document.querySelectorAll('.seg-value .js-plotly-plot')]
        .find(g => g.data && g.data.length && g.data[0].stackgroup);
        return {ticks: [...gd.querySelectorAll('.xtick text')].map(t => t.textContent),
                yTitle: gd._fullLayout.yaxis.title.text, notes: gd._fullLayout.annotations.map(a => a.text)}; }""")
    days = last.day
    assert f"{last:%b %Y} ({days} days)" in chart["ticks"] or any(f"({days} days)" in t for t in chart["ticks"]), chart
    assert chart["yTitle"] == "Revenue (£)"
    assert any("Partial month" in note and f"{last:%b %Y} ({days} days)" in note for note in chart["notes"]), chart
    _open_section(page, "Revenue and customers per segment by month")  # closed again


def test_rfm_view_names_never_collide_with_the_models(page, served):
    """The RFM switch names its segments "RFM: At risk", ...; the cross-tab says which is which."""
    model_names = [_plain(s) for s in _segments(page)]
    before = _summary(page)
    page.locator(".seg-segmentation button", has_text="RFM rules").click()
    _wait_summary_change(page, before)
    options = [_plain(s) for s in _segments(page)]
    assert options and all(o.startswith("RFM: ") for o in options) and not set(options) & set(model_names)
    _open_section(page, "Model segments against RFM segments")
    page.wait_for_selector(".seg-crosstab-table")
    text = _plain(page.inner_text(".seg-crosstab"))
    assert "Model segment ↓ / RFM segment →" in text and "is not “RFM: At risk”" in text
    header = [_plain(t) for t in page.locator(".seg-crosstab-table thead th").all_inner_texts()]
    assert all(h.startswith("RFM: ") for h in header[1:-1]) and header[-1] == "Total"
    _open_section(page, "Model segments against RFM segments")
    page.locator(".seg-segmentation button", has_text="Model segments").click()
    page.wait_for_function("(t) => document.querySelector('.seg-summary').innerText === t", arg=page.full_summary)


def test_switching_segment_views_logs_no_browser_errors(page, served):
    """Switching RFM -> model replaces a list's options while its choice may point past
    them; back and forth twice, with a segment and a comparison chosen: no error in the console."""
    errors: list[str] = []

    def on_console(message):
        if message.type == "error":
            errors.append(message.text)

    def on_error(error):
        errors.append(str(error))

    show_section(page, "compare")
    page.on("console", on_console)
    page.on("pageerror", on_error)
    try:
        for _ in range(2):
            for view, button in (("rfm", "RFM rules"), ("model", "Model segments")):
                names = _segments(page)
                # A choice that points near the end of the list, as a viewer leaves it.
                page.locator(".seg-segment-filter select").select_option(label=names[-1])
                page.wait_for_function("(n) => document.querySelector('.seg-summary').innerText.includes(n)",
                                       arg=_plain(names[-1]))
                page.locator(".seg-compare select").nth(0).select_option(label=names[-1])
                before = _summary(page)
                page.locator(".seg-segmentation button", has_text=button).click()
                _wait_summary_change(page, before)
                page.wait_for_function("(rfm) => [...document.querySelectorAll('.seg-segment-filter option')]"
                                       ".every(o => o.textContent.includes('RFM') === rfm)", arg=view == "rfm")
                page.wait_for_timeout(500)
    finally:
        page.remove_listener("console", on_console)
        page.remove_listener("pageerror", on_error)
    page.wait_for_function("(t) => document.querySelector('.seg-summary').innerText === t", arg=page.full_summary)
    assert not errors, errors
