"""The page's upload reads the file once when the log knows its customers:
``score_upload`` reads the lines once and uses them to tell which customers the log knows,
to join them to the log and to count the customers left without a segment."""
from __future__ import annotations

import pandas as pd
import pytest

from segkit.views.tables import score_upload

UPLOAD = "december.csv"


@pytest.fixture(scope="module")
def trained(sample_data):
    from segkit.pipeline.workflow import train_model

    return train_model(sample_data, 4)[0]


@pytest.fixture()
def reads(monkeypatch):
    """How many times the upload's rows were read (``pandas.read_csv`` of the file past its header)."""
    counted = []
    read_csv = pd.read_csv

    def counting(source, *args, **kwargs):
        if getattr(source, "name", "") == UPLOAD and kwargs.get("nrows") != 0:
            counted.append(source)
        return read_csv(source, *args, **kwargs)

    monkeypatch.setattr(pd, "read_csv", counting)
    return counted


def _known_customers_lines(sample_log: pd.DataFrame) -> pd.DataFrame:
    """December's lines of twenty customers the log knows, a line without a customer id and
    a customer who only cancelled (no purchase after cleaning: no segment)."""
    log = sample_log.drop(columns=["TotalPrice"], errors="ignore")
    december = log[log["InvoiceDate"] >= "2011-12-01"]
    known = december[december["CustomerID"].isin(december["CustomerID"].dropna().unique()[:20])]
    orphan = known.head(1).assign(CustomerID=pd.NA, InvoiceNo="999998")  # its own invoice: no id to fill down
    cancelled = known.head(1).assign(CustomerID=99999, InvoiceNo="C999999", Quantity=-1)
    return pd.concat([known, orphan, cancelled], ignore_index=True)


def test_an_upload_of_customers_the_log_knows_is_read_once(sample_log, sample_data, trained, reads, tmp_path):
    from segkit.pipeline.workflow import customers_with_history

    lines = _known_customers_lines(sample_log)
    content = lines.to_csv(index=False).encode()
    scored = score_upload(content, UPLOAD, trained, history=sample_data.transactions)
    assert len(reads) == 1, reads

    # The same customers and segments as the file joined to the log from its path (as `segkit score --history`).
    path = tmp_path / UPLOAD
    path.write_bytes(content)
    expected = trained.segment(customers_with_history(path, sample_data.transactions, trained, use_cache=False,
                                                      allow_short_window=True))
    assert scored["Segment"].astype(str).to_dict() == expected["Segment"].astype(str).to_dict()
    ids = lines["CustomerID"].dropna().astype("int64").astype(str)
    assert sorted(scored.attrs["known"]) == sorted(set(ids) - {"99999"})
    assert scored.attrs["unscored"] == ["99999"] and scored.attrs["lines_without_customer"] == 1
    assert scored.attrs["alone"] is False
    assert any(f"in '{UPLOAD}' are in the shop's log" in note for note in scored.attrs["notes"]), scored.attrs["notes"]


def test_an_upload_of_new_customers_still_counts_those_without_a_segment(sample_log, sample_data, trained, reads):
    """Customers the log does not know are scored on the file alone (read by the scoring, and
    once for the count): the customer who only cancelled and the line without an id are counted."""
    lines = _known_customers_lines(sample_log)
    lines["CustomerID"] = lines["CustomerID"].map(lambda c: c if pd.isna(c) else int(c) + 500_000)
    scored = score_upload(lines.to_csv(index=False).encode(), UPLOAD, trained, history=sample_data.transactions)
    assert scored.attrs["alone"] is True and scored.attrs["known"] == []
    ids = set(lines["CustomerID"].dropna().astype("int64").astype(str))
    assert "599999" in scored.attrs["unscored"]
    assert scored.attrs["unscored"] == sorted(ids - set(scored.index.astype(str)))
    assert scored.attrs["lines_without_customer"] == 1
    assert len(reads) == 2, reads
