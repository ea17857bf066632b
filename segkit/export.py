"""CSV export that spreadsheets cannot execute."""
from __future__ import annotations

import pandas as pd

__all__ = ["FORMULA_PREFIXES", "neutralise_formulas", "to_safe_csv"]

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Prefix text cells that start like a formula with ``'`` (OWASP CSV injection advice).

    Numbers are left alone (a negative number is data, not a formula).
    """
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_string_dtype(out[col].dtype) or out[col].dtype == object:
            text = out[col].astype("string")
            risky = text.str.startswith(FORMULA_PREFIXES, na=False)
            if risky.any():
                out[col] = text.mask(risky, "'" + text)
    return out


def to_safe_csv(frame: pd.DataFrame) -> str:
    """``frame`` as CSV text (no index), with formula-like text cells neutralised."""
    return neutralise_formulas(frame).to_csv(index=False, date_format="%Y-%m-%d %H:%M:%S")
