"""One conformance suite over every engine: the same logs, the independent oracle's tables.

The ``engine`` fixture (tests/conftest.py) gives each way segkit runs the rules of
``segkit.rules.lines``: the loader then DuckDB in process (``pandas``, what the page runs),
DuckDB in memory, DuckDB out of core on a parquet file, ibis on a DuckDB database file by
URL, ibis on a real PostgreSQL (``SEGKIT_POSTGRES``; skips with a reason on a laptop, fails
in CI) and Spark (``local[2]``; slow). Every case below runs on every engine and is checked
against ``tests/oracle.py`` (segkit's old pandas code, never imported by segkit): customer
tables exactly (ids, counts, money to the cent, dates), cleaning reports to the cent. An
engine that reads, cleans or aggregates differently fails here by name, as ibis' backend
suite does.
"""
from __future__ import annotations

import pandas as pd
import pytest
from oracle import clean_transactions as oracle_clean
from oracle import customers_of, windowed_customers_of

from segkit.ingest.load import load_transactions, standardise_columns


def assert_same_customers(got: pd.DataFrame, expected: pd.DataFrame, engine) -> None:
    pd.testing.assert_frame_equal(got.sort_index(), expected.sort_index(), check_exact=True,
                                  obj=f"{engine}'s customer table")


def assert_same_report(got: pd.DataFrame, expected: pd.DataFrame, engine) -> None:
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected.reset_index(drop=True), check_exact=False,
                                  atol=0.011, rtol=0, check_dtype=False, obj=f"{engine}'s cleaning report")


@pytest.mark.parametrize("rules", ["default", "seed"])
def test_the_sample_gives_the_oracle_tables(engine, sample_log, rules, tmp_path):
    customers, report = engine.run(sample_log, tmp_path, rules)
    lines = standardise_columns(sample_log, source="sample")
    assert_same_customers(customers, customers_of(lines, rules), engine)
    assert_same_report(report, oracle_clean(lines, rules)[1], engine)


@pytest.mark.parametrize("rules", ["default", "seed"])
def test_messy_ids_and_lines_give_the_oracle_tables(engine, messy_lines, rules, tmp_path):
    """Blanks, '.0' tails, no-break, thin and ideographic spaces, U+0085, ASCII controls,
    "nan" / "None" / "NULL" / "#N/A" markers, netting ties and duplicates."""
    customers, report = engine.run(messy_lines, tmp_path, rules)
    lines = standardise_columns(messy_lines)
    assert_same_customers(customers, customers_of(lines, rules), engine)
    assert_same_report(report, oracle_clean(lines, rules)[1], engine)
    assert list(customers.sort_index().index) == ["12000", "12001", "12002", "17850"]
    if rules == "default":
        # 12001: B3 bought twice and cancelled in full; B4 on invoices 1016 and 1017 (the one with wrapped ids)
        assert customers.loc["12001", "NumPurchases"] == 2
        assert customers.loc["17850", "TotalQuantity"] == 5 + 2 + 3  # 6 netted from 1003 (4) then 1002 (2)


@pytest.mark.parametrize("rules", ["default", "seed"])
def test_a_generated_log_with_cancellations_gives_the_oracle_tables(engine, cancellations_log, rules, tmp_path):
    """~2% partly cancelled orders, a giant order cancelled the same day, guest orders,
    postage and duplicates; the raw file as pandas writes it (float ids, nanosecond stamps)."""
    customers, report = engine.run(pd.read_parquet(cancellations_log), tmp_path, rules)
    transactions = load_transactions(cancellations_log)
    assert_same_customers(customers, customers_of(transactions, rules), engine)
    assert_same_report(report, oracle_clean(transactions, rules)[1], engine)


def test_an_observation_window_gives_the_oracle_table(engine, cancellations_log, tmp_path):
    customers, _ = engine.run(pd.read_parquet(cancellations_log), tmp_path, window_days=90)
    expected = windowed_customers_of(load_transactions(cancellations_log), 90)
    assert (expected["NumPurchases"] == 0).any()  # customers silent in the window: they count 0
    assert_same_customers(customers, expected, engine)


@pytest.mark.slow
@pytest.mark.parametrize("zone", ["Asia/Tokyo", "America/New_York"])
def test_zoned_timestamps_are_utc_wall_time(engine, sample_log, zone, tmp_path):
    """The rule (docs/data-science.md, 'Time zones'): zoned stamps become UTC wall time, on every engine."""
    zoned = sample_log.assign(InvoiceDate=sample_log["InvoiceDate"].dt.tz_localize(zone))
    customers, _ = engine.run(zoned, tmp_path)
    utc = standardise_columns(zoned.assign(InvoiceDate=zoned["InvoiceDate"].dt.tz_convert("UTC").dt.tz_localize(None)))
    expected = customers_of(utc)
    assert_same_customers(customers, expected, engine)
    # A shift of 9 or 5 hours moves some purchases to another day: the check has teeth.
    naive = customers_of(standardise_columns(sample_log))
    assert (naive["LastPurchase"] != expected["LastPurchase"].reindex(naive.index)).any()


def _mapped_layouts() -> dict[str, tuple[pd.DataFrame, dict[str, str]]]:
    """Logs without invoice numbers, mapped by ``columns``: one line is one purchase per
    customer and day (a duplicate line dropped), ids as text or as floats, dates as text
    or zoned."""
    text = pd.DataFrame({
        "Client": ["a", "a", "b", "b", "b", "c"],
        "Day": ["2011-01-01 10:00", "2011-01-01 10:00", "2011-02-01 09:00", "2011-03-01 09:00",
                "2011-03-01 09:00", "2011-03-05 12:00"],
        "LineTotal": [10.0, 5.0, 7.5, 2.25, 2.25, 3.0],
        "Shop": ["UK", "UK", "France", "France", "UK", "UK"],
    })
    zoned = pd.DataFrame({
        "Client": [1.0, 1.0, 2.0, 2.0, 3.0],
        "Day": pd.to_datetime(["2011-01-01 10:00", "2011-01-01 10:00", "2011-02-01 09:00", "2011-03-01 09:00",
                               "2011-03-05 12:00"]).tz_localize("Europe/London"),
        "LineTotal": [10.0, 5.0, 7.5, 2.25, 3.0],
    })
    return {"text": (text, {"customer": "Client", "date": "Day", "amount": "LineTotal", "country": "Shop"}),
            "zoned": (zoned, {"customer": "Client", "date": "Day", "amount": "LineTotal"})}


def _sample_without_invoices(sample_log: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    frame = sample_log.head(20_000).rename(columns={"CustomerID": "client", "InvoiceDate": "paid_at",
                                                     "UnitPrice": "price", "Quantity": "units"})
    return frame.drop(columns=["InvoiceNo"]), {"customer": "client", "date": "paid_at", "price": "price",
                                               "quantity": "units"}


@pytest.mark.parametrize("layout", ["text", "zoned", "sample"])
def test_a_mapped_layout_without_invoices_gives_the_oracle_table(engine, sample_log, layout, tmp_path):
    frame, columns = _sample_without_invoices(sample_log) if layout == "sample" else _mapped_layouts()[layout]
    if layout == "text" and not engine.reads_text_dates:  # a stored table holds timestamps
        frame = frame.assign(Day=pd.to_datetime(frame["Day"]))
    customers, _ = engine.run(frame, tmp_path, columns=columns)
    assert_same_customers(customers, customers_of(standardise_columns(frame, columns)), engine)
    if layout == "text":
        assert customers.loc["a", "NumPurchases"] == 1 and customers.loc["b", "NumPurchases"] == 2


@pytest.mark.real_data
@pytest.mark.slow
@pytest.mark.parametrize("rules", ["default", "seed"])
def test_the_real_data_gives_the_oracle_table(engine, real_parquet, rules, tmp_path):
    customers, _ = engine.run(pd.read_parquet(real_parquet), tmp_path, rules)
    assert_same_customers(customers, customers_of(load_transactions(real_parquet), rules), engine)
    if rules == "seed":
        assert (len(customers), customers["NumPurchases"].sum(), customers["TotalQuantity"].sum()) == (4339, 18536,
                                                                                                       5181696)
        assert round(customers["TotalSpend"].sum(), 2) == 8911407.90
    else:
        assert len(customers) == 4324
        for customer in ("16446", "12346"):  # the cancellation trap is netted
            assert customer not in customers.index or customers.loc[customer, "TotalSpend"] < 1_000


def test_a_currency_column_is_checked_on_every_engine(engine, sample_log, tmp_path):
    """One currency: read as without the column, its code kept with the report (the page
    shows its symbol); two: refused on every engine with the pandas loader's sentence,
    pointing to --fx (orders in EUR were added up as pounds)."""
    from segkit.errors import SegkitDataError
    from segkit.ingest.load import LOG_CURRENCY

    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    euros = sample_log.assign(Currency="EUR")
    customers, report = engine.run(euros, tmp_path / "one")
    assert report.attrs.get(LOG_CURRENCY) == "EUR", engine
    assert_same_customers(customers, customers_of(standardise_columns(sample_log, source="sample")), engine)
    mixed = euros.copy()
    mixed.loc[mixed.index[::7], "Currency"] = "GBP"
    with pytest.raises(SegkitDataError, match=r"holds amounts in 2 currencies \(EUR, GBP\) in column 'Currency', "
                                              r"which segkit would add up as one; .*pass --fx RATES\.csv") as caught:
        engine.run(mixed, tmp_path / "two")
    assert "\n" not in str(caught.value)
