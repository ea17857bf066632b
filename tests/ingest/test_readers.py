"""Telling a customer table from a transaction log by its schema alone: ``segkit
score`` on a large parquet log must not read it whole into pandas first."""
from __future__ import annotations

import pandas as pd
import pytest

from segkit.ingest import readers
from segkit.ingest.readers import column_names


@pytest.fixture(scope="module")
def shipped_model():
    from segkit.config import ARTIFACTS_DIR
    from segkit.pipeline.artifacts import load_artifacts

    return load_artifacts(ARTIFACTS_DIR)


def test_column_names_come_from_the_schema_as_read_raw_gives_them(tmp_path, sample_log):
    from pathlib import Path

    log = sample_log.head(50)
    csv, parquet, indexed = tmp_path / "log.csv", tmp_path / "log.parquet", tmp_path / "customers.parquet"
    log.to_csv(csv, index=False)
    log.to_parquet(parquet, index=False)
    table = pd.DataFrame({"CustomerID": ["1", "2"], "TotalSpend": [3.0, 4.0]}).set_index("CustomerID")
    table.to_parquet(indexed)  # a named index is a column to pyarrow, the index to pandas
    titled = tmp_path / "titled.csv"
    titled.write_text("Sales export December\n\n" + log.to_csv(index=False))
    for path in (csv, parquet, indexed, titled):
        assert column_names(Path(path)) == [str(c) for c in readers.read_raw(Path(path), None).columns], path.name
    assert column_names(Path("x.xlsx")) is None  # workbooks are read whole


@pytest.mark.slow
def test_score_tells_a_parquet_log_from_its_schema_and_never_reads_it_into_pandas(
        tmp_path, sample_log, shipped_model, monkeypatch):
    from segkit.pipeline import workflow

    path = tmp_path / "log.parquet"
    sample_log.to_parquet(path, index=False)
    expected = workflow.customers_for_scoring(path, shipped_model, engine="duckdb", allow_short_window=True)

    def no_whole_read(path, *args, **kwargs):
        raise AssertionError(f"{path} was read whole into pandas")

    monkeypatch.setattr(readers, "read_raw", no_whole_read)
    monkeypatch.setattr(workflow, "OUT_OF_CORE_ROWS", 1000)  # this log counts as large: the engine reads it
    got = workflow.customers_for_scoring(path, shipped_model, engine="auto", allow_short_window=True)
    pd.testing.assert_frame_equal(got.sort_index(), expected.sort_index())


def test_a_customer_table_is_still_recognised_from_its_header(tmp_path, shipped_model, sample_data):
    from segkit.pipeline.workflow import customers_for_scoring

    table = sample_data.customers.reset_index()[["CustomerID", *shipped_model.input_columns_]]
    for name in ("customers.csv", "customers.parquet"):
        path = tmp_path / name
        table.to_csv(path, index=False) if name.endswith(".csv") else table.to_parquet(path, index=False)
        got = customers_for_scoring(path, shipped_model)
        assert len(got) == len(table)
        assert sorted(got.index.astype(str)) == sorted(table["CustomerID"].astype(str))


def _tricky_workbook(path):
    """A sheet with what Excel exports hold: numeric and text invoice numbers in one column,
    an id with leading zeros stored as text, 'NA' and '#N/A' texts, a blank row, whole and
    fractional prices, real dates and a blank customer."""
    import datetime as dt

    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID",
                  "Country"])
    sheet.append([536365, "85123A", "WHITE HANGING HEART", 6, dt.datetime(2010, 12, 1, 8, 26), 2.55, 17850, "UK"])
    sheet.append(["C536379", "D", "Discount", -1, dt.datetime(2010, 12, 1, 9, 41), 27.5, 14527, "UK"])
    sheet.append([None] * 8)
    sheet.append([536366, 22633, "NA", 6, dt.datetime(2010, 12, 1, 8, 28), 2, "0017850", "#N/A"])
    sheet.append([536367, 84879, "BIRD ORNAMENT", 32, dt.datetime(2010, 12, 1, 8, 34), 1.69, None, "France"])
    book.save(path)
    return path


@pytest.mark.parametrize("reader", ["fastexcel", "calamine rows"])
def test_a_plain_sheet_is_read_as_pandas_reads_it_without_its_cell_by_cell_conversion(tmp_path, monkeypatch, reader):
    from pandas.io.excel._calamine import CalamineReader

    from segkit.ingest.load import load_transactions

    if reader == "fastexcel":
        pytest.importorskip("fastexcel", reason="fastexcel is a dependency; CI installs it")
    else:
        monkeypatch.setattr(readers, "_arrow_sheet", lambda *a: None)  # as without fastexcel
    path = _tricky_workbook(tmp_path / "tricky.xlsx")
    with pd.ExcelFile(path, engine="calamine") as book:
        expected = readers.cells_as_shown(pd.read_excel(book, sheet_name=0, dtype=object))
    with monkeypatch.context() as pandas_way:
        pandas_way.setattr(readers, "_arrow_sheet", lambda *a: None)
        pandas_way.setattr(readers, "_plain_sheet", lambda *a: None)
        expected_lines = load_transactions(path, use_cache=False)

    def cell_by_cell(*args, **kwargs):
        raise AssertionError("the sheet went through pandas' cell-by-cell conversion")

    monkeypatch.setattr(CalamineReader, "get_sheet_data", cell_by_cell)
    if reader == "fastexcel":
        monkeypatch.setattr(readers, "_plain_sheet", lambda *a: pytest.fail("fastexcel did not read the sheet"))
    got = readers.read_raw(path, None)
    if reader == "calamine rows":
        pd.testing.assert_frame_equal(got, expected)
    else:  # Arrow columns: text as pandas' string type, the same cells
        pd.testing.assert_frame_equal(got.astype(object).map(lambda v: None if pd.isna(v) else str(v)),
                                      expected.astype(object).map(lambda v: None if pd.isna(v) else str(v)))
    lines = load_transactions(path, use_cache=False)
    pd.testing.assert_frame_equal(lines, expected_lines)
    lines = lines[lines["InvoiceNo"].notna()]  # the blank row stays a blank line, as pandas reads it
    assert lines["InvoiceNo"].tolist() == ["536365", "C536379", "536366", "536367"]
    assert lines["CustomerID"].iloc[:3].tolist() == ["17850", "14527", "0017850"] and lines["CustomerID"].iloc[3] is pd.NA
    assert lines["UnitPrice"].tolist() == [2.55, 27.5, 2.0, 1.69]


@pytest.mark.parametrize("reader", ["fastexcel", "calamine rows"])
def test_a_workbook_on_the_1904_date_system_gives_the_dates_its_cells_show(tmp_path, monkeypatch, reader):
    """Excel for Mac's 1904 date system counts days from 1904: the same date is another
    number in the file (39051.35 is 1 Dec 2010, not 2 Dec 2014)."""
    import datetime as dt

    from openpyxl import Workbook
    from openpyxl.utils.datetime import CALENDAR_MAC_1904

    from segkit.ingest.load import load_transactions

    if reader == "fastexcel":
        pytest.importorskip("fastexcel", reason="fastexcel is a dependency; CI installs it")
        monkeypatch.setattr(readers, "_plain_sheet", lambda *a: pytest.fail("fastexcel did not read the sheet"))
    else:
        monkeypatch.setattr(readers, "_arrow_sheet", lambda *a: None)
    book = Workbook()
    book.epoch = CALENDAR_MAC_1904
    sheet = book.active
    sheet.append(["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID",
                  "Country"])
    sheet.append([536365, "85123A", "HEART", 6, dt.datetime(2010, 12, 1, 8, 26), 2.55, "0017850", "UK"])
    sheet.append([536366, "85123A", "HEART", 6, dt.datetime(2011, 1, 5, 8, 26, 13), 2.55, 17850, "UK"])
    path = tmp_path / "mac.xlsx"
    book.save(path)
    lines = load_transactions(path, use_cache=False)
    assert lines["InvoiceDate"].tolist() == [pd.Timestamp("2010-12-01 08:26"), pd.Timestamp("2011-01-05 08:26:13")]
    assert lines["CustomerID"].tolist() == ["0017850", "17850"]
