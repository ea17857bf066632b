"""segkit.views.wording: the titles, money, day and count figures a reader sees."""
from __future__ import annotations

import math

import pandas as pd

from segkit.views.wording import count, days, money, title, titles


def test_money_carries_the_currency_thousands_and_the_sign_before_it():
    assert money(1234.4) == "£1,234"
    assert money(-12.5, currency="€", decimals=2) == "-€12.50"
    assert money(None) == money(math.nan) == money(pd.NA) == "–"


def test_one_day_is_a_day_and_others_are_days():
    assert days(1) == "1 day"
    assert days(0) == "0 days" and days(2) == "2 days" and days(1.5, decimals=1) == "1.5 days"
    assert days(1234) == "1,234 days"
    assert days(float("nan")) == "–"


def test_counts_get_thousands_and_no_decimals():
    assert count(1911.0) == "1,911" and count(None) == "–"


def test_titles_say_the_unit_of_money_columns_only():
    assert title("TotalSpend", currency="$") == "Spend ($)"
    assert title("Recency") == "Days since last purchase"
    assert title("SomethingNew") == "SomethingNew"  # an unknown column keeps its name
    assert titles(["CustomerID", "CLV"], currency="€") == {"CustomerID": "Customer", "CLV": "Lifetime value, 12 months (€)"}
