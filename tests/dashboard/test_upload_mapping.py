"""The upload's column mapping: a file whose headers the page does not know
("Kunde", "Datum", ...) is refused with a sentence naming the page's Columns lists, never
``--columns``; choosing its columns there scores it, customer by customer as the same lines
under the headers the page knows."""
from __future__ import annotations

import html
import re

import pandas as pd
import pytest

#: A German shop's headers for the UCI columns.
GERMAN = {"InvoiceNo": "Rechnung", "StockCode": "Artikel", "Description": "Bezeichnung", "Quantity": "Menge",
          "InvoiceDate": "Datum", "UnitPrice": "Einzelpreis", "CustomerID": "Kunde", "Country": "Land"}
CHOSEN = {"customer": "Kunde", "invoice": "Rechnung", "date": "Datum", "quantity": "Menge", "price": "Einzelpreis",
          "product": "Artikel", "description": "Bezeichnung", "country": "Land"}


def _text(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", markup)).strip()


@pytest.fixture(scope="module")
def new_lines(sample_log) -> pd.DataFrame:
    """Two months of the sample's lines, as customers the page's log does not know."""
    lines = sample_log[sample_log["CustomerID"].notna()].copy()
    lines = lines[lines["InvoiceDate"] >= lines["InvoiceDate"].max() - pd.Timedelta(days=60)]
    lines["CustomerID"] = "N" + lines["CustomerID"].astype(str)
    return lines


@pytest.fixture(scope="module")
def mapping_dashboard(sample_data, tmp_path_factory):
    from segkit.dashboard import Dashboard
    from segkit.pipeline.artifacts import save_artifacts
    from segkit.pipeline.workflow import train_model

    artifacts = tmp_path_factory.mktemp("mapping") / "artifacts"
    model, _ = train_model(sample_data, 4)
    save_artifacts(model, artifacts, sample_data.training_info())
    return Dashboard(sample_data, artifacts=artifacts, query="")


def test_foreign_headers_are_refused_naming_the_columns_lists_then_read_with_them(mapping_dashboard, new_lines,
                                                                                  tmp_path):
    from segkit.dashboard.upload_mapping import READ_BUTTON
    from segkit.pipeline.workflow import customers_for_scoring

    score = mapping_dashboard.score
    plain = new_lines.to_csv(index=False).encode()
    german = new_lines.rename(columns=GERMAN).to_csv(index=False).encode()

    score.upload.receive("neue_bestellungen.csv", german)
    refusal = _text(score.upload_result.value)
    assert 'class="seg-error"' in score.upload_result.value
    assert "'neue_bestellungen.csv' has no column for customer, date, price (or amount)" in refusal, refusal
    assert "Columns lists below the upload button" in refusal and READ_BUTTON in refusal, refusal
    assert not re.search(r"--[a-z]", refusal) and "\n" not in refusal, refusal
    assert score.mapping.offered and score.scored is None
    assert "Kunde" in [value for _, value in score.mapping.lists["customer"].options]
    assert score.upload.content == b""  # kept by the mapping only, while it is offered

    score.mapping.choose(customer="Kunde", date="Datum")  # no price yet: refused again, the lists stay
    score.mapping.read_button.click()
    assert "no column for price (or amount)" in _text(score.upload_result.value)
    assert score.mapping.offered and score.mapping.lists["customer"].value == "Kunde"

    score.mapping.choose(**CHOSEN)
    score.mapping.read_button.click()
    result = _text(score.upload_result.value)
    customers = new_lines["CustomerID"].nunique()
    assert result.startswith(f"Scored {customers:,} of {customers:,} customers from neue_bestellungen.csv"), result[:300]
    assert "Read with the columns chosen (customer: Kunde" in result
    assert not score.mapping.offered and score.mapping.content == b""
    mapped = score.scored

    path = tmp_path / "neue_bestellungen.csv"
    path.write_bytes(german)
    model = mapping_dashboard.state.model
    library = model.segment(customers_for_scoring(path, model, CHOSEN, use_cache=False, allow_short_window=True))
    score.upload.receive("new_orders.csv", plain)
    assert not score.mapping.offered
    for other in (library, score.scored):
        columns = [c for c in other.columns if c in mapped.columns]
        assert {"Segment", "TotalSpend", "Recency"} <= set(columns)
        pd.testing.assert_frame_equal(mapped[columns].sort_index(), other[columns].sort_index(), check_names=False)


def test_the_lists_start_from_the_columns_a_known_layout_recognises(mapping_dashboard, new_lines):
    """A UCI file with only its customer column renamed: the other lists come chosen."""
    score = mapping_dashboard.score
    renamed = new_lines.rename(columns={"CustomerID": "Kundennummer"}).to_csv(index=False).encode()
    score.upload.receive("renamed.csv", renamed)
    assert score.mapping.offered
    assert score.mapping.mapping() == {"invoice": "InvoiceNo", "date": "InvoiceDate", "quantity": "Quantity",
                                       "price": "UnitPrice", "product": "StockCode", "description": "Description",
                                       "country": "Country"}
    score.mapping.choose(customer="Kundennummer")
    score.mapping.read_button.click()
    assert _text(score.upload_result.value).startswith("Scored"), score.upload_result.value[:300]


def test_a_file_without_a_header_row_is_said_to_have_none_and_its_values_are_not_offered_as_columns(
        mapping_dashboard, new_lines):
    """Data from the first line on (tests/bad_inputs/no_header.csv): its first line's values
    are no column names, so the page says the file has no header row and offers no lists."""
    from pathlib import Path

    score = mapping_dashboard.score
    corpus = Path(__file__).resolve().parents[1] / "bad_inputs" / "no_header.csv"
    score.upload.receive("no_header.csv", corpus.read_bytes())
    refusal = _text(score.upload_result.value)
    assert 'class="seg-error"' in score.upload_result.value
    first = corpus.read_text().splitlines()[0].split(",")
    assert refusal.startswith(f"'no_header.csv' has no header row: its first line holds values ({first[0]}, "), refusal
    assert "not column names; add a first line naming the columns" in refusal, refusal
    assert "\n" not in refusal and not re.search(r"--[a-z]", refusal), refusal
    assert not score.mapping.offered and score.mapping.content == b""

    # the same lines with their header: the lists are offered over the names, never the values
    german = new_lines.rename(columns=GERMAN).to_csv(index=False).encode()
    score.upload.receive("neue_bestellungen.csv", german)
    assert score.mapping.offered
    offered = [value for _, value in score.mapping.lists["customer"].options if value is not None]
    assert offered == list(GERMAN.values())
    headless = new_lines.rename(columns=GERMAN).to_csv(index=False, header=False).encode()
    score.upload.receive("ohne_kopf.csv", headless)
    assert "'ohne_kopf.csv' has no header row" in _text(score.upload_result.value)
    assert not score.mapping.offered
