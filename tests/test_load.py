"""Loading files of every supported kind and layout, and refusing bad ones clearly."""
from __future__ import annotations

import os
import time

import pandas as pd
import pytest

from segkit.errors import SegkitDataError
from segkit.load import CANONICAL_COLUMNS, load_transactions, parse_column_mapping

UCI_ROWS = pd.DataFrame({
    "InvoiceNo": ["536365", "536365", "C536379", "536380"],
    "StockCode": ["85123A", "71053", "85123A", "POST"],
    "Description": ["WHITE HANGING HEART T-LIGHT HOLDER", "WHITE METAL LANTERN", "WHITE HANGING HEART T-LIGHT HOLDER", "POSTAGE"],
    "Quantity": [6, 6, -2, 1],
    "InvoiceDate": ["2010-12-01 08:26:00", "2010-12-01 08:26:00", "2010-12-01 09:41:00", "2010-12-01 09:45:00"],
    "UnitPrice": [2.55, 3.39, 2.55, 18.0],
    "CustomerID": [17850.0, 17850.0, 17850.0, None],
    "Country": ["United Kingdom", "United Kingdom", "United Kingdom", "France"],
})


@pytest.fixture
def uci_csv(tmp_path):
    path = tmp_path / "retail.csv"
    UCI_ROWS.to_csv(path, index=False)
    return path


def test_csv_in_uci_layout_gives_canonical_columns_and_types(uci_csv):
    frame = load_transactions(uci_csv)
    assert list(frame.columns) == CANONICAL_COLUMNS
    assert frame["CustomerID"].tolist()[:3] == ["17850"] * 3  # no trailing '.0'
    assert frame["CustomerID"].isna().tolist() == [False, False, False, True]
    assert frame["InvoiceDate"].iloc[2] == pd.Timestamp("2010-12-01 09:41")
    assert frame["Quantity"].tolist() == [6, 6, -2, 1]
    assert frame["InvoiceNo"].iloc[2] == "C536379"


def test_xlsx_and_parquet_give_the_same_frame_as_csv(tmp_path, uci_csv):
    rows = UCI_ROWS.assign(InvoiceDate=pd.to_datetime(UCI_ROWS["InvoiceDate"]))
    rows.to_excel(tmp_path / "retail.xlsx", index=False, sheet_name="Online Retail")
    rows.to_parquet(tmp_path / "retail.parquet")
    from_csv = load_transactions(uci_csv)
    pd.testing.assert_frame_equal(load_transactions(tmp_path / "retail.xlsx"), from_csv)
    pd.testing.assert_frame_equal(load_transactions(tmp_path / "retail.parquet"), from_csv)


def test_online_retail_ii_layout_is_recognised(tmp_path):
    rows = UCI_ROWS.rename(columns={"InvoiceNo": "Invoice", "UnitPrice": "Price", "CustomerID": "Customer ID"})
    rows.to_csv(tmp_path / "ii.csv", index=False)
    frame = load_transactions(tmp_path / "ii.csv")
    assert frame["UnitPrice"].tolist() == [2.55, 3.39, 2.55, 18.0]
    assert frame["CustomerID"].iloc[0] == "17850"


def test_other_layout_through_mapping_with_amount_and_no_invoice_or_quantity(tmp_path):
    pd.DataFrame({
        "Client": ["a", "a", "b"], "Day": ["2024-01-02 10:00", "2024-01-02 10:00", "2024-01-03 11:00"],
        "Total": ["10.50", "4.50", "7"],
    }).to_csv(tmp_path / "shop.csv", index=False)
    frame = load_transactions(tmp_path / "shop.csv", columns=parse_column_mapping("customer=Client,date=Day,amount=Total"))
    assert frame["Quantity"].tolist() == [1, 1, 1]
    assert frame["UnitPrice"].tolist() == [10.5, 4.5, 7.0]
    # One purchase per customer + timestamp when there is no invoice column.
    assert frame["InvoiceNo"].nunique() == 2


def test_iso_8859_1_csv_is_read(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(UCI_ROWS.assign(Description="CAFÉ MUG").to_csv(index=False).encode("iso-8859-1"))
    assert load_transactions(path)["Description"].iloc[0] == "CAFÉ MUG"


def test_second_load_uses_the_parquet_cache_and_a_changed_file_is_read_again(tmp_path, uci_csv, monkeypatch):
    monkeypatch.setenv("SEGKIT_CACHE", str(tmp_path / "cache"))
    load_transactions(uci_csv)
    assert len(list((tmp_path / "cache").glob("*.parquet"))) == 1
    changed = UCI_ROWS.assign(Quantity=[7, 6, -2, 1])
    time.sleep(0.01)
    changed.to_csv(uci_csv, index=False)
    os.utime(uci_csv, ns=(time.time_ns(), time.time_ns()))
    assert load_transactions(uci_csv)["Quantity"].iloc[0] == 7


def _error(path, **kwargs) -> str:
    with pytest.raises(SegkitDataError) as info:
        load_transactions(path, use_cache=False, **kwargs)
    message = str(info.value)
    assert "\n" not in message and path.name in message
    return message


def test_missing_customer_column_names_what_was_found_and_the_fix(tmp_path):
    UCI_ROWS.drop(columns="CustomerID").to_csv(tmp_path / "nocust.csv", index=False)
    message = _error(tmp_path / "nocust.csv")
    assert "customer" in message and "found: InvoiceNo" in message and "--columns" in message


def test_unparseable_dates_give_count_and_example(tmp_path):
    UCI_ROWS.assign(InvoiceDate=["2010-12-01", "yesterday", "2010-12-01", "soon"]).to_csv(tmp_path / "d.csv", index=False)
    message = _error(tmp_path / "d.csv")
    assert "2 value(s)" in message and "'yesterday'" in message


def test_unparseable_numbers_give_count_and_example(tmp_path):
    UCI_ROWS.assign(UnitPrice=["2.55", "three", "2.55", "18"]).to_csv(tmp_path / "n.csv", index=False)
    message = _error(tmp_path / "n.csv")
    assert "1 value(s)" in message and "'three'" in message and "UnitPrice" in message


def test_empty_file_header_only_unknown_sheet_and_fake_xlsx(tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"")
    assert "empty" in _error(tmp_path / "empty.csv")
    UCI_ROWS.head(0).to_csv(tmp_path / "header.csv", index=False)
    assert "no rows" in _error(tmp_path / "header.csv")
    UCI_ROWS.to_excel(tmp_path / "book.xlsx", index=False, sheet_name="Sales")
    assert "no sheet 'Orders'" in _error(tmp_path / "book.xlsx", sheet="Orders")
    (tmp_path / "fake.xlsx").write_text("InvoiceNo,Quantity\n1,2\n")
    assert "not an Excel workbook" in _error(tmp_path / "fake.xlsx")
    (tmp_path / "notes.txt").write_text("hello")
    assert "unsupported type" in _error(tmp_path / "notes.txt")


def test_bad_column_mapping_is_explained():
    with pytest.raises(SegkitDataError, match="unknown role 'client'"):
        parse_column_mapping("client=Name")
    with pytest.raises(SegkitDataError, match="ROLE=COLUMN"):
        parse_column_mapping("customer")
