"""Loading files of every supported kind and layout, and refusing bad ones clearly."""
from __future__ import annotations

import time

import pandas as pd
import pytest
from uci_rows import UCI_ROWS

from segkit.errors import SegkitDataError
from segkit.ingest.load import load_transactions, parse_column_mapping
from segkit.schema import CANONICAL_COLUMNS


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


# --------------------------------------------------------------------------- bad inputs


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
    import segkit.ingest.readers as readers

    header = ",".join(list(UCI_ROWS.columns) + [f"x{i}" for i in range(50_000)])
    (tmp_path / "wide.csv").write_text(header + "\n")
    started = time.perf_counter()
    assert "more than 5,000 columns" in _error(tmp_path / "wide.csv")
    assert time.perf_counter() - started < 1.0
    monkeypatch.setattr(readers, "MAX_CSV_LINES", 3)
    UCI_ROWS.to_csv(tmp_path / "long.csv", index=False)
    assert "more than 3 lines of 8 columns" in _error(tmp_path / "long.csv")
    monkeypatch.setattr(readers, "MAX_CSV_LINES", 10)
    monkeypatch.setattr(readers, "MAX_CSV_CELLS", 16)
    assert "more than 2 lines of 8 columns" in _error(tmp_path / "long.csv")


def test_workbook_expanding_past_the_bound_is_refused_before_parsing(tmp_path, monkeypatch):
    import segkit.ingest.readers as readers

    UCI_ROWS.to_excel(tmp_path / "book.xlsx", index=False)
    monkeypatch.setattr(readers, "MAX_XLSX_EXPANDED_BYTES", 1_000)
    monkeypatch.setattr(readers, "_read_with", lambda *a: pytest.fail("parsed a workbook past the bound"))
    assert "expands to" in _error(tmp_path / "book.xlsx")


# --------------------------------------------------------------------------- layouts, currencies, large logs
# Files made from the built-in sample the way real shops export them, each checked line
# by line and customer by customer against the plain export of the same lines.


@pytest.fixture(scope="module")
def plain_export(tmp_path_factory):
    """The built-in sample as a plain CSV (ISO dates, numeric ids), and what it reads to."""
    from segkit.ingest.sample import generate_sample_transactions

    log = generate_sample_transactions(300, seed=3)
    log["InvoiceDate"] = log["InvoiceDate"].dt.floor("min")  # minutes, as the UCI log; every format holds them
    path = tmp_path_factory.mktemp("plain") / "plain.csv"
    log.to_csv(path, index=False)
    return log, path, load_transactions(path, use_cache=False)


def _customers(path, **kwargs) -> pd.DataFrame:
    from segkit.pipeline.workflow import load_customer_data

    return load_customer_data(path, use_cache=False, **kwargs).customers


def _same_as_plain(path, plain_export, **kwargs) -> None:
    """Every line and every customer of ``path`` equals the plain export's."""
    _, plain_path, plain_lines = plain_export
    pd.testing.assert_frame_equal(load_transactions(path, use_cache=False, **kwargs), plain_lines)
    pd.testing.assert_frame_equal(_customers(path, **kwargs), _customers(plain_path))


UK_TIME_FORMATS = {
    "am_pm": lambda d: d.dt.strftime("%d/%m/%Y %I:%M %p"),
    "comma_seconds": lambda d: d.dt.strftime("%d/%m/%Y, %H:%M:%S"),
    "milliseconds": lambda d: d.dt.strftime("%d/%m/%Y %H:%M:%S.%f").str[:-3],
    "hhmm": lambda d: d.dt.strftime("%d/%m/%Y %H%M"),
    "lower_am_pm_no_zero": lambda d: d.dt.strftime("%-d/%-m/%Y %-I:%M %p").str.lower(),
}


@pytest.mark.parametrize("style", UK_TIME_FORMATS)
@pytest.mark.slow
def test_day_first_dates_with_any_time_format_read_as_the_plain_export(tmp_path, plain_export, style):
    log = plain_export[0]
    path = tmp_path / f"uk_{style}.csv"
    log.assign(InvoiceDate=UK_TIME_FORMATS[style](log["InvoiceDate"])).to_csv(path, index=False)
    _same_as_plain(path, plain_export)
    _same_as_plain(path, plain_export, dayfirst=True)


@pytest.mark.parametrize("style", ["am_pm", "comma_seconds", "hhmm"])
@pytest.mark.slow
def test_the_stated_order_reaches_every_time_format(tmp_path, plain_export, style):
    log = plain_export[0]
    path = tmp_path / f"uk_{style}.csv"
    log.assign(InvoiceDate=UK_TIME_FORMATS[style](log["InvoiceDate"])).to_csv(path, index=False)
    assert "cannot be month-first" in _error(path, dayfirst=False)
    us = tmp_path / f"us_{style}.csv"
    log.assign(InvoiceDate=UK_TIME_FORMATS[style](log["InvoiceDate"]).str.replace(
        r"^(\d+)/(\d+)/", r"\2/\1/", regex=True)).to_csv(us, index=False)
    _same_as_plain(us, plain_export)
    _same_as_plain(us, plain_export, dayfirst=False)
    assert "cannot be day-first" in _error(us, dayfirst=True)


def test_day_first_and_month_first_in_one_column_are_refused_whatever_the_time_format(tmp_path):
    UCI_ROWS.assign(InvoiceDate=["13/01/2011 8:26 AM", "01/13/2011 8:26 AM", "05/01/2011, 09:41:00",
                                 "05/01/2011 0945"]).to_csv(tmp_path / "mixed.csv", index=False)
    message = _error(tmp_path / "mixed.csv")
    assert "mixes day-first and month-first" in message and "'13/01/2011 8:26 AM'" in message


def test_a_day_first_date_with_an_unknown_time_format_is_refused_not_guessed(tmp_path):
    UCI_ROWS.assign(InvoiceDate=["13/01/2011 08h26", "05/01/2011 08h26", "05/01/2011 09h41", "05/01/2011 09h45"]
                    ).to_csv(tmp_path / "odd.csv", index=False)
    assert "whose time segkit does not read" in _error(tmp_path / "odd.csv")


def test_the_page_upload_honours_its_dates_choice_with_am_pm_times(tmp_path):
    from segkit.config import ARTIFACTS_DIR
    from segkit.pipeline.artifacts import load_artifacts
    from segkit.views.tables import score_upload

    content = UCI_ROWS.assign(InvoiceDate=["05/01/2011 08:26 AM", "05/01/2011 08:26 AM", "06/01/2011 09:41 AM",
                                           "07/01/2011 09:45 AM"]).to_csv(index=False).encode()
    model = load_artifacts(ARTIFACTS_DIR)
    with pytest.raises(SegkitDataError, match="day-first or month-first"):
        score_upload(content, "am.csv", model)
    day_first = score_upload(content, "am.csv", model, dayfirst=True)
    month_first = score_upload(content, "am.csv", model, dayfirst=False)
    assert day_first.loc["17850", "LastPurchase"] == pd.Timestamp("2011-01-05 08:26")
    assert month_first.loc["17850", "LastPurchase"] == pd.Timestamp("2011-05-01 08:26")


def _padded(log: pd.DataFrame) -> pd.DataFrame:
    """The log with its customer ids as 7-character text with leading zeros ('0017850')."""
    ids = log["CustomerID"].astype("Int64").astype("string").str.zfill(7)
    return log.assign(CustomerID=ids.astype(object).where(ids.notna(), None))


@pytest.mark.slow
def test_xlsx_text_ids_keep_their_leading_zeros_as_in_csv(tmp_path, plain_export):
    log = _padded(plain_export[0])
    log.to_csv(tmp_path / "padded.csv", index=False)
    log.to_excel(tmp_path / "padded.xlsx", index=False)  # text cells: '0017850'
    from_csv = load_transactions(tmp_path / "padded.csv", use_cache=False)
    from_xlsx = load_transactions(tmp_path / "padded.xlsx", use_cache=False)
    assert from_csv["CustomerID"].dropna().str.len().eq(7).all()
    pd.testing.assert_frame_equal(from_xlsx, from_csv)
    pd.testing.assert_frame_equal(_customers(tmp_path / "padded.xlsx"), _customers(tmp_path / "padded.csv"))


@pytest.mark.slow
def test_a_folder_of_xlsx_and_csv_exports_keeps_each_customer_whole(tmp_path, plain_export):
    log = _padded(plain_export[0])
    log.to_csv(tmp_path / "plain.csv", index=False)
    folder = tmp_path / "exports"
    folder.mkdir()
    early = log["InvoiceDate"] < log["InvoiceDate"].quantile(0.5)
    log[early].to_excel(folder / "2010-2011a.xlsx", index=False)
    log[~early].to_csv(folder / "2011b.csv", index=False)
    together = _customers(folder)
    plain = _customers(tmp_path / "plain.csv")
    assert len(together) == len(plain)
    pd.testing.assert_frame_equal(together, plain)


@pytest.mark.slow
def test_email_ids_are_one_customer_whatever_their_case_and_spaces(tmp_path, plain_export):
    log = plain_export[0]
    email = "Cust" + log["CustomerID"].astype("Int64").astype("string") + "@Shop.example"
    plain = log.assign(CustomerID=email.str.lower())
    plain.to_csv(tmp_path / "lower.csv", index=False)
    varied = email.where(log.index % 3 != 0, email.str.upper()).where(log.index % 3 != 1, " " + email + " ")
    log.assign(CustomerID=varied).to_csv(tmp_path / "varied.csv", index=False)
    pd.testing.assert_frame_equal(load_transactions(tmp_path / "varied.csv", use_cache=False),
                                  load_transactions(tmp_path / "lower.csv", use_cache=False))
    pd.testing.assert_frame_equal(_customers(tmp_path / "varied.csv"), _customers(tmp_path / "lower.csv"))


@pytest.mark.parametrize("kind", [".csv.gz", ".zip", ".csv.zst"])
def test_compressed_csv_exports_read_as_the_plain_export(tmp_path, plain_export, kind):
    import gzip
    import importlib.util
    import zipfile

    text = plain_export[1].read_bytes()
    path = tmp_path / f"export{kind}"
    if kind == ".csv.gz":
        path.write_bytes(gzip.compress(text))
    elif kind == ".zip":
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("export.csv", text)
    elif importlib.util.find_spec("zstandard") is None:
        path.write_bytes(b"\x28\xb5\x2f\xfd" + b"\0" * 16)  # a Zstandard frame's magic number
        message = _error(path)
        assert "Zstandard" in message and "pip install zstandard" in message
        return
    else:
        import zstandard

        path.write_bytes(zstandard.ZstdCompressor().compress(text))
    _same_as_plain(path, plain_export)


def test_a_zip_holding_more_than_one_file_is_refused_naming_them(tmp_path):
    import zipfile

    with zipfile.ZipFile(tmp_path / "two.zip", "w") as archive:
        archive.writestr("a.csv", UCI_ROWS.to_csv(index=False))
        archive.writestr("b.csv", UCI_ROWS.to_csv(index=False))
    message = _error(tmp_path / "two.zip")
    assert "holds 2 file(s) (a.csv, b.csv)" in message and "exactly one CSV file" in message


@pytest.mark.slow
def test_a_folder_reads_its_gzip_export_and_names_every_file_it_skips(tmp_path, plain_export, capsys):
    import gzip

    from segkit import cli

    log = plain_export[0]
    folder = tmp_path / "exports"
    (folder / "old").mkdir(parents=True)
    older = log["InvoiceDate"] < log["InvoiceDate"].quantile(0.6)
    (folder / "2010-2011.csv.gz").write_bytes(gzip.compress(log[older].to_csv(index=False).encode()))
    log[~older].to_csv(folder / "2011-late.csv", index=False)
    (folder / "notes.txt").write_text("exported by the shop")
    (folder / "~$2011-late.xlsx").write_bytes(b"lock")
    (folder / ".DS_Store").write_bytes(b"")
    (folder / "2012.csv.part").write_text("InvoiceNo")
    pd.testing.assert_frame_equal(_customers(folder), _customers(plain_export[1]))
    out = tmp_path / "features.csv"
    assert cli.main(["features", "--data", str(folder), "--out", str(out)]) == 0
    said = capsys.readouterr().err
    for name in ("notes.txt", "~$2011-late.xlsx", ".DS_Store", "2012.csv.part", "old"):
        assert f"skipped '{name}'" in said, name
    assert "not a transaction file type (.txt" in said and "Excel lock file" in said and "subfolder" in said
    assert "2010-2011.csv.gz" not in said
    written = pd.read_csv(out, dtype={"CustomerID": str}).set_index("CustomerID")
    assert len(written) == len(_customers(plain_export[1]))


def test_windows_1252_text_keeps_euro_signs_and_typographic_quotes(tmp_path):
    description = "“CAFÉ” MUG – SET OF 2…"
    rows = UCI_ROWS.assign(Description=description, UnitPrice=["€2.55", "€3.39", "€2.55", "€18.00"])
    (tmp_path / "win.csv").write_bytes(rows.to_csv(index=False).encode("cp1252"))
    frame = load_transactions(tmp_path / "win.csv", use_cache=False)
    assert (frame["Description"] == description).all()
    assert frame["UnitPrice"].tolist() == [2.55, 3.39, 2.55, 18.0]
    latin = UCI_ROWS.assign(Description="CAFÉ CRÈME £ MUG ÿ")  # ISO-8859-1 outside 0x80-0x9f reads the same
    (tmp_path / "latin.csv").write_bytes(latin.to_csv(index=False).encode("iso-8859-1"))
    assert (load_transactions(tmp_path / "latin.csv", use_cache=False)["Description"] == "CAFÉ CRÈME £ MUG ÿ").all()


def _write_sheets(path, sheets: dict) -> None:
    with pd.ExcelWriter(path) as writer:
        for name, frame in sheets.items():
            frame.to_excel(writer, sheet_name=name, index=False)


@pytest.mark.slow
def test_a_workbook_whose_sheets_share_a_layout_is_read_as_one_log_said_in_one_line(tmp_path, plain_export, capsys):
    from segkit import cli

    log = plain_export[0].rename(columns={"InvoiceNo": "Invoice", "UnitPrice": "Price", "CustomerID": "Customer ID"})
    first = log["InvoiceDate"] < pd.Timestamp("2011-01-01")
    book = tmp_path / "online_retail_II.xlsx"
    _write_sheets(book, {"Year 2009-2010": log[first], "Year 2010-2011": log[~first]})
    _same_as_plain(book, plain_export)
    out = tmp_path / "features.csv"
    assert cli.main(["features", "--data", str(book), "--out", str(out)]) == 0
    said = [line for line in capsys.readouterr().err.splitlines() if "sheets" in line]
    assert said == ["segkit: note: read the 2 sheets of 'online_retail_II.xlsx' ('Year 2009-2010', 'Year 2010-2011') "
                    "as one log, as they have the same columns; pass --sheet NAME to read one sheet."]
    one = load_transactions(book, sheet="Year 2010-2011", use_cache=False)
    assert len(one) == int((~first).sum())


@pytest.mark.slow
def test_a_workbook_whose_sheets_differ_is_refused_naming_them_and_sheet(tmp_path, plain_export):
    log = plain_export[0]
    summary = log.groupby("Country", as_index=False)["Quantity"].sum()
    book = tmp_path / "report.xlsx"
    _write_sheets(book, {"Summary": summary, "Orders": log, "Notes": pd.DataFrame()})
    message = _error(book)
    assert "'Summary': Country, Quantity" in message and "'Orders': InvoiceNo" in message and "--sheet" in message
    _same_as_plain(book, plain_export, sheet="Orders")


@pytest.mark.slow
def test_an_empty_extra_sheet_is_left_out(tmp_path, plain_export):
    book = tmp_path / "with_empty.xlsx"
    _write_sheets(book, {"Online Retail": plain_export[0], "Sheet2": pd.DataFrame()})
    _same_as_plain(book, plain_export)


@pytest.mark.parametrize("kind", ["xlsx", "csv_title_alone", "csv_title_padded"])
@pytest.mark.slow
def test_a_title_above_the_header_is_skipped(tmp_path, plain_export, kind):
    log = plain_export[0]
    title = "Online Retail - transactions export, all stores"
    if kind == "xlsx":
        path = tmp_path / "titled.xlsx"
        with pd.ExcelWriter(path) as writer:
            log.to_excel(writer, sheet_name="Online Retail", index=False, startrow=2)
            writer.sheets["Online Retail"].cell(row=1, column=1, value=title)
    else:
        path = tmp_path / f"{kind}.csv"
        first = '"' + title + '"' + ("," * (log.shape[1] - 1) if kind == "csv_title_padded" else "")
        path.write_text(first + "\n\n" + log.to_csv(index=False))
    _same_as_plain(path, plain_export)


def test_a_title_above_an_unknown_header_is_named_in_the_refusal(tmp_path):
    rows = UCI_ROWS.rename(columns={"CustomerID": "Client", "InvoiceDate": "Day"})
    with pd.ExcelWriter(tmp_path / "titled.xlsx") as writer:
        rows.to_excel(writer, sheet_name="Export", index=False, startrow=2)
        writer.sheets["Export"].cell(row=1, column=1, value="Shop export - all stores")
    message = _error(tmp_path / "titled.xlsx")
    assert "row 3 looks like the header: InvoiceNo, StockCode, Description, Quantity, Day, UnitPrice and 2 more" \
        in message and "--columns" in message


def test_order_fields_on_the_first_line_only_are_filled_down_and_counted(tmp_path, sample_log):
    """A shop export (Shopify's orders export) writes the customer, date and country on an
    order's first line only: the log reads as the plain export, customer by customer, and
    the cleaning report says how many lines were filled."""
    from segkit.pipeline.workflow import load_customer_data

    plain = sample_log.head(4000).copy()
    later = plain.duplicated("InvoiceNo", keep="first")
    shop = plain.copy()
    shop["InvoiceDate"] = shop["InvoiceDate"].dt.strftime("%Y-%m-%d %H:%M:%S")
    shop = shop.astype({"CustomerID": "string", "InvoiceDate": "string", "Country": "string"})
    shop.loc[later, ["CustomerID", "InvoiceDate", "Country"]] = pd.NA
    plain_path, shop_path = tmp_path / "plain.csv", tmp_path / "shop.csv"
    plain.to_csv(plain_path, index=False)
    shop.to_csv(shop_path, index=False)
    expected = load_customer_data(plain_path)
    got = load_customer_data(shop_path)
    pd.testing.assert_frame_equal(got.customers, expected.customers)
    assert later.sum() > 1000
    # Every later line takes its order's date and country (orders without a customer keep none).
    assert got.report["rule"].tolist()[1] == f"order fields filled down ({int(later.sum()):,} lines)"
    assert "order fields filled down" not in " ".join(expected.report["rule"])
