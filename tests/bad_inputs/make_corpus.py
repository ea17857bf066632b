"""Write the corpus of bad (and awkward but acceptable) input files next to this script.

Run it again after changing a case: `python tests/bad_inputs/make_corpus.py`. Each case in
`cases.json` names the file, whether segkit must refuse it ("error") or read it
("accepted"), and a fragment that the one-line message must contain.
"""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent


def base_rows() -> pd.DataFrame:
    from segkit.ingest.sample import generate_sample_transactions

    rows = generate_sample_transactions(n_customers=60, seed=3)
    rows = rows[rows["CustomerID"].notna()].head(400).reset_index(drop=True)
    rows["CustomerID"] = rows["CustomerID"].astype("int64")
    return rows


def main() -> None:
    good = base_rows()
    cases: list[dict] = []

    def add(name: str, expect: str, fragment: str, what: str) -> Path:
        cases.append({"file": name, "expect": expect, "message": fragment, "what": what})
        return HERE / name

    add.cases = cases

    add("empty.csv", "error", "is empty", "0-byte file").write_bytes(b"")
    good.head(0).to_csv(add("header_only.csv", "error", "header but no rows", "header, no rows"), index=False)
    for column, fragment in [("CustomerID", "no column for customer"), ("InvoiceDate", "no column for date"),
                             ("UnitPrice", "no column for price (or amount)")]:
        good.drop(columns=column).to_csv(
            add(f"missing_{column.lower()}.csv", "error", fragment, f"no {column} column"), index=False)
    good.assign(Quantity=good["Quantity"].astype(str).where(good.index % 7 != 0, "six")).to_csv(
        add("quantity_as_words.csv", "error", "not numbers (for example 'six')", "words in a number column"), index=False)
    good.assign(UnitPrice=good["UnitPrice"].map(lambda p: f"£{p:.2f}")).to_csv(
        add("price_with_currency.csv", "accepted", "", "currency signs in prices (£1.20)"), index=False)
    good.assign(InvoiceDate=good["InvoiceDate"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")).to_csv(
        add("dates_iso_with_zone.csv", "accepted", "", "ISO 8601 dates with T and Z"), index=False)
    good.assign(InvoiceDate=good["InvoiceDate"].dt.strftime("%d %b %Y %H:%M")).to_csv(
        add("dates_day_month_name.csv", "accepted", "", "dates like 01 Dec 2010 08:26"), index=False)
    good.assign(InvoiceDate=good["InvoiceDate"].astype(str).where(good.index % 5 != 0, "next Tuesday")).to_csv(
        add("dates_unparseable.csv", "error", "not dates (for example 'next Tuesday')", "unparseable dates"),
        index=False)
    good.assign(InvoiceDate=range(len(good))).to_excel(
        add("dates_as_numbers.xlsx", "error", "numbers, not dates", "serial numbers instead of dates"), index=False)
    good.assign(Quantity=-good["Quantity"].abs(), UnitPrice=0.0).to_csv(
        add("negative_and_zero.csv", "error", "no usable lines after cleaning", "every quantity < 0, every price 0"),
        index=False)
    good.assign(CustomerID=None).to_csv(
        add("all_customers_missing.csv", "error", "'missing customer'", "CustomerID column empty"), index=False)
    one = good.assign(CustomerID=good["CustomerID"].iloc[0])
    one.to_csv(add("one_customer.csv", "error", "There is 1 customer", "a single customer"), index=False)
    few = good[good["CustomerID"].isin(good["CustomerID"].unique()[:3])]
    few.to_csv(add("three_customers_k4.csv", "error", "3 customers but K is 4", "fewer customers than K=4 (--k 4)"),
               index=False)
    text = good.head(20).to_csv(index=False)
    header, body = text.split("\n", 1)
    add("duplicated_headers.csv", "error", "more than once", "a header repeated").write_text(
        header.replace("Country", "Quantity") + "\n" + body)
    add("latin1.csv", "accepted", "", "ISO-8859-1 text (é, £)").write_bytes(
        good.assign(Description="CAFÉ CRÈME £ MUG").to_csv(index=False).encode("iso-8859-1"))
    add("utf16.csv", "accepted", "", "UTF-16 with BOM (Excel 'Unicode text')").write_bytes(
        good.to_csv(index=False).encode("utf-16"))
    add("semicolons.csv", "accepted", "", "';' as separator (European Excel)").write_text(good.to_csv(index=False, sep=";"))
    add("binary_named.csv", "error", "not a text CSV file", "binary bytes named .csv").write_bytes(bytes(range(256)) * 8)
    add("text_named.xlsx", "error", "not an Excel workbook", "a CSV named .xlsx").write_text(good.to_csv(index=False))
    add("password_protected.xlsx", "error", "password-protected", "an encrypted workbook (OLE container)").write_bytes(
        bytes.fromhex("D0CF11E0A1B11AE1") + b"\x00" * 504 + b"EncryptedPackage" + b"\x01" * 2000)
    buffer = io.BytesIO()
    good.to_excel(buffer, index=False)
    add("truncated.xlsx", "error", "truncated.xlsx", "a workbook cut off half-way").write_bytes(
        buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with zipfile.ZipFile(add("zip_not_workbook.xlsx", "error", "could not be read as an Excel workbook",
                             "a zip without a workbook inside"), "w") as archive:
        archive.writestr("hello.txt", "hello")
    good.to_excel(add("wrong_sheet.xlsx", "error", "no sheet 'Orders'", "asked for a sheet that is not there (--sheet Orders)"),
                  index=False, sheet_name="Sales")
    wide = pd.concat([good, pd.DataFrame({f"extra_{i}": i for i in range(3000)}, index=good.index)], axis=1).head(150)
    wide.to_csv(add("very_wide.csv", "accepted", "", "3,000 extra columns"), index=False)
    good.assign(Quantity=good["Quantity"].astype(object).where(good.index != 3, "1e300")).to_csv(
        add("huge_number.csv", "error", "implausibly large", "1e300 in a quantity cell"), index=False)
    good.assign(Description=good["Description"].where(good.index % 4 != 0, '=HYPERLINK("http://evil.example","x")')).to_csv(
        add("formula_injection.csv", "accepted", "", "=HYPERLINK(...) in descriptions (neutralised on export)"), index=False)
    add("no_header.csv", "error", "has no header row: its first line holds values (536365, 22554, 7, 2010-12-01 09:44:00 and 2 more)", "data rows without a header").write_text(body)
    add("ragged.csv", "error", "more fields than its header", "rows with more fields than the header").write_text(
        header + "\n" + "\n".join(line + ",extra,more" if i % 3 == 0 else line for i, line in enumerate(body.splitlines())))
    add("notes.txt", "error", "unsupported type", "a .txt file").write_text("customer,date\n1,2011-01-01\n")
    add("broken.parquet", "error", "not a readable parquet file", "bytes named .parquet").write_bytes(b"PAR1 not really")
    add_issue12_cases(good, add)
    (HERE / "cases.json").write_text(json.dumps(cases, indent=2) + "\n")
    print(f"wrote {len(cases)} cases to {HERE}")


def add_issue12_cases(good: pd.DataFrame, add) -> None:
    """The families of bad inputs: each case may carry "options" (k, dayfirst, command) and
    "upload" ("scored" when the dashboard's upload scores the file without complaint)."""
    import numpy as np

    def case(name, expect, fragment, what, family, **extra):
        path = add(name, expect, fragment, what)
        add.cases[-1].update({"family": family, **extra})
        return path

    stamps = good["InvoiceDate"]
    # 1. day-first dates
    good.assign(InvoiceDate=stamps.dt.strftime("%d/%m/%Y %H:%M")).to_csv(
        case("dates_dayfirst.csv", "accepted", "", "UK dates dd/mm/yyyy HH:MM", "dates"), index=False)
    good.assign(InvoiceDate=stamps.dt.strftime("%m/%d/%Y %H:%M")).to_csv(
        case("dates_monthfirst.csv", "accepted", "", "US dates mm/dd/yyyy HH:MM", "dates"), index=False)
    good.assign(InvoiceDate=stamps.dt.strftime("%d.%m.%y %H:%M")).to_csv(
        case("dates_dotted_short_year.csv", "accepted", "", "German dates dd.mm.yy HH:MM", "dates"), index=False)
    good.assign(InvoiceDate=stamps.dt.strftime("%d/%m/%Y %H:%M")).to_excel(
        case("dates_dayfirst_text.xlsx", "accepted", "", "dd/mm/yyyy as text cells in a workbook", "dates"), index=False)
    early = good[stamps.dt.day <= 12]
    early.assign(InvoiceDate=early["InvoiceDate"].dt.strftime("%d/%m/%Y %H:%M")).to_csv(
        case("dates_ambiguous.csv", "error", "pass --dayfirst (dd/mm/yyyy) or --monthfirst",
             "every date could be dd/mm or mm/dd", "dates"), index=False)
    early.assign(InvoiceDate=early["InvoiceDate"].dt.strftime("%d/%m/%Y %H:%M")).to_csv(
        case("dates_ambiguous_dayfirst.csv", "accepted", "", "the same, with --dayfirst", "dates",
             options={"dayfirst": True}), index=False)
    mixed = stamps.dt.strftime("%d/%m/%Y %H:%M").where(good.index % 2 == 0, stamps.dt.strftime("%m/%d/%Y %H:%M"))
    good.assign(InvoiceDate=mixed).to_csv(
        case("dates_mixed_orders.csv", "error", "mixes day-first and month-first dates",
             "dd/mm and mm/dd in one column", "dates"), index=False)
    good.assign(InvoiceDate=stamps.dt.strftime("%m/%d/%Y %H:%M")).to_csv(
        case("dates_monthfirst_told_dayfirst.csv", "error", "cannot be day-first",
             "mm/dd/yyyy dates with --dayfirst", "dates", options={"dayfirst": True}, upload="scored"), index=False)

    # 2. decimal commas and thousands separators (reference: locale_reference.csv)
    big = good.assign(Quantity=good["Quantity"].where(good.index % 9 != 0, good["Quantity"] * 100 + 1000))
    big.to_csv(case("locale_reference.csv", "accepted", "", "plain numbers, some quantities >= 1000", "numbers"),
               index=False)
    european = big.assign(
        Quantity=big["Quantity"].map(lambda q: f"{q:,}".replace(",", ".")),
        UnitPrice=big["UnitPrice"].map(lambda p: f"{p:.2f}".replace(".", ",")))
    european.to_csv(case("decimal_comma.csv", "accepted", "", "';' file with 1,25 prices and 1.200 quantities",
                         "numbers"), index=False, sep=";")
    big.assign(Quantity=big["Quantity"].map(lambda q: f"{q:,}"), UnitPrice=big["UnitPrice"].map(lambda p: f"{p:,.2f}")).to_csv(
        case("thousands_comma.csv", "accepted", "", "1,200 quantities and 2.55 prices (UK)", "numbers"), index=False)
    big.assign(Quantity=big["Quantity"].map(lambda q: f"{q:,}".replace(",", ".")),
               UnitPrice=big["UnitPrice"].map(lambda p: "€ " + f"{p:.2f}".replace(".", ","))).to_csv(
        case("price_euro_comma.csv", "accepted", "", "prices like '€ 3,50'", "numbers"), index=False, sep=";")
    prices = big["UnitPrice"].map(lambda p: f"{p:.2f}")
    big.assign(UnitPrice=prices.where(big.index % 3 != 0, prices.str.replace(".", ",", regex=False))).to_csv(
        case("decimal_marks_mixed.csv", "error", "mixes decimal commas and decimal points",
             "2.55 and 2,55 in one column", "numbers"), index=False, sep=";")
    whole = good.assign(UnitPrice=(good["UnitPrice"].round() + 1).astype(int))
    whole.assign(UnitPrice=whole["UnitPrice"].map(lambda p: f"{p * 1000 + 250:,}" if p % 4 == 0 else str(p))).to_csv(
        case("thousands_ambiguous.csv", "error", "read differently in UK and European formats",
             "prices like 1,250 with no other mark", "numbers"), index=False)
    good.assign(UnitPrice=[f"£{p:.2f}" if i % 2 else f"€{p:.2f}" for i, p in enumerate(good["UnitPrice"])]).to_csv(
        case("currencies_mixed.csv", "error", "mixes currencies", "£ and € in one price column", "numbers"), index=False)

    # 3. outlier dates
    far = good.copy()
    far.loc[4, "InvoiceDate"] = pd.Timestamp("2099-06-01 10:00")  # product lines, not postage or fees
    far.loc[17, "InvoiceDate"] = pd.Timestamp("1900-01-01 10:00")
    far.to_csv(case("dates_2099_and_1900.csv", "accepted", "", "one line in 2099, one in 1900", "outlier dates"),
               index=False)

    # 4. blank and #N/A quantities, NaN prices
    blanks = good.astype({"Quantity": object, "UnitPrice": object})
    blanks.loc[blanks.index % 10 == 1, "Quantity"] = ""
    blanks.loc[blanks.index % 10 == 2, "Quantity"] = "#N/A"
    blanks.loc[blanks.index % 10 == 3, "UnitPrice"] = "NaN"
    blanks.to_csv(case("blank_quantities_nan_prices.csv", "accepted", "", "blank and #N/A quantities, NaN prices",
                       "blanks"), index=False)

    # 5. crashes that were exit 1
    same = pd.concat([good.head(3).assign(CustomerID=c, InvoiceNo=f"5{c}") for c in range(12000, 12012)])
    same.to_csv(case("identical_customers.csv", "error", "have the same", "12 customers with identical lines, --k auto",
                     "crashes", options={"k": "auto"}, upload="scored"), index=False)
    # As pivot-style exports write it: the label in the first (here the customer) column.
    total = pd.concat([good[["CustomerID", *good.columns.drop("CustomerID")]],
                       pd.DataFrame([{"CustomerID": "Grand Total", "Quantity": good["Quantity"].sum(),
                                      "UnitPrice": good["UnitPrice"].sum(), "InvoiceDate": None}])])
    total.to_csv(case("grand_total_row.csv", "accepted", "", "a 'Grand Total' row without a date", "crashes"), index=False)
    undated = good.astype({"InvoiceDate": object})
    undated.loc[undated["CustomerID"] == undated["CustomerID"].iloc[0], "InvoiceDate"] = None
    undated.to_csv(case("blank_dates_one_customer.csv", "accepted", "", "one customer with only blank dates",
                        "crashes"), index=False)

    # 6. denial of service
    header = ",".join(list(good.columns) + [f"extra_{i}" for i in range(6000)])
    case("header_6000_columns.csv", "error", "more than 5,000 columns", "6,008 header fields", "size").write_text(
        header + "\n" + good.head(5).to_csv(index=False, header=False))
    buffer = io.BytesIO()
    good.head(20).to_excel(buffer, index=False)
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as book, zipfile.ZipFile(
            case("sheet_expands_to_600mb.xlsx", "error", "expands to 0.6 GB", "a 0.6 MB workbook whose sheet is 600 MB",
                 "size"), "w", zipfile.ZIP_DEFLATED, compresslevel=9) as bomb:
        for item in book.infolist():
            data = book.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":  # valid XML: whitespace before </worksheet>
                data = data.replace(b"</worksheet>", b" " * 600_000_000 + b"</worksheet>")
            bomb.writestr(item, data)

    # 9. customer tables for `segkit score`
    table = pd.DataFrame({"CustomerID": [str(12000 + i) for i in range(12)],
                          "Recency": [3, 10, 40, 90, 200, 300, 5, 15, 60, 120, 250, 350],
                          "Tenure": [300, 200, 100, 50, 0, 0, 250, 90, 40, 100, 0, 0],
                          "NumPurchases": [20, 8, 3, 2, 1, 1, 12, 5, 2, 3, 1, 1],
                          "TotalSpend": [5200.5, 1200.0, 310.25, 150.0, 40.0, 25.5, 3100.0, 640.0, 220.0, 180.0, 30.0, 12.0],
                          "Margin": np.linspace(-12.5, 40.0, 12).round(2)})
    table.to_csv(case("customers_reference.csv", "accepted", "", "a plain customer table", "customer tables",
                      options={"command": "score"}, upload="scored"), index=False)
    table.assign(TotalSpend=table["TotalSpend"].map(lambda v: f"{v:,.2f}".replace(",", "X").replace(".", ",").replace("X", "."))).to_csv(
        case("customers_decimal_comma.csv", "accepted", "", "TotalSpend like 5.200,50", "customer tables",
             options={"command": "score"}, upload="scored"), index=False, sep=";")
    table.rename(columns={"Margin": '=HYPERLINK("http://evil.example","x")'}).to_csv(
        case("customers_formula_header.csv", "accepted", "", "=HYPERLINK(...) as a header cell", "customer tables",
             options={"command": "score"}, upload="scored"), index=False)
    conflicting = pd.concat([table, table.iloc[[2]].assign(Recency=999)])
    conflicting.to_csv(case("customers_duplicate_ids.csv", "error", "on more than one row with different values",
                            "one CustomerID twice with different Recency", "customer tables",
                            options={"command": "score"}), index=False)
    table.assign(CustomerID=table["CustomerID"].where(table.index != 4, "")).to_csv(
        case("customers_blank_id.csv", "error", "without a CustomerID", "a customer row without an id",
             "customer tables", options={"command": "score"}), index=False)
    table.assign(Recency=table["Recency"].where(table.index != 6, -30)).to_csv(
        case("customers_negative_recency.csv", "error", "negative value(s) in column 'Recency'",
             "Recency -30", "customer tables", options={"command": "score"}), index=False)
    table.assign(TotalSpend=table["TotalSpend"].where(table.index != 7, -640.0)).to_csv(
        case("customers_negative_spend.csv", "error", "negative value(s) in column 'TotalSpend'",
             "TotalSpend -640", "customer tables", options={"command": "score"}), index=False)
    table.drop(columns="TotalSpend").to_csv(
        case("customers_missing_feature.csv", "error", "no column TotalSpend that the model needs",
             "no TotalSpend column", "customer tables", options={"command": "score"}), index=False)

    # Also: a UCI-layout log without a Quantity column
    good.drop(columns="Quantity").to_csv(
        case("missing_quantity_column.csv", "error", "has no Quantity column", "UCI layout without Quantity",
             "also"), index=False)


if __name__ == "__main__":
    main()
