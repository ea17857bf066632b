"""In a real browser: the page says what customers like each segment's did next,
and a file of new lines for customers its log knows joins that log and lists who moved.

One Voilà server on the built-in sample with a saved model that carries its backtest (as
``segkit train`` saves it); read-only, as viewers get it. The server is
conftest.py's ``evidence_served``; the page as in test_browser.py (``pages_on``).
"""
from __future__ import annotations

import base64
import io

import pandas as pd
import pytest
from test_browser import _plain, _upload, pages_on
from dashboard_checks import new_lines_for_known_customers

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def served(evidence_served):
    return evidence_served


@pytest.fixture(scope="module")
def page(served, browser):
    yield from pages_on(served, browser)


def _csv_link(page, selector: str) -> pd.DataFrame:
    href = page.get_attribute(selector, "href")
    prefix = "data:text/csv;charset=utf-8;base64,"
    assert href and href.startswith(prefix)
    return pd.read_csv(io.StringIO(base64.b64decode(href[len(prefix):]).decode("utf-8")), dtype={"Customer": str})


def test_what_the_segments_mean_says_what_customers_like_these_did_next(page, served):
    """Every segment in "What the segments mean" has its backtest sentence, and the summary's
    CSV carries the same sentence per segment."""
    from segkit.pipeline.backtest import evidence_sentences

    said = evidence_sentences(served.model.evidence_)
    assert said and all(s.startswith("Customers like these at 6 earlier dates: ") for s in said.values())
    terms = page.locator(".seg-glossary .seg-term")
    shown = {_plain(terms.nth(i).get_attribute("data-segment")): _plain(terms.nth(i).locator(".seg-evidence").inner_text())
             for i in range(terms.count())}
    assert shown == said
    summary = _csv_link(page, ".seg-summary-download a")
    assert (summary["Evidence"] == summary["Segment"].map(said)).all() and set(summary["Segment"]) == set(said)


def test_an_upload_of_known_customers_new_lines_shows_who_moved(page, served, sample_log):
    """December lines of the best customers (already in the log) and a new order from five
    Lost customers: the page scores them on their whole history, lists the moves (before ->
    after, with counts), and calls none of these known customers "New"."""
    from segkit.pipeline.workflow import customers_for_scoring

    model = served.model
    before = model.segment(served.data.customers)["Segment"].astype(str)
    upload, best, lost = new_lines_for_known_customers(sample_log, model.segment(served.data.customers))
    path = served.folder / "december_and_returns.csv"
    upload.to_csv(path, index=False)
    whole = pd.concat([sample_log.drop(columns=["TotalPrice"], errors="ignore"), upload]).drop_duplicates()
    after = model.segment(customers_for_scoring(whole, model))["Segment"].astype(str).reindex(sorted(best | lost))
    moved = after[after != before.reindex(after.index)]
    assert len(moved) >= 3  # the test means something

    _upload(page, path)
    page.wait_for_selector(".seg-upload-result .seg-upload-moves", timeout=120_000)
    result = _plain(page.inner_text(".seg-upload-result"))
    assert "december_and_returns.csv" in result and "seg-error" not in page.inner_html(".seg-upload-result")
    assert f"{len(moved)} of the {len(after)} customers this page already knew moved segment" in result
    for (old, new), n in moved.groupby([before.reindex(moved.index), moved]).size().items():
        assert f"{n} {old} \u2192 {new}" in result, (old, new, result)
    rows = [r.split("\t") for r in page.locator(".seg-moves-table tbody tr").all_inner_texts()]
    assert {(c.strip(), _plain(o).strip(), _plain(n).strip()) for c, o, n in rows} == \
        {(c, before[c], moved[c]) for c in moved.index}
    scored = _csv_link(page, ".seg-upload-result a.seg-download-link").set_index("Customer")
    assert set(scored.index) == best | lost and not (scored["Segment"] == "New").any()
    assert (scored["Segment"] == after.reindex(scored.index)).all()
    from segkit.pipeline.backtest import segment_evidence
    from segkit.views.tables import EVIDENCE_TITLE

    said = segment_evidence(model, scored["Segment"].unique())  # each row: its segment's sentence
    assert (scored[EVIDENCE_TITLE] == scored["Segment"].map(said)).all()
    assert list(scored.columns).index(EVIDENCE_TITLE) == list(scored.columns).index("Recommendation") + 1
    print(f"\nupload on the sample page: {len(after)} known customers, {len(moved)} moved "
          f"({', '.join(f'{before[c]} -> {moved[c]}' for c in moved.index)}), none New")
