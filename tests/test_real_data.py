"""Figures on the real UCI Online Retail data (../shared/data, passed in by .ci/run)."""
from __future__ import annotations

import time

import pandas as pd
import pytest

from segkit.errors import SegkitDataError
from segkit.features.customers import customer_features
from segkit.ingest.load import load_transactions
from segkit.modeling.model import SegmentationModel
from segkit.pipeline.artifacts import load_artifacts, save_artifacts
from segkit.pipeline.workflow import load_customer_data, train_model

pytestmark = pytest.mark.real_data


@pytest.fixture(scope="module")
def workbook_frame(real_workbook):
    return load_transactions(real_workbook)


def test_workbook_and_parquet_load_to_the_same_rows(workbook_frame, real_parquet):
    from_parquet = load_transactions(real_parquet)
    assert len(workbook_frame) == len(from_parquet) == 541_909
    pd.testing.assert_frame_equal(workbook_frame, from_parquet, check_exact=False)


def test_readme_figures(workbook_frame):
    frame = workbook_frame
    assert frame["CustomerID"].notna().sum() == 406_829
    assert frame["CustomerID"].nunique() == 4_372
    assert frame["InvoiceNo"].nunique() == 25_900
    assert frame["InvoiceNo"].str.startswith("C").sum() == 9_288
    assert (frame["UnitPrice"] <= 0).sum() == 2_517
    assert frame.duplicated().sum() == 5_268
    assert frame["Description"].isna().sum() == 1_454
    assert frame["Country"].nunique() == 38


@pytest.mark.parametrize("which", ["workbook", "parquet"])
def test_seed_cleaning_reproduces_the_original_figures_to_the_cent(which, real_workbook, real_parquet):
    data = load_customer_data(real_workbook if which == "workbook" else real_parquet, rules="seed")
    customers = data.customers
    assert len(customers) == 4_339
    assert customers["NumPurchases"].sum() == 18_536
    assert customers["TotalQuantity"].sum() == 5_181_696
    assert round(float(data.lines["TotalPrice"].sum()), 2) == 8_911_407.90
    assert round(float(customers["TotalSpend"].sum()), 2) == 8_911_407.90


def test_cancellation_trap_customers_are_not_top_spenders(real_data):
    top = real_data.customers.nlargest(20, "TotalSpend").index
    assert "16446" not in top and "12346" not in top
    seed = load_customer_data(real_data.transactions, rules="seed").customers
    # The trap is real: the seed rules do leave them at the top.
    assert {"16446", "12346"} <= set(seed.nlargest(10, "TotalSpend").index)
    assert real_data.customers.loc["16446", "TotalSpend"] < 10  # two small lines left
    assert "12346" not in real_data.customers.index  # its only order was cancelled


def test_default_cleaning_report_removes_each_kind_of_noise(real_data):
    report = real_data.report.set_index("rule")
    assert report.loc["missing customer", "rows_removed"] == 541_909 - 406_829
    assert report.loc["cancellations", "rows_removed"] >= 8_905
    assert report.loc["non-product codes", "rows_removed"] > 1_000
    assert report.loc["duplicate lines", "rows_removed"] > 5_000
    assert not real_data.lines["InvoiceNo"].str.startswith("C").any()


def test_duckdb_features_equal_pandas_on_real_data(real_data):
    pd.testing.assert_frame_equal(customer_features(real_data.lines, engine="duckdb"), real_data.customers,
                                  check_exact=False, atol=0.01)


def test_seed_scaling_gives_outlier_clusters_that_silhouette_rewards(real_data):
    seed = load_customer_data(real_data.transactions, rules="seed").customers
    model = SegmentationModel.from_preset("seed", n_clusters=4).fit(seed)
    assert sorted(model.profile_["Customers"]) == [6, 24, 345, 3964]
    assert model.metrics_["silhouette"] == pytest.approx(0.77, abs=0.01)
    assert model.metrics_["min_cluster_share"] < 0.02


def test_recommended_k_has_no_cluster_under_2_percent(real_data):
    model, table = train_model(real_data)
    # At most 4 value tiers: with New, At risk and Lost at most 7 segments.
    assert 3 <= model.n_clusters <= 4 and table.index.max() == 6
    assert model.profile_["Share"].min() >= 0.02
    assert model.profile_.set_index("Segment")["AvgTotalSpend"].idxmax() == "VIP"


def test_reloaded_artifacts_predict_the_same_labels(real_data, tmp_path):
    model, _ = train_model(real_data, k=5)
    save_artifacts(model, tmp_path, real_data.training_info())
    loaded = load_artifacts(tmp_path)
    assert (loaded.predict(real_data.customers) == model.labels_).all()
    assert loaded.card_["training_data"]["fingerprint"] == real_data.fingerprint


def test_cached_workbook_loads_well_under_a_second(real_workbook, workbook_frame):
    start = time.perf_counter()
    again = load_transactions(real_workbook)
    assert time.perf_counter() - start < 1.0
    assert len(again) == len(workbook_frame)


def test_real_file_with_a_column_removed_or_truncated_is_refused_clearly(real_parquet, tmp_path, real_workbook):
    frame = pd.read_parquet(real_parquet)
    frame.drop(columns=["CustomerID"]).head(1000).to_csv(tmp_path / "no_customer.csv", index=False)
    with pytest.raises(SegkitDataError, match="no column for customer; found: InvoiceNo, StockCode"):
        load_transactions(tmp_path / "no_customer.csv", use_cache=False)
    (tmp_path / "cut.xlsx").write_bytes(real_workbook.read_bytes()[:200_000])
    with pytest.raises(SegkitDataError, match="'cut.xlsx'"):
        load_transactions(tmp_path / "cut.xlsx", use_cache=False)


@pytest.mark.slow
def test_uk_style_csv_gives_exactly_the_parquet_customer_table(real_data, real_parquet, tmp_path):
    """The real log saved as a UK export (dd/mm/yyyy HH:MM, as Excel writes it): the date
    order is decided from the values, never mixed, and every customer comes out the same."""
    raw = pd.read_parquet(real_parquet)
    assert (raw["InvoiceDate"].dt.second == 0).all()
    uk = raw.assign(InvoiceDate=raw["InvoiceDate"].dt.strftime("%d/%m/%Y %H:%M"))
    uk.to_csv(tmp_path / "online_retail_uk.csv", index=False)
    data = load_customer_data(tmp_path / "online_retail_uk.csv", use_cache=False)
    pd.testing.assert_frame_equal(data.customers, real_data.customers)
    assert len(data.customers) == 4_324


def test_vips_whose_december_lines_are_uploaded_are_never_new(real_data, real_auto_model, real_parquet, tmp_path):
    """Issue 21: December's lines scored alone made all 18 of their customers "New", 7 VIPs
    among them (customer 14911: 197 purchases, £128,828). With the log before December as
    their history, each of them is segmented as the whole log segments them, and none of
    the VIPs is New."""
    from segkit.pipeline.workflow import customers_for_scoring, customers_with_history

    model = real_auto_model
    log = pd.read_parquet(real_parquet)
    december = pd.to_datetime(log["InvoiceDate"]) >= "2011-12-01"
    history, new = tmp_path / "to-november.parquet", tmp_path / "december.csv"
    log[~december].to_parquet(history, index=False)
    log[december].to_csv(new, index=False)
    scored = model.segment(customers_with_history(new, history, model))
    before = model.segment(customers_for_scoring(history, model))["Segment"].astype(str)
    whole = model.segment(real_data.customers)["Segment"].astype(str)
    vips = scored.index.intersection(before.index[before == "VIP"])
    assert len(vips) >= 5 and "14911" in vips
    assert (scored.loc[vips, "Segment"].astype(str) == whole.reindex(vips)).all()
    assert not (scored.loc[vips, "Segment"] == "New").any()
    known = scored.index.intersection(before.index)
    assert (scored.loc[known, "Segment"].astype(str) == whole.reindex(known)).all()
