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
    from segkit.sample import generate_sample_transactions

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

    add("empty.csv", "error", "is empty", "0-byte file").write_bytes(b"")
    good.head(0).to_csv(add("header_only.csv", "error", "header but no rows", "header, no rows"), index=False)
    for column, fragment in [("CustomerID", "no column for customer"), ("InvoiceDate", "no column for date"),
                             ("UnitPrice", "no column for price (or amount)")]:
        good.drop(columns=column).to_csv(
            add(f"missing_{column.lower()}.csv", "error", fragment, f"no {column} column"), index=False)
    good.assign(Quantity=good["Quantity"].astype(str).where(good.index % 7 != 0, "six")).to_csv(
        add("quantity_as_words.csv", "error", "not numbers (for example 'six')", "words in a number column"), index=False)
    good.assign(UnitPrice=good["UnitPrice"].map(lambda p: f"£{p:.2f}")).to_csv(
        add("price_with_currency.csv", "error", "column 'UnitPrice' that are not numbers", "currency signs in prices"),
        index=False)
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
    add("no_header.csv", "error", "no column for customer", "data rows without a header").write_text(body)
    add("ragged.csv", "error", "more fields than its header", "rows with more fields than the header").write_text(
        header + "\n" + "\n".join(line + ",extra,more" if i % 3 == 0 else line for i, line in enumerate(body.splitlines())))
    add("notes.txt", "error", "unsupported type", "a .txt file").write_text("customer,date\n1,2011-01-01\n")
    add("broken.parquet", "error", "not a readable parquet file", "bytes named .parquet").write_bytes(b"PAR1 not really")
    (HERE / "cases.json").write_text(json.dumps(cases, indent=2) + "\n")
    print(f"wrote {len(cases)} cases to {HERE}")


if __name__ == "__main__":
    main()
