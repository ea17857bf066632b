"""Plain words for what the page, the charts and the downloads show.

Column names in the code stay the ones of the data (``TotalSpend``, ``Recency``); a
person reads titles ("Spend (£)", "Days since last purchase"). Money figures carry the
currency (``config.settings().currency``, default "£"), day counts say "days".
"""
from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["COLUMN_TITLES", "MONEY_COLUMNS", "DAY_COLUMNS", "title", "titles", "money", "days", "count"]

#: Column -> what a reader sees (money and days get their unit from ``title``).
COLUMN_TITLES = {
    "CustomerID": "Customer",
    "Segment": "Segment",
    "Stage": "Stage",
    "ValueTier": "Value tier",
    "Country": "Country",
    "NumPurchases": "Purchases",
    "TotalQuantity": "Items bought",
    "TotalSpend": "Spend",
    "AvgOrderValue": "Average order value",
    "Recency": "Days since last purchase",
    "Tenure": "Days from first to last purchase",
    "DistinctProducts": "Different products",
    "FirstPurchase": "First purchase",
    "LastPurchase": "Last purchase",
    "Recommendation": "Recommendation",
    "PurchasesInWindow": "Purchases in window",
    "SpendInWindow": "Spend in window",
    "DaysToStageChange": "Days until the stage changes",
    "KeptInRefits": "Label kept in this share of refits",
    "Confidence": "Confidence in the label (0-1): share of refits keeping it where stored, lowered within 30 days of a stage change",
    "PAlive": "Chance still active (0-1)",
    "ExpectedPurchases90d": "Expected purchase days, next 90 days",
    "CLV": "Lifetime value, 12 months",
    "CLVLow": "Lifetime value, low",
    "CLVHigh": "Lifetime value, high",
}
MONEY_COLUMNS = frozenset({"TotalSpend", "AvgOrderValue", "SpendInWindow", "CLV", "CLVLow", "CLVHigh"})
#: Day counts whose title already says "days".
DAY_COLUMNS = frozenset({"Recency", "Tenure"})


def title(column: str, currency: str = "£") -> str:
    """The title of ``column`` for readers, e.g. ``"Spend (£)"``."""
    text = COLUMN_TITLES.get(column, column)
    if column in MONEY_COLUMNS:
        text = f"{text} ({currency})"
    return text


def titles(columns, currency: str = "£") -> dict[str, str]:
    """``{column: title(column)}`` for ``DataFrame.rename``."""
    return {c: title(c, currency) for c in columns}


def _missing(value: Any) -> bool:
    """None, NaN and pandas' missing values (``pd.NA`` of a nullable column, ``NaT``)."""
    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


def money(value: Any, currency: str = "£", decimals: int = 0) -> str:
    """``£1,234`` (negative: ``-£12``); ``–`` when missing."""
    if _missing(value):
        return "–"
    value = float(value)
    sign = "-" if value < 0 else ""
    return f"{sign}{currency}{abs(value):,.{decimals}f}"


def days(value: Any, decimals: int = 0) -> str:
    """``12 days`` (``1 day``); ``–`` when missing."""
    if _missing(value):
        return "–"
    text = f"{float(value):,.{decimals}f}"
    return f"{text} day" if text == "1" else f"{text} days"


def count(value: Any, decimals: int = 0) -> str:
    """``1,911`` (counts never get decimals unless asked); ``–`` when missing."""
    if _missing(value):
        return "–"
    return f"{float(value):,.{decimals}f}"
