"""segkit.ingest.values: what a cell means (ids, numbers with decimal marks and currency signs,
dates day or month first), each refused in one sentence when it cannot be read."""
from __future__ import annotations

import pandas as pd
import pytest

from segkit.errors import SegkitDataError
from segkit.ingest.values import as_dates, as_numbers, currency_signs, customer_ids, read_numbers, short_list


def test_customer_ids_lose_a_trailing_point_zero_and_an_email_its_case():
    ids = customer_ids(pd.Series([17850.0, 13047.0, None]))
    assert ids.tolist()[:2] == ["17850", "13047"] and pd.isna(ids.iloc[2])
    mixed = customer_ids(pd.Series(["Ann@Shop.com ", "ann@shop.com", "0017850"], dtype=object))
    assert mixed.tolist() == ["ann@shop.com", "ann@shop.com", "0017850"]  # leading zeros of a text id kept


def test_a_decimal_comma_column_is_read_as_a_decimal_comma_column():
    numbers, mark = read_numbers(pd.Series(["1.234,50", "2,55", "€ 3,50"]), "UnitPrice", "prices.csv")
    assert numbers.tolist() == [1234.5, 2.55, 3.5] and mark == ","
    numbers, mark = read_numbers(pd.Series(["1,234.50", "£2.55", "1 000"]), "UnitPrice", "prices.csv")
    assert numbers.tolist() == [1234.5, 2.55, 1000.0] and mark == "."


def test_currency_signs_become_codes():
    assert currency_signs(pd.Series(["£2.55", "€ 3,50", "4.00"])).tolist()[:2] == ["GBP", "EUR"]


def test_unreadable_numbers_and_mixed_currencies_are_refused_in_one_sentence():
    with pytest.raises(SegkitDataError, match=r"'prices.csv' has 1 value\(s\) in column 'Quantity' that are not numbers "
                                              r"\(for example 'twelve'\)"):
        as_numbers(pd.Series(["1", "twelve"]), "Quantity", "prices.csv")
    with pytest.raises(SegkitDataError, match="mixes currencies .*--fx"):
        as_numbers(pd.Series(["£2.55", "€3.50"]), "UnitPrice", "prices.csv")


def test_day_first_dates_are_read_day_first_for_the_whole_column():
    dates = as_dates(pd.Series(["05/01/2011 10:00", "25/12/2010 09:30"]), "InvoiceDate", "log.csv")
    assert dates.tolist() == [pd.Timestamp("2011-01-05 10:00"), pd.Timestamp("2010-12-25 09:30")]


def test_numbers_in_a_date_column_are_refused():
    with pytest.raises(SegkitDataError, match="has numbers, not dates, in column 'InvoiceDate'"):
        as_dates(pd.Series([40544.0]), "InvoiceDate", "log.csv")


def test_a_long_list_is_shortened_with_how_many_more():
    assert short_list(list(range(15)), limit=3) == "0, 1, 2 and 12 more"
    assert short_list(["a", "b"]) == "a, b"
