"""The upload's column mapping in Chromium: a file with German headers is refused naming
the Columns lists; picking its columns there scores it."""
from __future__ import annotations

import pandas as pd
import pytest
from test_browser import _upload

pytestmark = [pytest.mark.browser, pytest.mark.slow]

GERMAN = {"InvoiceNo": "Rechnung", "StockCode": "Artikel", "Description": "Bezeichnung", "Quantity": "Menge",
          "InvoiceDate": "Datum", "UnitPrice": "Einzelpreis", "CustomerID": "Kunde", "Country": "Land"}


@pytest.mark.parametrize("viewer_served", ["sample"], indirect=True)
def test_picking_the_columns_of_a_foreign_file_scores_it(viewer_served, viewer_page, sample_log, tmp_path):
    page = viewer_page
    lines = sample_log[sample_log["CustomerID"].notna()].copy()
    lines = lines[lines["InvoiceDate"] >= lines["InvoiceDate"].max() - pd.Timedelta(days=60)]
    lines["CustomerID"] = "N" + lines["CustomerID"].astype(str)  # customers the page's log does not know
    path = tmp_path / "bestellungen.csv"
    lines.rename(columns=GERMAN).to_csv(path, index=False)
    customers = lines["CustomerID"].nunique()

    _upload(page, path)
    page.wait_for_selector(".seg-upload-result .seg-error")
    refusal = page.inner_text(".seg-upload-result .seg-error")
    assert "no column for customer" in refusal and "Columns lists below the upload button" in refusal, refusal
    assert "--columns" not in refusal
    page.wait_for_selector(".seg-upload-mapping .seg-upload-column-customer select", state="visible")
    for role, column in {"customer": "Kunde", "invoice": "Rechnung", "date": "Datum", "quantity": "Menge",
                         "price": "Einzelpreis", "country": "Land"}.items():
        page.locator(f".seg-upload-column-{role} select").select_option(label=column)
    page.locator(".seg-upload-read-columns").click()
    page.wait_for_function("() => document.querySelector('.seg-upload-result').innerText.includes('Scored')",
                           timeout=120_000)
    result = page.inner_text(".seg-upload-result")
    assert f"Scored {customers:,} of {customers:,} customers from bestellungen.csv" in result, result[:300]
    assert page.locator(".seg-upload-mapping").is_hidden()
