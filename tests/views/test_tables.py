"""Data functions behind the dashboard's views (no widgets, no browser)."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dashboard_checks import decode_csv_href

from segkit.errors import SegkitDataError
from segkit.pipeline.workflow import train_model
from segkit.views import tables as views
from segkit.views.tables import ALL, Filters, score_upload


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


# ------------------------------------------------------------------ comparisons and uploads

def test_compare_says_how_many_times_the_higher_is_the_lower_whichever_is_a():
    """VIP £14,415.72 against Loyal £2,459.63 (the real data's avg spend): VIP is
    5.9 times Loyal (+486 %), also with VIP as A (never "A (VIP) by 83%")."""
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
    """With "day first" chosen, the customers who got no segment and the lines
    without an id are counted as for the same rows with ISO dates (the count reads
    the file with the chosen date order)."""
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


# ------------------------------------------------------------------ evidence in the CSVs

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


# ------------------------------------------------------------------ value intervals

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


def test_default_filters_keep_everyone(sample_segmented):
    assert len(views.filter_customers(sample_segmented, Filters())) == len(sample_segmented)


def test_each_filter_narrows_the_customers(sample_segmented):
    everyone = len(sample_segmented)
    segment = sample_segmented["Segment"].iloc[0]
    by_segment = views.filter_customers(sample_segmented, Filters(segments=(segment,)))
    assert 0 < len(by_segment) < everyone and set(by_segment["Segment"]) == {segment}

    by_country = views.filter_customers(sample_segmented, Filters(country="Germany"))
    assert 0 < len(by_country) < everyone and set(by_country["Country"]) == {"Germany"}

    by_spend = views.filter_customers(sample_segmented, Filters(spend_min=500, spend_max=2000))
    assert 0 < len(by_spend) < everyone
    assert by_spend["TotalSpend"].between(500, 2000).all()

    assert views.filter_customers(sample_segmented, Filters(segments=())).empty


def test_line_categories_cover_every_line(sample_data):
    categories = views.line_categories(sample_data.lines)
    assert len(categories) == len(sample_data.lines) and categories.notna().all()
    assert {"Christmas", "Bags", "Kitchen"} <= set(categories.cat.categories)


def test_whole_window_returns_the_training_table(sample_data):
    start, end = (ts.date() for ts in sample_data.period)
    same = views.customers_in_date_range(sample_data.lines, sample_data.customers, None, start, end, ALL)
    assert same is sample_data.customers


def test_date_window_recomputes_features(sample_data):
    lines = sample_data.lines
    window = views.customers_in_date_range(lines, sample_data.customers, None, date(2011, 6, 1), date(2011, 8, 31))
    inside = lines[(lines["InvoiceDate"] >= "2011-06-01") & (lines["InvoiceDate"] < "2011-09-01")]
    assert set(window.index) == set(inside["CustomerID"].astype(str))
    spend = inside.groupby("CustomerID")["TotalPrice"].sum().round(2)
    spend.index = spend.index.astype(str)
    pd.testing.assert_series_equal(window["TotalSpend"].sort_index(), spend.sort_index(), check_names=False,
                                   check_index_type=False)
    # Recency counts to the day after the window's end.
    last = inside.groupby("CustomerID")["InvoiceDate"].max()
    expected = (pd.Timestamp("2011-09-01") - last).dt.days
    expected.index = expected.index.astype(str)
    assert (window["Recency"].sort_index().to_numpy() == expected.sort_index().to_numpy()).all()


def test_category_window_only_counts_that_category(sample_data):
    categories = views.line_categories(sample_data.lines)
    window = views.customers_in_date_range(sample_data.lines, sample_data.customers, categories, category="Christmas")
    bags = sample_data.lines[categories.to_numpy() == "Christmas"]
    assert len(window) == bags["CustomerID"].nunique() < len(sample_data.customers)
    assert window["TotalSpend"].sum() == pytest.approx(bags["TotalPrice"].sum(), rel=1e-9, abs=0.01 * len(window))


def test_empty_window_gives_an_empty_view(sample_data, sample_model):
    window = views.customers_in_date_range(sample_data.lines, sample_data.customers, None, date(2009, 1, 1), date(2009, 2, 1))
    segmented = views.segment_customers(sample_model, window)
    assert segmented.empty and "Segment" in segmented
    assert views.segment_summary(segmented).empty
    assert "No customers" in views.summary_html(views.segment_summary(segmented))
    assert views.kpis(segmented, (pd.Timestamp("2009-01-01"), pd.Timestamp("2009-02-01")))["Customers"] == 0


def test_kpis(sample_data):
    numbers = views.kpis(sample_data.customers, sample_data.period)
    customers = sample_data.customers
    assert numbers["Customers"] == len(customers)
    assert numbers["AvgPurchases"] == pytest.approx(customers["NumPurchases"].mean())
    assert numbers["TotalSpend"] == pytest.approx(customers["TotalSpend"].sum())
    assert numbers["AvgOrderValue"] == pytest.approx(customers["TotalSpend"].sum() / customers["NumPurchases"].sum())
    text = views.kpi_html(numbers)
    assert f"{len(customers):,}" in text and "Data period" in text


def test_summary_matches_the_model_profile_on_all_customers(sample_segmented, sample_model):
    summary = views.segment_summary(sample_segmented)
    assert list(summary.columns) == views.SUMMARY_COLUMNS
    assert summary["Customers"].sum() == len(sample_segmented)
    assert summary["Share"].sum() == pytest.approx(1.0)
    profile = sample_model.profile_.loc[summary.index]
    np.testing.assert_allclose(summary["AvgTotalSpend"], profile["AvgTotalSpend"])
    np.testing.assert_allclose(summary["SumTotalSpend"], profile["SumTotalSpend"])
    assert summary["SumTotalSpend"].is_monotonic_decreasing


def test_summary_of_a_filtered_view_has_only_those_segments(sample_segmented):
    names = sorted(sample_segmented["Segment"].unique())[:2]
    summary = views.segment_summary(views.filter_customers(sample_segmented, Filters(segments=tuple(names))))
    assert sorted(summary["Segment"]) == names


def test_segment_centres_keep_the_scale_of_the_window(sample_segmented):
    all_centres = views.segment_centres(sample_segmented, sample_segmented)
    one = sample_segmented[sample_segmented["Cluster"] == all_centres.index[0]]
    only = views.segment_centres(sample_segmented, one)
    assert list(only.index) == [all_centres.index[0]]
    np.testing.assert_allclose(only.iloc[0], all_centres.iloc[0])


def test_compare_segments(sample_segmented):
    a, b = sorted(sample_segmented["Segment"].unique())[:2]
    table = views.compare_segments(sample_segmented, a, b)
    assert list(table.columns) == [f"A: {a}", f"B: {b}", "Difference", "Difference %"]
    sa, sb = (sample_segmented[sample_segmented["Segment"] == n] for n in (a, b))
    assert table.loc["Customers", f"A: {a}"] == len(sa)
    assert table.loc["Avg spend", "Difference"] == pytest.approx(sb["TotalSpend"].mean() - sa["TotalSpend"].mean())
    html = views.comparison_html(table)
    assert a in html and b in html and "Difference" in html


def test_compare_a_segment_missing_from_the_view(sample_segmented):
    a = sample_segmented["Segment"].iloc[0]
    table = views.compare_segments(sample_segmented[sample_segmented["Segment"] == a], a, "Nobody")
    assert table.loc["Customers", "B: Nobody"] == 0
    assert np.isnan(table.loc["Avg spend", "B: Nobody"])


def test_customer_table_sorts_and_pages(sample_segmented):
    table = views.customers_as_shown(sample_segmented, "TotalSpend", ascending=False)
    # Every table column the data has, in TABLE_COLUMNS' order (PAlive and CLV need a model with lifetime value).
    assert list(table.columns) == [c for c in views.TABLE_COLUMNS if c in table.columns]
    assert {"CustomerID", "Segment", "Confidence", "TotalSpend", "Recommendation"} <= set(table.columns)
    assert table["TotalSpend"].is_monotonic_decreasing and len(table) == len(sample_segmented)
    rows, page, n_pages = views.table_page(table, 3, 25)
    assert page == 3 and n_pages == -(-len(table) // 25)
    pd.testing.assert_frame_equal(rows, table.iloc[50:75])
    assert views.table_page(table, 10_000, 25)[1] == n_pages
    assert views.table_page(table, -1, 25)[1] == 1
    ascending = views.customers_as_shown(sample_segmented, "CustomerID", ascending=True)
    assert ascending["CustomerID"].is_monotonic_increasing


def test_download_is_exactly_the_filtered_table(sample_segmented):
    shown = views.filter_customers(sample_segmented, Filters(country="Germany"))
    table = views.customers_as_shown(shown, "Recency", ascending=True)
    link = views.download_link_html(table)
    href = link.split('href="', 1)[1].split('"', 1)[0]
    downloaded = decode_csv_href(href)
    assert list(downloaded.columns) == list(table.columns)
    assert downloaded["CustomerID"].tolist() == table["CustomerID"].astype(str).tolist()
    np.testing.assert_allclose(downloaded["TotalSpend"], table["TotalSpend"])
    assert f'data-rows="{len(table)}"' in link


def test_download_neutralises_formulas():
    frame = pd.DataFrame({"CustomerID": ["=1+1"], "Segment": ["VIP"], "TotalSpend": [-5.0]})
    downloaded = decode_csv_href(views.csv_data_uri(frame))
    assert downloaded.loc[0, "CustomerID"] == "'=1+1" and downloaded.loc[0, "TotalSpend"] == -5.0


def test_table_html_shows_the_rows(sample_segmented):
    rows = views.customers_as_shown(sample_segmented).head(3)
    text = views.table_html(rows)
    assert text.count("<tr>") == 4 and all(cid in text for cid in rows["CustomerID"])


def test_theme_css_switches_colours():
    light, dark = views.theme_css("light"), views.theme_css("dark")
    assert light.startswith("<style") and dark.startswith("<style")
    assert "--jp-layout-color0: #ffffff" in light and "--jp-layout-color0: #111111" in dark
    assert views.plotly_template("dark") == "plotly_dark" and views.plotly_template("light") == "plotly_white"
    with pytest.raises(ValueError):
        views.theme_css("purple")


def test_model_card_html(sample_data, sample_model):
    card = views.provisional_card(sample_model, sample_data.training_info())
    text = views.model_card_html(card, "status here")
    assert "K = 5" in text and "silhouette" in text and "status here" in text
    assert "1,997 customers" in text or f"{len(sample_data.customers):,} customers" in text


@pytest.mark.slow
def test_score_upload_of_transactions(sample_csv, sample_model, sample_data):
    scored = views.score_upload(Path(sample_csv).read_bytes(), "new.csv", sample_model)
    assert len(scored) == len(sample_data.customers)
    assert set(scored["Segment"]) <= set(sample_model.segment_names_.values())


def test_score_upload_of_customers(sample_data, sample_model):
    table = sample_data.customers.head(20).reset_index()
    scored = views.score_upload(table.to_csv(index=False).encode(), "customers.csv", sample_model)
    assert len(scored) == 20 and scored["Segment"].notna().all()


@pytest.mark.parametrize("name, content, words", [
    ("notes.txt", b"hello", "not a CSV or XLSX"),
    ("empty.csv", b"", "empty"),
    ("garbage.csv", b"a,b\n1,2\n", "garbage.csv"),
    ("broken.xlsx", b"PK\x03\x04 this is no workbook", "broken.xlsx"),
])
def test_score_upload_bad_files_give_one_sentence(sample_model, name, content, words):
    with pytest.raises(SegkitDataError) as info:
        views.score_upload(content, name, sample_model)
    message = str(info.value)
    assert words in message and "Traceback" not in message and "\n" not in message


@pytest.mark.real_data
def test_real_data_views(real_data):
    model, _ = train_model(real_data, 4)
    segmented = views.segment_customers(model, real_data.customers)
    summary = views.segment_summary(segmented)
    stages = 3 if getattr(model, "lifecycle_rules_", None) is not None else 0  # New, At risk, Lost
    assert summary["Customers"].sum() == len(real_data.customers) and len(summary) == 4 + stages
    uk = views.filter_customers(segmented, Filters(country="United Kingdom"))
    assert 0.8 < len(uk) / len(segmented) < 0.95
    categories = views.line_categories(real_data.lines)
    christmas = views.customers_in_date_range(real_data.lines, real_data.customers, categories, category="Christmas")
    assert 0 < len(christmas) < len(real_data.customers)
    december = views.customers_in_date_range(real_data.lines, real_data.customers, categories,
                                         date(2011, 12, 1), date(2011, 12, 9))
    assert december["Recency"].max() <= 9
    table = views.customers_as_shown(uk)
    assert len(decode_csv_href(views.csv_data_uri(table))) == len(uk)


def test_segment_centres_from_cached_z_scores(sample_segmented):
    mask = (sample_segmented["Country"] == "Germany").to_numpy()
    shown = sample_segmented[mask]
    z = views.everyone_z_scores(sample_segmented)
    pd.testing.assert_frame_equal(views.segment_centres(sample_segmented, shown, mask, z),
                                  views.segment_centres(sample_segmented, shown), check_names=False, atol=1e-12)
