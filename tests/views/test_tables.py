"""Data functions behind the dashboard's views (no widgets, no browser)."""
from __future__ import annotations

import pytest

from segkit.errors import SegkitDataError
from segkit.views.tables import score_upload


@pytest.fixture(scope="module")
def shipped_model():
    from segkit.config import ARTIFACTS_DIR
    from segkit.pipeline.artifacts import load_artifacts

    return load_artifacts(ARTIFACTS_DIR)


def test_upload_leaves_no_parquet_copy_in_the_cache(tmp_path, monkeypatch, sample_log, shipped_model):
    monkeypatch.setenv("SEGKIT_CACHE", str(tmp_path / "cache"))
    content = sample_log.head(2000).to_csv(index=False).encode()
    scored = score_upload(content, "orders.csv", shipped_model)
    assert len(scored) > 10
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_upload_of_a_workbook_bomb_is_refused_by_its_expanded_size(shipped_model):
    from pathlib import Path

    bomb = Path(__file__).parents[1] / "bad_inputs" / "sheet_expands_to_600mb.xlsx"
    with pytest.raises(SegkitDataError, match="expands to 0.6 GB"):
        score_upload(bomb.read_bytes(), bomb.name, shipped_model)


# ------------------------------------------------------------------ issue 22

def test_compare_says_how_many_times_the_higher_is_the_lower_whichever_is_a():
    """VIP £14,415.72 against Loyal £2,459.63 (the real data's avg spend, issue 22): VIP is
    5.9 times Loyal (+486 %), also with VIP as A (it used to read "A (VIP) by 83%")."""
    import pandas as pd

    from segkit.views.tables import compare_segments, comparison_html, which_is_higher

    assert which_is_higher("VIP", 14415.72, "Loyal", 2459.63) == "VIP is 5.9 times Loyal (+486 %)"
    assert which_is_higher("Loyal", 2459.63, "VIP", 14415.72) == "VIP is 5.9 times Loyal (+486 %)"
    assert which_is_higher("A", 1.0, "B", 1.0) == "equal"
    assert which_is_higher("Loyal", 1000.0, "VIP", 1880.0) == which_is_higher("VIP", 1880.0, "Loyal", 1000.0) \
        == "VIP is 88 % above Loyal"
    assert which_is_higher("A", 3.0, "B", 0.0) == "A is higher (B: none)"
    customers = pd.DataFrame({"Segment": ["VIP", "VIP", "Loyal", "Loyal", "Loyal"],
                              "NumPurchases": [10, 6, 2, 3, 1], "TotalQuantity": [100, 50, 10, 10, 5],
                              "TotalSpend": [20000.0, 8831.44, 3000.0, 2378.89, 2000.0],
                              "Recency": [3, 5, 40, 60, 80], "Tenure": [300, 200, 100, 90, 50]})
    for a, b in (("VIP", "Loyal"), ("Loyal", "VIP")):
        page = comparison_html(compare_segments(customers, a, b))
        vip, loyal = (customers[customers["Segment"] == n] for n in ("VIP", "Loyal"))
        ratio = vip["TotalSpend"].mean() / loyal["TotalSpend"].mean()  # 14,415.72 / 2,459.63
        assert f"VIP is {ratio:.1f} times Loyal (+{(ratio - 1) * 100:.0f} %)" == "VIP is 5.9 times Loyal (+486 %)"
        assert "VIP is 5.9 times Loyal (+486 %)" in page
        total = vip["TotalSpend"].sum() / loyal["TotalSpend"].sum()
        assert f"VIP is {total:.1f} times Loyal (+{(total - 1) * 100:.0f} %)" in page
        assert " by " not in page


def _december_2011(sample_log, dayfirst: bool) -> bytes:
    """The sample's lines of 1-9 December 2011 as a shop would export them: every date
    reads either way ("01/12/2011"), with lines without a customer id and cancellations."""
    lines = sample_log[sample_log["InvoiceDate"] >= "2011-12-01"].copy()
    if dayfirst:
        lines["InvoiceDate"] = lines["InvoiceDate"].dt.strftime("%d/%m/%Y %H:%M")
    return lines.to_csv(index=False).encode()


def test_upload_with_day_first_dates_counts_what_the_iso_file_counts(sample_log, shipped_model):
    """Issue 22: with "day first" chosen, the customers who got no segment and the lines
    without an id are counted as for the same rows with ISO dates (they used to be
    dropped silently: the count re-read the file without the date order)."""
    iso = score_upload(_december_2011(sample_log, False), "december.csv", shipped_model)
    dayfirst = score_upload(_december_2011(sample_log, True), "december.csv", shipped_model, dayfirst=True)
    december = sample_log[sample_log["InvoiceDate"] >= "2011-12-01"]
    assert iso.attrs["lines_without_customer"] == int(december["CustomerID"].isna().sum()) > 0
    assert len(iso) + len(iso.attrs["unscored"]) == december["CustomerID"].nunique()
    assert sorted(dayfirst.index.astype(str)) == sorted(iso.index.astype(str))
    assert dayfirst.attrs["unscored"] == iso.attrs["unscored"]
    assert dayfirst.attrs["lines_without_customer"] == iso.attrs["lines_without_customer"]


def test_upload_messages_name_the_pages_controls_not_command_line_switches(sample_log, shipped_model):
    from segkit.dashboard.score import page_words

    with pytest.raises(SegkitDataError) as caught:
        score_upload(_december_2011(sample_log, True), "december.csv", shipped_model)
    text = page_words(str(caught.value))
    assert "--" not in text and "Dates list" in text and "day first (dd/mm/yyyy)" in text
    with pytest.raises(SegkitDataError) as caught:  # 13/12/2011 cannot be month first
        score_upload(b"InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
                     b"1,A,x,1,13/12/2011 10:00,2.5,12345,UK\n", "one.csv", shipped_model, dayfirst=False)
    text = page_words(str(caught.value))
    assert "--" not in text and "Dates list" in text, text
    note = page_words("'x.csv' covers 1 day of purchases but ... Scored anyway (--allow-short-window): read with care.")
    assert "--" not in note and "Scored anyway: read" in note


def test_a_one_day_log_covers_1_day():
    from types import SimpleNamespace

    from segkit.pipeline.workflow import window_shortfall

    note = window_shortfall(SimpleNamespace(covered_days=1, source="one.csv"), 365, None)
    assert "covers 1 day of purchases" in note and "1 days" not in note


# ------------------------------------------------------------------ issue 21: evidence in the CSVs

def test_with_evidence_puts_each_segments_sentence_beside_its_advice():
    import pandas as pd

    from segkit.pipeline.backtest import NO_EVIDENCE
    from segkit.views.tables import with_evidence

    rows = pd.DataFrame({"CustomerID": ["1", "2", "3"], "Segment": ["VIP", "Lapsed", "New"],
                         "Recommendation": ["a", "b", "c"], "TotalSpend": [3.0, 2.0, 1.0]})
    evidence = {"VIP": "Customers like these at 6 earlier dates: 97 % bought again within 90 days (94-99 %), "
                       "spending £4,210 on average.", "Lapsed": "Customers like these at 6 earlier dates: 31 %..."}
    out = with_evidence(rows, evidence)
    assert list(out.columns) == ["CustomerID", "Segment", "Recommendation", "Evidence", "TotalSpend"]
    assert out["Evidence"].tolist() == [evidence["VIP"], evidence["Lapsed"], NO_EVIDENCE]  # never an empty cell
    assert "Evidence" not in rows  # the caller's frame is left alone


def test_summary_csv_has_every_segments_evidence_in_words():
    import pandas as pd

    from segkit.views.tables import summary_csv

    summary = pd.DataFrame({"Segment": ["Loyal", "Budget"], "Customers": [10, 30], "Share": [0.25, 0.75],
                            "AvgNumPurchases": [9.0, 1.5], "AvgTotalSpend": [900.0, 40.0],
                            "SumTotalSpend": [9000.0, 1200.0], "AvgRecency": [12.0, 200.0],
                            "Recommendation": ["keep", "nudge"]}, index=[3, 1])
    evidence = {"Loyal": "Customers like these at 6 earlier dates: 86 % bought again within 90 days (70-98 %), "
                         "spending £6,480 on average.",
                "Budget": "Customers like these at 6 earlier dates: 38 % bought again within 90 days (23-52 %), "
                          "spending £102 on average."}
    table = summary_csv(summary, evidence, "€")
    assert table["Evidence"].tolist() == [evidence["Loyal"], evidence["Budget"]]
    assert "Avg spend (€)" in table.columns and table.columns[-1] == "Evidence"


# ------------------------------------------------------------------ issue 23

def test_segment_summary_gives_each_segment_the_interval_of_its_draws_totals():
    """SumCLVLow / SumCLVHigh: each parameter draw summed over the segment's customers,
    then the 5th and 95th percentiles (pandas here); the page shows "£X (£L–£H)" in one cell."""
    import numpy as np
    import pandas as pd

    from segkit.views.tables import segment_summary, summary_html

    generator = np.random.default_rng(0)
    n = 60
    customers = pd.DataFrame({
        "Cluster": np.arange(n) % 3, "Segment": np.array(["VIP", "Loyal", "Lost"])[np.arange(n) % 3],
        "NumPurchases": generator.integers(1, 20, n), "TotalQuantity": generator.integers(1, 200, n),
        "TotalSpend": generator.gamma(2, 500, n), "Recency": generator.integers(0, 300, n),
        "Tenure": generator.integers(0, 300, n), "AvgOrderValue": generator.gamma(2, 50, n),
        "CLV": generator.gamma(2, 100, n)}, index=pd.Index([str(i) for i in range(n)], name="CustomerID"))
    draws = customers["CLV"].to_numpy()[:, None] * generator.normal(1, 0.1, 40)[None, :]
    summary = segment_summary(customers, draws).set_index("Segment")
    totals = pd.DataFrame(draws).groupby(customers["Segment"].to_numpy()).sum()
    assert summary["SumCLVLow"].to_numpy() == pytest.approx(totals.quantile(0.05, axis=1)[summary.index].to_numpy())
    assert summary["SumCLVHigh"].to_numpy() == pytest.approx(totals.quantile(0.95, axis=1)[summary.index].to_numpy())
    assert "SumCLVLow" not in segment_summary(customers).columns  # no draws, no range
    html_text = summary_html(summary.reset_index())
    vip = summary.loc["VIP"]
    assert f"£{vip.SumCLV:,.0f} (£{vip.SumCLVLow:,.0f}\u2013£{vip.SumCLVHigh:,.0f})" in html_text
    assert "low end of range" not in html_text
