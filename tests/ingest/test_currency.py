"""Currencies of a log: one currency is shown with its symbol, several are refused
unless --fx rates convert them to one base currency (segkit.ingest.currency)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segkit import cli
from segkit.errors import SegkitDataError
from segkit.ingest.currency import with_fx
from segkit.pipeline.workflow import load_customer_data

RATES = {"EUR": 0.86, "USD": 0.79}  # amount in GBP = amount x rate


@pytest.fixture(autouse=True)
def _no_currency_setting(monkeypatch, tmp_path):
    monkeypatch.delenv("SEGKIT_CURRENCY", raising=False)
    monkeypatch.setenv("SEGKIT_CACHE", str(tmp_path / "cache"))


@pytest.fixture()
def priced_in_three(sample_log):
    """The sample with each invoice in GBP, EUR or USD (prices converted from the pounds at
    ``RATES``), and the pounds it stands for."""
    log = sample_log.copy()
    invoices = log["InvoiceNo"].astype(str)
    pick = pd.util.hash_pandas_object(invoices, index=False).to_numpy() % 3
    log["Currency"] = np.array(["GBP", "EUR", "USD"])[pick]
    rate = log["Currency"].map({"GBP": 1.0, **RATES})
    log["UnitPrice"] = (log["UnitPrice"] / rate).round(6)
    return log, rate


def _fx_file(tmp_path, rates=RATES, base="GBP"):
    path = tmp_path / "rates.csv"
    pd.DataFrame({"currency": list(rates), f"rate_to_{base}": list(rates.values())}).to_csv(path, index=False)
    return path


def euro_log_and_model(tmp_path, sample_log):
    """The sample as a euro log (a Currency column of EUR) in ``tmp_path``, its customer data
    and a K = 4 model trained on it: ``(path, data, model)``."""
    from segkit.pipeline.workflow import train_model

    path = tmp_path / "euros.csv"
    sample_log.assign(Currency="EUR").to_csv(path, index=False)
    data = load_customer_data(path)
    return path, data, train_model(data, 4)[0]


@pytest.mark.slow
def test_one_currency_is_shown_with_its_symbol_on_the_page_and_in_the_model(tmp_path, sample_log):
    from segkit.config import Settings
    from segkit.dashboard.state import DashboardState, ModelStatus
    from segkit.views.tables import provisional_card

    path, data, model = euro_log_and_model(tmp_path, sample_log)
    assert data.currency == "EUR"
    assert any("€" in text for text in model.definitions_.astype(str).to_numpy().ravel())
    assert not any("£" in text for text in model.definitions_.astype(str).to_numpy().ravel())
    state = DashboardState(data, model, provisional_card(model, data.training_info()), ModelStatus(False, "t"),
                           tmp_path, Settings(analyst=False))
    assert state.currency == "€"
    again = load_customer_data(path)  # read back from the cache: still euros
    assert type(again).__name__ == "CachedCustomerData" and again.currency == "EUR"


def test_a_log_without_a_currency_column_keeps_the_pound(tmp_path, sample_log):
    path = tmp_path / "plain.csv"
    sample_log.head(500).to_csv(path, index=False)
    from segkit.ingest.currency import currency_symbol

    assert load_customer_data(path).currency is None
    assert currency_symbol(None) == "£"


def test_mixed_currencies_are_refused_in_one_sentence_without_rates(tmp_path, priced_in_three, capsys):
    log, _ = priced_in_three
    path = tmp_path / "three.csv"
    log.to_csv(path, index=False)
    with pytest.raises(SegkitDataError, match=r"'three.csv' holds amounts in 3 currencies \(EUR, GBP, USD\).*--fx"):
        load_customer_data(path)
    assert cli.main(["features", "--data", str(path), "--out", str(tmp_path / "c.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err and "--fx" in err


@pytest.mark.slow
def test_rates_convert_every_amount_customer_by_customer(tmp_path, sample_log, priced_in_three):
    log, rate = priced_in_three
    path = tmp_path / "three.csv"
    log.to_csv(path, index=False)
    data = load_customer_data(path, columns=with_fx(None, _fx_file(tmp_path)))
    assert data.currency == "GBP"

    # pandas alone: each loaded line's pounds are the file's price times its currency's rate
    lines = data.transactions
    expected_price = (log["UnitPrice"] * rate).to_numpy()
    np.testing.assert_allclose(lines["UnitPrice"].to_numpy(), expected_price, rtol=1e-9)

    # the same customers as the log written in pounds, customer by customer
    pounds = tmp_path / "pounds.csv"
    sample_log.to_csv(pounds, index=False)
    reference = load_customer_data(pounds).customers
    got = data.customers.reindex(reference.index)
    np.testing.assert_allclose(got["TotalSpend"], reference["TotalSpend"], rtol=1e-6, atol=1e-4)
    assert got["NumPurchases"].tolist() == reference["NumPurchases"].tolist()

    # the cleaning report says how many lines were converted, from which currencies
    converted = int((log["Currency"] != "GBP").sum())
    rows = data.report["rule"].astype(str).tolist()
    assert f"converted to GBP ({converted:,} lines from EUR, USD)" in rows
    row = data.report.loc[data.report["rule"].astype(str).str.startswith("converted")].iloc[0]
    assert row["rows_removed"] == 0


@pytest.mark.slow
def test_other_rates_are_not_served_from_the_cache(tmp_path, priced_in_three):
    log, _ = priced_in_three
    path = tmp_path / "three.csv"
    log.to_csv(path, index=False)
    first = load_customer_data(path, columns=with_fx(None, _fx_file(tmp_path)))
    doubled = load_customer_data(path, columns=with_fx(None, _fx_file(tmp_path, {k: 2 * v for k, v in RATES.items()})))
    eur = log.loc[log["Currency"] == "EUR", "CustomerID"].dropna().astype(str).str.replace(r"\.0$", "", regex=True)
    only_gbp = set(first.customers.index) - set(eur) - set(
        log.loc[log["Currency"] == "USD", "CustomerID"].dropna().astype(str).str.replace(r"\.0$", "", regex=True))
    changed = doubled.customers["TotalSpend"] - first.customers["TotalSpend"]
    assert (changed.drop(list(only_gbp)) > 0).any()
    assert changed.reindex(list(only_gbp)).abs().max() < 1e-6


def test_a_currency_missing_from_the_rates_is_refused_by_name(tmp_path, priced_in_three):
    log, _ = priced_in_three
    path = tmp_path / "three.csv"
    log.to_csv(path, index=False)
    with pytest.raises(SegkitDataError, match=r"'three.csv' has amounts in USD .*add a line 'USD,<rate to GBP>'"):
        load_customer_data(path, columns=with_fx(None, _fx_file(tmp_path, {"EUR": 0.86})))


@pytest.mark.slow
def test_the_command_line_converts_with_fx(tmp_path, priced_in_three):
    log, rate = priced_in_three
    path = tmp_path / "three.csv"
    log.to_csv(path, index=False)
    out = tmp_path / "customers.csv"
    assert cli.main(["features", "--data", str(path), "--fx", str(_fx_file(tmp_path)), "--out", str(out)]) == 0
    got = pd.read_csv(out, dtype={"CustomerID": str}).set_index("CustomerID")
    got = got.rename(columns={"TotalSpend (£)": "TotalSpend"})  # converted to pounds, and headed so
    # the oracle's customers (pandas cleaning and features) of the log priced in pounds by pandas
    from oracle import customers_of

    from segkit.ingest.load import standardise_columns

    pounds = log.assign(UnitPrice=log["UnitPrice"] * rate).drop(columns="Currency")
    expected = customers_of(standardise_columns(pounds))
    assert sorted(got.index) == sorted(expected.index)
    np.testing.assert_allclose(got["TotalSpend"].reindex(expected.index), expected["TotalSpend"], rtol=1e-6, atol=1e-4)
    assert (got["NumPurchases"].reindex(expected.index) == expected["NumPurchases"]).all()


@pytest.mark.parametrize("text, match", [
    ("currency,rate\nEUR,0.86\n", "'rates.csv' has the columns currency, rate; .*rate_to_<BASE>"),
    ("currency,rate_to_GBP\nEUR,zero\n", "'rates.csv' has a line without a currency or a positive rate"),
    ("currency,rate_to_GBP\nEUR,-1\n", "positive rate"),
    ("currency,rate_to_GBP\nEUR,0.8\nEUR,0.9\n", "gives EUR more than one rate"),
])
def test_a_wrong_rates_file_is_refused_in_one_sentence(tmp_path, text, match):
    path = tmp_path / "rates.csv"
    path.write_text(text)
    with pytest.raises(SegkitDataError, match=match):
        with_fx(None, path)


@pytest.mark.slow
def test_currency_signs_in_the_price_column_are_converted_with_rates(tmp_path, priced_in_three):
    """'£1.67' and '€1.20' in one price column (tests/bad_inputs/currencies_mixed.csv): refused
    without rates, converted line by line with them, checked customer by customer."""
    from oracle import customers_of

    from segkit.ingest.load import standardise_columns

    log, rate = priced_in_three
    sign = log["Currency"].map({"GBP": "£", "EUR": "€", "USD": "$"})
    signed = log.drop(columns="Currency").assign(UnitPrice=sign + log["UnitPrice"].map("{:.6f}".format))
    path = tmp_path / "signed.csv"
    signed.to_csv(path, index=False)
    with pytest.raises(SegkitDataError, match=r"'signed.csv' mixes currencies \(\$, £, €\) in column 'UnitPrice'.*--fx"):
        load_customer_data(path)
    data = load_customer_data(path, columns=with_fx(None, _fx_file(tmp_path)))
    assert data.currency == "GBP"
    expected = customers_of(standardise_columns(log.assign(UnitPrice=log["UnitPrice"] * rate).drop(columns="Currency")))
    got = data.customers.reindex(expected.index)
    np.testing.assert_allclose(got["TotalSpend"], expected["TotalSpend"], rtol=1e-6, atol=1e-4)
    converted = int((log["Currency"] != "GBP").sum())
    assert f"converted to GBP ({converted:,} lines from EUR, USD)" in data.report["rule"].astype(str).tolist()

    signed.loc[signed.index[3], "UnitPrice"] = "2.50"
    signed.to_csv(path, index=False)
    with pytest.raises(SegkitDataError, match=r"'signed.csv' shows prices in EUR, GBP, USD .* 1 lines show no currency sign"):
        load_customer_data(path, columns=with_fx(None, _fx_file(tmp_path)))


def test_one_currency_sign_names_the_log_currency(tmp_path, sample_log):
    path = tmp_path / "euro_signs.csv"
    sample_log.head(400).assign(UnitPrice="€" + sample_log["UnitPrice"].head(400).astype(str)).to_csv(path, index=False)
    from segkit.ingest.load import load_transactions

    assert load_transactions(path, use_cache=False).attrs["currency"] == "EUR"


def _csv_header(path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()[0].split(",")


def test_customer_csvs_carry_the_log_currency_and_are_read_back(tmp_path, sample_log):
    """``segkit features`` and ``score`` on a euro log head money with € (``TotalSpend (€)``,
    as the page's downloads say ``Spend (€)``); ``score`` reads such a table back; a log
    naming no currency keeps the plain headings."""
    euros, plain = tmp_path / "euros.csv", tmp_path / "plain.csv"
    sample_log.assign(Currency="EUR").to_csv(euros, index=False)
    sample_log.to_csv(plain, index=False)
    features, scored, rescored = tmp_path / "features.csv", tmp_path / "scored.csv", tmp_path / "rescored.csv"
    assert cli.main(["features", "--data", str(euros), "--out", str(features)]) == 0
    header = _csv_header(features)
    assert "TotalSpend (€)" in header and "AvgOrderValue (€)" in header and "TotalSpend" not in header, header
    assert cli.main(["score", "--data", str(euros), "--out", str(scored)]) == 0
    assert "TotalSpend (€)" in _csv_header(scored) and "TotalSpend" not in _csv_header(scored)
    assert cli.main(["score", "--data", str(features), "--out", str(rescored)]) == 0  # the table read back
    first, second = pd.read_csv(scored, dtype={"CustomerID": str}), pd.read_csv(rescored, dtype={"CustomerID": str})
    assert "TotalSpend (€)" in second.columns
    assert first.set_index("CustomerID")["Segment"].equals(second.set_index("CustomerID")["Segment"])
    assert cli.main(["features", "--data", str(plain), "--out", str(features)]) == 0
    assert "TotalSpend" in _csv_header(features) and not any("(" in h for h in _csv_header(features))


@pytest.mark.slow
def test_the_pages_customer_csvs_carry_the_log_currency(tmp_path, sample_log):
    """On a euro log the page's table download and an upload's download say € (never £)."""
    import base64
    import io
    import re

    from segkit.dashboard import Dashboard
    from segkit.pipeline.artifacts import save_artifacts

    path, data, model = euro_log_and_model(tmp_path, sample_log)
    save_artifacts(model, tmp_path / "artifacts", data.training_info())
    dash = Dashboard(data, artifacts=tmp_path / "artifacts", query="")

    def downloaded(markup: str) -> list[str]:
        href = re.search(r'href="data:text/csv;charset=utf-8;base64,([^"]+)"', markup).group(1)
        return list(pd.read_csv(io.StringIO(base64.b64decode(href).decode("utf-8")), nrows=1).columns)

    table = downloaded(dash.table.download.value)
    assert "Spend (€)" in table and not any("£" in c for c in table), table
    dash.score.upload.receive("new_euros.csv", sample_log.assign(Currency="EUR").tail(3000).to_csv(index=False).encode())
    scored = downloaded(dash.score.upload_result.value)
    assert "Spend (€)" in scored and not any("£" in c for c in scored), scored
