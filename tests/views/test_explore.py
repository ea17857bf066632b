"""segkit.views.explore: the tables and figures the notebooks show."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from segkit.clean import clean_transactions
from segkit.features.customers import customer_features
from segkit.modeling.label import cluster_profile_z
from segkit.modeling.model import SegmentationModel, evaluate_k
from segkit.views import explore


def _line(invoice, code, qty, when, price, customer, country="United Kingdom", description=None):
    return {"InvoiceNo": invoice, "StockCode": code, "Description": description or f"PRODUCT {code}",
            "Quantity": qty, "InvoiceDate": pd.Timestamp(when), "UnitPrice": price,
            "CustomerID": customer, "Country": country}


@pytest.fixture
def tiny_log() -> pd.DataFrame:
    """Three customers, a giant order cancelled the same day, a line without a customer."""
    rows = [
        _line("1001", "P1", 2, "2010-12-01 09:00", 5.0, "100"),
        _line("1001", "P2", 1, "2010-12-01 09:00", 3.0, "100"),
        _line("1002", "P1", 4, "2011-03-15 10:00", 5.0, "200", "France"),
        _line("1003", "P2", 10, "2011-09-02 11:00", 3.0, "100"),
        _line("1004", "P1", 1000, "2011-12-09 12:00", 2.0, "300"),
        _line("C1005", "P1", -1000, "2011-12-09 12:05", 2.0, "300"),
        _line("1006", "P2", 1, "2011-12-09 13:00", 3.0, "300"),
        _line("1007", "P1", 3, "2011-06-01 08:00", 5.0, None),
    ]
    frame = pd.DataFrame(rows)
    frame.loc[len(frame)] = frame.iloc[1]  # one exact duplicate line
    for col in ("InvoiceNo", "StockCode", "Description", "CustomerID", "Country"):
        frame[col] = frame[col].astype("string")
    return frame


@pytest.fixture
def tiny_lines(tiny_log) -> pd.DataFrame:
    return clean_transactions(tiny_log).lines


@pytest.fixture(scope="module")
def blobs() -> pd.DataFrame:
    """Seeded customers in three well separated groups."""
    rng = np.random.default_rng(3)
    groups = [(1, 40, 50, 5), (10, 800, 3000, 10), (3, 150, 400, 100)]
    frames = []
    for i, (purchases, qty, spend, recency) in enumerate(groups):
        n = 60
        frames.append(pd.DataFrame({
            "NumPurchases": rng.poisson(purchases, n) + 1,
            "TotalQuantity": rng.lognormal(np.log(qty), 0.2, n).round(),
            "TotalSpend": rng.lognormal(np.log(spend), 0.2, n).round(2),
            "Recency": rng.poisson(recency, n),
            "Tenure": rng.integers(0, 300, n),
        }))
    customers = pd.concat(frames, ignore_index=True)
    customers.index = pd.Index([str(10000 + i) for i in range(len(customers))], name="CustomerID")
    return customers


def _segmented(segments: dict[str, str], spend: dict[str, float] | None = None) -> pd.DataFrame:
    frame = pd.DataFrame({"Segment": pd.Series(segments, dtype="string")})
    frame["TotalSpend"] = pd.Series(spend or {k: 1.0 for k in segments})
    frame["NumPurchases"] = 1
    frame["Recency"] = 10
    frame.index.name = "CustomerID"
    return frame


# --------------------------------------------------------------------------- overview


def test_data_overview_counts_what_a_reader_checks(tiny_log):
    overview = explore.data_overview(tiny_log)["value"]
    assert overview["lines"] == 9
    assert overview["customers"] == 3  # the line without a customer is not one
    assert overview["lines without a customer"] == 1
    assert overview["cancellation lines"] == 1
    assert overview["countries"] == 2
    assert overview["exactly duplicated lines"] == 1
    assert overview["first invoice"] == pd.Timestamp("2010-12-01 09:00")
    assert overview["days covered"] == 374  # 2010-12-01 to 2011-12-09, both counted


def test_missing_values_per_column(tiny_log):
    missing = explore.missing_values(tiny_log)
    assert list(missing.index) == list(tiny_log.columns)
    assert missing.loc["CustomerID", "missing"] == 1
    assert missing.loc["CustomerID", "share"] == pytest.approx(1 / 9)
    assert missing.loc["Quantity", "missing"] == 0


def test_cleaning_summary_totals_and_shares(tiny_log):
    report = clean_transactions(tiny_log).report
    summary = explore.cleaning_summary(report)
    assert summary.loc["total removed", "rows_removed"] == report["rows_removed"].sum()
    assert summary.loc["total removed", "rows_left"] == report["rows_left"].iloc[-1]
    loaded_rows = report["rows_left"].iloc[0]
    assert summary.loc["missing customer", "rows_removed_share"] == pytest.approx(1 / loaded_rows)
    assert summary["revenue_removed_share"].between(0, 1).all()


def test_cancellation_trap_puts_the_cancelled_giant_order_first(tiny_log, tiny_lines):
    trap = explore.cancellation_trap(tiny_log, tiny_lines, n=3)
    assert trap.index[0] == "300"
    first = trap.iloc[0]
    assert first["SpendDroppingNegatives"] == pytest.approx(2000 + 3)
    assert first["SpendNetted"] == pytest.approx(3)
    assert first["Overstated"] == pytest.approx(2000)
    assert first["CancelledUnits"] == 1000
    assert first["NaiveRank"] == 1  # the dropped-negatives rule makes it the top spender
    assert trap.loc["200", "Overstated"] == pytest.approx(0)  # nothing cancelled or repeated
    assert trap.loc["100", "Overstated"] == pytest.approx(3)  # its duplicated line counts twice naively


def test_country_summary_folds_the_tail_into_one_row():
    customers = pd.DataFrame({
        "Country": ["UK"] * 5 + ["France"] * 3 + ["Spain", "Italy"],
        "TotalSpend": [10.0] * 5 + [20.0] * 3 + [1.0, 2.0],
    })
    summary = explore.country_summary(customers, n=2)
    assert list(summary.index) == ["UK", "France", "other (2 countries)"]
    assert summary.loc["other (2 countries)", "Customers"] == 2
    assert summary.loc["other (2 countries)", "TotalSpend"] == pytest.approx(3.0)
    assert summary["CustomerShare"].sum() == pytest.approx(1.0)
    assert summary["SpendShare"].sum() == pytest.approx(1.0)


def test_top_products_by_revenue_with_most_frequent_description():
    lines = pd.DataFrame([
        _line("1", "P1", 10, "2011-01-01", 1.0, "1", description="CUP"),
        _line("2", "P1", 10, "2011-01-02", 1.0, "2", description="CUP"),
        _line("3", "P1", 1, "2011-01-03", 1.0, "2", description="CUP (old name)"),
        _line("4", "P2", 2, "2011-01-04", 50.0, "3", description="LAMP"),
        _line("5", "P3", 1, "2011-01-05", 1.0, "3", description="PEN"),
    ])
    lines["TotalPrice"] = lines["Quantity"] * lines["UnitPrice"]
    top = explore.top_products(lines, n=2)
    assert list(top.index) == ["P2", "P1"]
    assert top.loc["P1", "Description"] == "CUP"
    assert top.loc["P1", "Quantity"] == 21
    assert top.loc["P1", "Customers"] == 2
    assert top.loc["P2", "Revenue"] == pytest.approx(100.0)
    assert list(explore.top_products(lines, n=1, by="Quantity").index) == ["P1"]
    with pytest.raises(ValueError, match="by must be"):
        explore.top_products(lines, by="Price")


# --------------------------------------------------------------------------- choosing K


def test_compare_k_tables_puts_setups_side_by_side(blobs):
    log = evaluate_k(blobs, range(2, 5), ("Recency", "NumPurchases", "TotalSpend"), True, n_bootstrap=1)
    raw = evaluate_k(blobs, range(2, 5), ("NumPurchases", "TotalQuantity", "TotalSpend"), False, n_bootstrap=1)
    wide = explore.compare_k_tables({"raw": raw, "log": log})
    assert list(wide.index) == [2, 3, 4]
    assert ("silhouette", "raw") in wide.columns and ("smallest_cluster", "log") in wide.columns
    assert wide[("silhouette", "log")].tolist() == log["silhouette"].tolist()


def test_model_comparison_reports_sizes_that_add_up(blobs):
    log = SegmentationModel(n_clusters=3).fit(blobs)
    raw = SegmentationModel.from_preset("seed", n_clusters=3).fit(blobs)
    table = explore.model_comparison({"log": log, "raw": raw})
    assert table.loc["log", "scaling"] == "log1p + standard"
    assert table.loc["raw", "scaling"] == "standard"
    assert table.loc["log", "K"] == 3
    sizes = [int(part.rsplit(" ", 1)[1].replace(",", "")) for part in table.loc["log", "cluster_sizes"].split(" · ")]
    assert sum(sizes) == len(blobs) and sizes == sorted(sizes, reverse=True)
    assert table.loc["log", "smallest_cluster"] == min(sizes)


def test_rfm_vs_clusters_counts_every_customer_once(blobs):
    model = SegmentationModel.from_preset("clusters", n_clusters=3).fit(blobs)
    table = explore.rfm_vs_clusters(model.segment(blobs))
    assert table.loc["Total", "Total"] == len(blobs)
    assert table.drop(index="Total").drop(columns="Total").to_numpy().sum() == len(blobs)
    assert set(table.columns) - {"Total"} == set(model.segment_names_.values())
    assert table.index[-1] == "Total" and table.columns[-1] == "Total"


def test_segment_order_is_the_reading_order():
    assert explore.segment_order(["Lost", "Regular 2", "VIP", "Zeta", "Regular"]) == [
        "VIP", "Regular", "Regular 2", "Lost", "Zeta"]


# --------------------------------------------------------------------------- scoring another period


def test_month_cutoff_is_nine_months_after_the_first_month(tiny_log):
    assert explore.month_cutoff(tiny_log) == pd.Timestamp("2011-09-01")
    mid_month = tiny_log.assign(InvoiceDate=tiny_log["InvoiceDate"] + pd.Timedelta(days=14))
    assert explore.month_cutoff(mid_month, months=3) == pd.Timestamp("2011-03-01")


def test_split_by_date_partitions_the_log(tiny_log):
    before, after = explore.split_by_date(tiny_log, "2011-09-01")
    assert len(before) + len(after) == len(tiny_log)
    assert before["InvoiceDate"].max() < pd.Timestamp("2011-09-01") <= after["InvoiceDate"].min()
    assert list(before.index) == list(range(len(before)))
    with pytest.raises(ValueError, match="leaves one side empty"):
        explore.split_by_date(tiny_log, "2030-01-01")


def test_split_then_features_as_of_the_cutoff(tiny_log):
    before, _ = explore.split_by_date(tiny_log, "2011-09-01")
    lines = clean_transactions(before).lines
    customers = customer_features(lines, snapshot_date="2011-09-01")
    assert set(customers.index) == {"100", "200"}  # customer 300 first bought in December
    assert customers.loc["100", "NumPurchases"] == 1


def test_segment_movement_counts_transitions_of_customers_in_both():
    before = _segmented({"1": "VIP", "2": "Loyal", "3": "Loyal", "4": "Lost"})
    after = _segmented({"1": "At risk", "2": "Loyal", "3": "VIP", "5": "New"})
    movement = explore.segment_movement(before, after)
    assert movement.to_numpy().sum() == 3  # customers 4 (gone) and 5 (new) are not in both
    assert movement.loc["VIP", "At risk"] == 1
    assert movement.loc["Loyal", "Loyal"] == 1 and movement.loc["Loyal", "VIP"] == 1
    assert list(movement.index) == ["VIP", "Loyal"]  # reading order, not alphabetical
    shares = explore.segment_movement(before, after, normalize=True)
    assert shares.sum(axis=1).to_numpy() == pytest.approx([1.0, 1.0])
    assert shares.loc["Loyal", "VIP"] == pytest.approx(0.5)


def test_movement_summary_and_moved_customers():
    before = _segmented({"1": "VIP", "2": "Loyal", "3": "Loyal", "4": "Lost"}, {"1": 5, "2": 1, "3": 2, "4": 1})
    after = _segmented({"1": "At risk", "2": "Loyal", "3": "VIP", "5": "New"}, {"1": 6, "2": 1, "3": 9, "5": 1})
    summary = explore.movement_summary(before, after)["Customers"]
    assert summary.to_dict() == {"same segment": 1, "moved": 2, "only before": 1, "only after": 1}
    moved = explore.moved_customers(before, after)
    assert list(moved.index) == ["1", "3"]  # the most valuable before first
    assert moved.loc["3", "Segment before"] == "Loyal" and moved.loc["3", "Segment after"] == "VIP"
    assert moved.loc["1", "TotalSpend before"] == 5 and moved.loc["1", "TotalSpend after"] == 6
    # Segment value by mean spend before: VIP 5 > Loyal 1.5 > Lost 1; At risk only after (6).
    before["TotalSpend"] = [50.0, 1.0, 2.0, 1.0]
    after["TotalSpend"] = [6.0, 1.0, 9.0, 1.0]
    assert list(explore.moved_customers(before, after, direction="down").index) == ["1"]  # VIP -> At risk
    assert list(explore.moved_customers(before, after, direction="up").index) == ["3"]  # Loyal -> VIP
    with pytest.raises(ValueError, match="direction"):
        explore.moved_customers(before, after, direction="sideways")


def test_segment_counts_side_by_side():
    before = _segmented({"1": "VIP", "2": "Loyal", "3": "Loyal"})
    after = _segmented({"1": "Lost", "2": "Loyal"})
    counts = explore.segment_counts({"before": before, "after": after})
    assert list(counts.index) == ["VIP", "Loyal", "Lost"]
    assert counts.loc["Loyal", "before"] == 2 and counts.loc["Lost", "before"] == 0
    assert counts["after"].sum() == 2


def test_model_card_summary_reads_a_card():
    card = {"features": ["Recency", "TotalSpend"], "transforms": ["log1p", "standard_scaler"], "k": 2,
            "segments": {"0": "VIP", "1": "Lost"}, "metrics": {"silhouette": 0.41234},
            "training_data": {"source": "shop.csv", "is_sample": False, "customers": 10,
                              "period": ["2011-01-01T00:00:00", "2011-06-30T00:00:00"]},
            "created": "2024-01-01T00:00:00+00:00"}
    facts = explore.model_card_summary(card)["value"]
    assert facts["trained on"] == "shop.csv"
    assert facts["period"] == "2011-01-01 to 2011-06-30"
    assert facts["segments"] == "VIP, Lost"
    assert facts["silhouette"] == 0.412
    assert explore.model_card_summary({"k": 2})["value"]["trained on"] == "unknown"


# --------------------------------------------------------------------------- figures and notebook helpers


def test_figures_are_returned_not_shown(blobs):
    plt.close("all")
    model = SegmentationModel.from_preset("clusters", n_clusters=3).fit(blobs)
    hist = explore.feature_histograms(blobs.assign(Recency=np.arange(len(blobs)) % 30), ("Recency", "TotalSpend"))
    assert len(hist.axes) == 2
    assert "Recency + 1" in hist.axes[0].get_xlabel()  # Recency has zeros, shifted for the log axis
    assert hist.axes[1].get_xscale() == "log"
    snake = explore.snake_plot(cluster_profile_z(blobs, model.labels_), model.segment_names_)
    legend = [t.get_text() for t in snake.axes[0].get_legend().get_texts()]
    assert sorted(legend) == sorted(model.segment_names_.values())
    movement = explore.segment_movement(model.segment(blobs), model.segment(blobs), normalize=True)
    heat = explore.movement_heatmap(movement)
    assert any(t.get_text() == "100%" for t in heat.axes[0].texts)
    assert plt.get_fignums() == []  # nothing left open to be shown twice


def test_data_note_warns_on_sample_only(sample_data):
    assert "Sample data" in explore.data_note(sample_data).data
    from segkit.pipeline.workflow import CustomerData

    # A plain CustomerData: the fixture may hand back a cached (lazily read) one.
    real_looking = CustomerData("shop.csv", False, "default", sample_data.transactions,
                                sample_data.lines, sample_data.report, sample_data.customers)
    note = explore.data_note(real_looking).data
    assert "Sample data" not in note and "shop.csv" in note


def test_short_path_is_relative_inside_the_project(tmp_path):
    from segkit.config import ARTIFACTS_DIR

    assert explore.short_path(ARTIFACTS_DIR / "model.json") == "artifacts/model.json"
    assert explore.short_path(tmp_path) == str(tmp_path.resolve())


def test_evidence_table_says_each_segments_evidence_in_words(sample_data):
    """The notebooks' table of what customers like each segment's did next:
    the backtest's sentence per segment, or a plain sentence where nothing was measured."""
    from segkit.pipeline.backtest import NO_EVIDENCE, apply_evidence, backtest_segments, evidence_sentences
    from segkit.pipeline.workflow import train_model

    model = train_model(sample_data, k=4)[0]
    unmeasured = explore.evidence_table(model)
    assert (unmeasured["Evidence"] == NO_EVIDENCE).all() and len(unmeasured) == len(set(model.segment_names_.values()))
    apply_evidence(model, backtest_segments(sample_data.lines, model=model, n_boot=50))
    table = explore.evidence_table(model)
    assert table["Evidence"].to_dict() == evidence_sentences(model.evidence_)
    assert list(table.index) == explore.segment_order(table.index)
