"""The built-in sample is deterministic and shaped like the real file."""
from __future__ import annotations

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
