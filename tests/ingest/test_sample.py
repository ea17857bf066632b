"""The built-in sample is deterministic and shaped like the real file."""
from __future__ import annotations

import pytest

from segkit.ingest.sample import generate_sample_transactions
from segkit.schema import CANONICAL_COLUMNS


def test_same_seed_same_rows_other_seed_other_rows(sample_log):
    assert generate_sample_transactions().equals(sample_log)
    assert not generate_sample_transactions(seed=8).equals(sample_log)


def test_sample_has_the_uci_layout_and_its_traps(sample_log):
    assert list(sample_log.columns) == CANONICAL_COLUMNS
    assert 1500 <= sample_log["CustomerID"].nunique() <= 2000
    assert sample_log["CustomerID"].isna().mean() > 0.05
    assert sample_log["InvoiceNo"].str.startswith("C").sum() > 100
    assert {"POST", "M"} <= set(sample_log["StockCode"])
    assert sample_log.duplicated().sum() > 0
    share_uk = (sample_log.drop_duplicates("CustomerID")["Country"] == "United Kingdom").mean()
    assert 0.75 < share_uk < 0.95
    per_month = sample_log.groupby(sample_log["InvoiceDate"].dt.month).size()
    assert per_month.idxmax() == 11  # November peak
    spend = (sample_log["Quantity"] * sample_log["UnitPrice"]).groupby(sample_log["CustomerID"]).sum()
    assert spend.max() > 50 * spend.median()  # heavy-tailed wholesale buyers


# What plain `segkit train` gives on the real Online Retail file (4,324 customers): shares of
# customers per segment. The sample must tell the same story: a small VIP tier far above
# Loyal, no lone cluster of giants, the same kinds of segments in shares of the same order.
REAL_SHARES = {"VIP": 290, "Loyal": 904, "Regular": 983, "Budget": 673, "New": 253,
               "At risk or Quiet": 342, "Lapsed": 879}
REAL_SHARES = {name: count / 4324 for name, count in REAL_SHARES.items()}


@pytest.fixture(scope="module")
def sample_default_segments(sample_data):
    """The sample's customers with the segments of the default model (K chosen, lifecycle
    thresholds fitted, groups renamed as the fit says: what `segkit train` shows)."""
    from segkit.pipeline.thresholds import train_with_lifecycle

    model, _, choice = train_with_lifecycle(sample_data)
    segmented = model.segment(sample_data.customers)
    segmented["Segment"] = segmented["Segment"].replace(choice.renames)
    return segmented


@pytest.mark.slow
def test_the_default_model_on_the_sample_has_a_small_vip_tier_far_above_loyal(sample_default_segments):
    spend = sample_default_segments.groupby("Segment")["TotalSpend"].mean()
    share = sample_default_segments["Segment"].value_counts(normalize=True)
    assert "VIP" in share.index, f"no VIP tier on the sample: {sorted(share.index)}"
    assert 0.03 <= share["VIP"] <= 0.10
    assert spend.idxmax() == "VIP"
    assert spend["VIP"] > 3 * spend["Loyal"]  # real file: £14,416 against £2,460


@pytest.mark.slow
def test_the_sample_s_biggest_spenders_are_vip_and_no_lone_giant(sample_default_segments):
    by_spend = sample_default_segments.sort_values("TotalSpend", ascending=False)
    top_percent = by_spend.head(len(by_spend) // 100)
    assert (top_percent["Segment"] == "VIP").all(), top_percent["Segment"].value_counts().to_dict()
    first, second = by_spend["TotalSpend"].iloc[:2]
    assert first < 3 * second, f"a lone giant: £{first:,.0f} against £{second:,.0f} for the next"


@pytest.mark.slow
def test_the_sample_has_real_data_s_kinds_of_segments_in_similar_shares(sample_default_segments):
    segment = sample_default_segments["Segment"].replace({"At risk": "At risk or Quiet", "Quiet": "At risk or Quiet"})
    share = segment.value_counts(normalize=True)
    assert set(share.index) == set(REAL_SHARES)
    for name, real in REAL_SHARES.items():
        assert real / 2 <= share[name] <= real * 2, f"{name}: {share[name]:.1%} of the sample, {real:.1%} of the real file"
