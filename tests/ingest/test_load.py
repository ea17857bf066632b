"""Loading files of every supported kind and layout, and refusing bad ones clearly."""
from __future__ import annotations

import os
import time

import pandas as pd
import pytest

from segkit.errors import SegkitDataError
from segkit.ingest.load import load_transactions, parse_column_mapping
from segkit.schema import CANONICAL_COLUMNS

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


# --------------------------------------------------------------------------- issue 12


def test_cache_is_keyed_by_content_not_size_and_mtime(tmp_path, uci_csv, monkeypatch):
    monkeypatch.setenv("SEGKIT_CACHE", str(tmp_path / "cache"))
    stat = uci_csv.stat()
    assert load_transactions(uci_csv)["Quantity"].iloc[0] == 6
    UCI_ROWS.assign(Quantity=[7, 6, -2, 1]).to_csv(uci_csv, index=False)  # same size
    os.utime(uci_csv, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # mtime restored
    assert uci_csv.stat().st_size == stat.st_size
    assert load_transactions(uci_csv)["Quantity"].iloc[0] == 7
    assert len(list((tmp_path / "cache").glob("*.parquet"))) == 2  # one copy per content


@pytest.mark.parametrize("dayfirst, first", [(None, "2011-01-13"), (True, "2011-01-13")])
def test_day_first_dates_are_decided_per_column(tmp_path, dayfirst, first):
    UCI_ROWS.assign(InvoiceDate=["13/01/2011 08:26", "05/01/2011 08:26", "05/01/2011 09:41", "1/2/2011 9:45"]).to_csv(
        tmp_path / "uk.csv", index=False)
    dates = load_transactions(tmp_path / "uk.csv", use_cache=False, dayfirst=dayfirst)["InvoiceDate"]
    assert dates.dt.strftime("%Y-%m-%d").tolist() == [first, "2011-01-05", "2011-01-05", "2011-02-01"]


def test_ambiguous_or_contradicted_date_orders_are_refused(tmp_path):
    UCI_ROWS.assign(InvoiceDate=["05/01/2011", "06/01/2011", "07/01/2011", "08/01/2011"]).to_csv(
        tmp_path / "amb.csv", index=False)
    assert "--dayfirst" in _error(tmp_path / "amb.csv") and "--monthfirst" in _error(tmp_path / "amb.csv")
    assert load_transactions(tmp_path / "amb.csv", use_cache=False, dayfirst=False)["InvoiceDate"].dt.month.tolist() == [5, 6, 7, 8]
    UCI_ROWS.assign(InvoiceDate=["12/25/2010", "06/01/2011", "07/01/2011", "08/01/2011"]).to_csv(
        tmp_path / "us.csv", index=False)
    assert "cannot be day-first" in _error(tmp_path / "us.csv", dayfirst=True)
    UCI_ROWS.assign(InvoiceDate=["12/25/2010", "25/12/2010", "07/01/2011", "08/01/2011"]).to_csv(
        tmp_path / "mixed.csv", index=False)
    assert "mixes day-first and month-first" in _error(tmp_path / "mixed.csv")


@pytest.mark.parametrize("prices, expected", [
    (["2,55", "3,39", "2,55", "1.250,00"], [2.55, 3.39, 2.55, 1250.0]),
    (["2.55", "3.39", "2.55", "1,250.00"], [2.55, 3.39, 2.55, 1250.0]),
    (["£2.55", "£3.39", "£2.55", "£18.00"], [2.55, 3.39, 2.55, 18.0]),
    (["€ 2,55", "3,39 €", "€2,55", "€ 1 250,00"], [2.55, 3.39, 2.55, 1250.0]),
])
def test_numeric_locale_is_read_per_column(tmp_path, prices, expected):
    UCI_ROWS.assign(UnitPrice=prices).to_csv(tmp_path / "p.csv", index=False, sep=";")
    assert load_transactions(tmp_path / "p.csv", use_cache=False)["UnitPrice"].tolist() == expected


def test_ambiguous_or_mixed_numbers_are_refused(tmp_path):
    UCI_ROWS.assign(UnitPrice=["1,250", "3", "2", "18"]).to_csv(tmp_path / "amb.csv", index=False, sep=";")
    assert "read differently in UK and European formats" in _error(tmp_path / "amb.csv")
    UCI_ROWS.assign(UnitPrice=["2,55", "3.39", "2", "18"]).to_csv(tmp_path / "mix.csv", index=False, sep=";")
    assert "mixes decimal commas and decimal points" in _error(tmp_path / "mix.csv")
    # An ambiguous quantity column follows the price column's decimal mark.
    UCI_ROWS.assign(Quantity=["1.000", "6", "-2", "1"], UnitPrice=["2,55", "3,39", "2,55", "18"]).to_csv(
        tmp_path / "de.csv", index=False, sep=";")
    assert load_transactions(tmp_path / "de.csv", use_cache=False)["Quantity"].tolist() == [1000, 6, -2, 1]


def test_blank_and_na_markers_are_missing_not_errors(tmp_path):
    UCI_ROWS.assign(Quantity=["#N/A", "", "-2", "1"], UnitPrice=["NaN", "3.39", "N/A", "18"]).to_csv(
        tmp_path / "na.csv", index=False)
    frame = load_transactions(tmp_path / "na.csv", use_cache=False)
    assert frame["Quantity"].isna().tolist() == [True, True, False, False]
    assert frame["UnitPrice"].isna().tolist() == [True, False, True, False]


def test_zoned_timestamps_become_utc_wall_time(tmp_path):
    zoned = UCI_ROWS.assign(InvoiceDate=pd.to_datetime(UCI_ROWS["InvoiceDate"]).dt.tz_localize("Europe/Paris"))
    zoned.to_parquet(tmp_path / "zoned.parquet", index=False)
    dates = load_transactions(tmp_path / "zoned.parquet")["InvoiceDate"]
    assert dates.iloc[0] == pd.Timestamp("2010-12-01 07:26:00") and dates.dt.tz is None


def test_uci_layout_without_quantity_needs_the_columns_declared(tmp_path):
    UCI_ROWS.drop(columns="Quantity").to_csv(tmp_path / "noq.csv", index=False)
    message = _error(tmp_path / "noq.csv")
    assert "no Quantity column" in message and "--columns" in message
    mapping = parse_column_mapping("customer=CustomerID,date=InvoiceDate,price=UnitPrice")
    assert load_transactions(tmp_path / "noq.csv", columns=mapping, use_cache=False)["Quantity"].tolist() == [1, 1, 1, 1]


def test_csv_with_too_many_columns_or_lines_is_refused_before_pandas_reads_it(tmp_path, monkeypatch):
    import segkit.ingest.load as load

    header = ",".join(list(UCI_ROWS.columns) + [f"x{i}" for i in range(50_000)])
    (tmp_path / "wide.csv").write_text(header + "\n")
    started = time.perf_counter()
    assert "more than 5,000 columns" in _error(tmp_path / "wide.csv")
    assert time.perf_counter() - started < 1.0
    monkeypatch.setattr(load, "MAX_CSV_LINES", 3)
    UCI_ROWS.to_csv(tmp_path / "long.csv", index=False)
    assert "more than 3 lines of 8 columns" in _error(tmp_path / "long.csv")
    monkeypatch.setattr(load, "MAX_CSV_LINES", 10)
    monkeypatch.setattr(load, "MAX_CSV_CELLS", 16)
    assert "more than 2 lines of 8 columns" in _error(tmp_path / "long.csv")


def test_workbook_expanding_past_the_bound_is_refused_before_parsing(tmp_path, monkeypatch):
    import segkit.ingest.load as load

    UCI_ROWS.to_excel(tmp_path / "book.xlsx", index=False)
    monkeypatch.setattr(load, "MAX_XLSX_EXPANDED_BYTES", 1_000)
    monkeypatch.setattr(load, "_read_with", lambda *a: pytest.fail("parsed a workbook past the bound"))
    assert "expands to" in _error(tmp_path / "book.xlsx")
