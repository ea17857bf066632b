"""CSV export that spreadsheets cannot execute."""
from __future__ import annotations

import pandas as pd

from segkit.ingest.currency import heading_with_currency
from segkit.views.wording import MONEY_COLUMNS

__all__ = ["FORMULA_PREFIXES", "neutralise_formulas", "to_safe_csv", "with_currency_headings"]

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
#: A cell that is only a number ("-12.5", "+3", "1e-3") is data, not a formula.
_PLAIN_NUMBER = r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$"


def _neutralise(text: pd.Series) -> pd.Series:
    risky = text.str.startswith(FORMULA_PREFIXES, na=False) & ~text.str.match(_PLAIN_NUMBER, na=False)
    return text.mask(risky, "'" + text)


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Prefix text cells and column names that start like a formula with ``'`` (OWASP
    CSV injection advice).

    Numbers, and text that is only a number (``-12.5``), are left alone: a negative number
    is data, not a formula. Categorical and index-like text columns are checked too.
    """
    out = frame.copy()
    out.columns = list(_neutralise(pd.Series([str(c) for c in out.columns], dtype="string")))
    for col in out.columns:
        dtype = out[col].dtype
        if pd.api.types.is_string_dtype(dtype) or dtype == object or isinstance(dtype, pd.CategoricalDtype):
            text = out[col].astype("string")
            safe = _neutralise(text)
            if not safe.equals(text):
                out[col] = safe
    return out


def to_safe_csv(frame: pd.DataFrame) -> str:
    """``frame`` as CSV text (no index), with formula-like text cells neutralised."""
    return neutralise_formulas(frame).to_csv(index=False, date_format="%Y-%m-%d %H:%M:%S")


def with_currency_headings(frame: pd.DataFrame, symbol: str | None) -> pd.DataFrame:
    """A customer table for a CSV with its money columns headed with the log's currency
    (``TotalSpend (€)``, as the page's downloads say ``Spend (€)``); ``symbol`` None (the
    log names no currency) leaves the headings as they are. ``segkit score`` reads such a
    table back (``currency.plain_heading``)."""
    if not symbol:
        return frame
    return frame.rename(columns={c: heading_with_currency(c, symbol) for c in frame.columns if c in MONEY_COLUMNS})
