"""The currency of a log's money: one currency is shown with its symbol; several are refused,
unless exchange rates (``--fx FILE``) convert every amount to one base currency.

The rates travel inside the column mapping (under ``segkit.schema.FX_KEY``, as text: see
``with_fx``), as a layout preset does, so every reader and cache key sees them.
"""
from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Mapping

import pandas as pd

from segkit.config import CURRENCY_ENV, DEFAULT_CURRENCY, Settings, settings
from segkit.errors import SegkitDataError
from segkit.schema import FX_KEY, MISSING_MARKERS

__all__ = ["CURRENCY_COLUMN_NAMES", "CURRENCY_SYMBOLS", "currency_codes", "currency_symbol", "convert_to_base",
           "log_currency", "parse_fx", "read_fx_file", "with_fx", "heading_with_currency", "plain_heading", "heading_currency",
           "currency_column"]


#: Headers of a column holding each line's currency, recognised without ``--columns currency=``.
CURRENCY_COLUMN_NAMES = ("currency", "currency code", "currencycode", "presentment currency")


#: Currency codes and the symbol segkit writes before money figures.
CURRENCY_SYMBOLS = {"GBP": "£", "EUR": "€", "USD": "$", "JPY": "¥", "CHF": "CHF"}


def heading_with_currency(column: str, symbol: str) -> str:
    """The heading of a money column in a customer CSV: ``TotalSpend (€)``."""
    return f"{column} ({symbol})"


def plain_heading(name: str) -> str:
    """A customer CSV's heading without the currency ``heading_with_currency`` added:
    ``"TotalSpend (€)"`` -> ``"TotalSpend"`` (other names as they are)."""
    text = str(name).strip()
    return re.sub(r"\s+\([^()\s]{1,4}\)$", "", text) if re.fullmatch(r"\w+\s+\([^()\s]{1,4}\)", text) else text


def heading_currency(names) -> str | None:
    """The currency code a customer CSV's money headings name (``TotalSpend (€)`` ->
    ``"EUR"``); None when they name none, or several."""
    codes = {v: k for k, v in CURRENCY_SYMBOLS.items()}
    found = {m.group(1) for m in (re.fullmatch(r"\w+\s+\(([^()\s]{1,4})\)", str(n).strip()) for n in names) if m}
    found = {codes.get(s, s) for s in found if s in codes or re.fullmatch(r"[A-Z]{3}", s)}
    return found.pop() if len(found) == 1 else None


def currency_codes(codes: pd.Series) -> pd.Series:
    """A currency column as upper-case codes, blanks and ``#N/A`` missing."""
    text = codes.astype("string").str.strip().str.upper()
    return text.mask(text.isin([m.upper() for m in MISSING_MARKERS]) | (text == ""))


def currency_symbol(code: str | None, current: Settings | None = None) -> str:
    """The symbol put before money figures of a log in currency ``code``: ``SEGKIT_CURRENCY``
    when set, else the code's symbol (``CURRENCY_SYMBOLS``; an unknown code as itself), else
    (no currency in the log) the default £."""
    current = current or settings()
    explicit = current.currency if current.currency != DEFAULT_CURRENCY or _env_set() else None
    if explicit:
        return explicit
    if code:
        return CURRENCY_SYMBOLS.get(code, code)
    return current.currency


def _env_set() -> bool:
    return bool(os.environ.get(CURRENCY_ENV, "").strip())


def currency_column(names, roles: Mapping[str, str] | None = None) -> str | None:
    """The currency column of a log with the columns ``names``: the one the ``currency`` role
    maps, else one named as ``CURRENCY_COLUMN_NAMES`` (``Currency``, ``order_currency``, ...)."""
    if roles and roles.get("currency") in list(names):
        return roles["currency"]
    return next((str(c) for c in names if str(c).strip().lower() in CURRENCY_COLUMN_NAMES), None)


def log_currency(codes: pd.Series, column: str, source: str, fx: str | None = None,
                 engine: str | None = None) -> str | None:
    """The one currency of a log's currency column (``None`` when it is blank), the base
    currency when ``fx`` rates (``with_fx``) convert it, or a refusal in one sentence:
    several currencies without rates (they would be added up as one), a currency the rates
    lack, or a currency other than the one ``SEGKIT_CURRENCY`` sets. ``engine``: the engine
    (other than pandas, which alone converts) that read the codes (its distinct values)."""
    found = sorted(currency_codes(codes).dropna().unique())
    if fx:
        base, rates = parse_fx(fx)
        missing = [c for c in found if c not in rates and c != base]
        if missing:
            raise SegkitDataError(
                f"'{source}' has amounts in {', '.join(missing)} (column '{column}'), which the exchange rates "
                f"(--fx) do not list; add a line '{missing[0]},<rate to {base}>' to the rates file."
            )
        found = [base]
    if len(found) > 1:
        raise SegkitDataError(
            f"'{source}' holds amounts in {len(found)} currencies ({', '.join(found[:5])}) in column '{column}', "
            "which segkit would add up as one; export one currency per file, or pass --fx RATES.csv (lines "
            "'currency,rate_to_<base>') to convert them to one currency"
            + (f" (with --engine pandas, which converts; the {engine} engine does not)." if engine else ".")
        )
    if not found:
        return None
    code = found[0]
    if _env_set():
        shown, symbol = settings().currency, CURRENCY_SYMBOLS.get(code, code)
        if shown not in (symbol, code):
            raise SegkitDataError(
                f"'{source}' is in {code} (column '{column}') while {CURRENCY_ENV} shows money as '{shown}'; "
                f"set {CURRENCY_ENV}={symbol}, or unset it to show the log's own currency."
            )
    return code


def convert_to_base(price: pd.Series, codes: pd.Series, fx: str) -> tuple[pd.Series, dict[str, int]]:
    """``price`` in the base currency of ``fx`` (each line times its currency's rate), and
    how many lines each currency other than the base had (the lines converted)."""
    base, rates = parse_fx(fx)
    codes = currency_codes(codes)
    rate = codes.map(lambda c: 1.0 if c == base else rates.get(c, 1.0)).astype("float64").fillna(1.0)
    converted = codes[codes.notna() & (codes != base)].value_counts().sort_index()
    return price * rate.to_numpy(), {str(c): int(n) for c, n in converted.items()}


def read_fx_file(path: str | Path) -> tuple[str, dict[str, float]]:
    """Exchange rates from a CSV of ``currency,rate_to_<BASE>`` lines: the base currency and
    code -> rate (amount in the base = amount x rate). Refused in one sentence when the file
    or its header is wrong or a rate is not a positive number."""
    path = Path(path)
    name = path.name
    try:
        table = pd.read_csv(path, dtype=str, skipinitialspace=True)
    except FileNotFoundError:
        raise SegkitDataError(f"The exchange rates file '{path}' does not exist; check the --fx path.") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError):
        raise SegkitDataError(f"'{name}' is not a readable CSV of exchange rates; write it as lines "
                              "'currency,rate_to_GBP' with a header.") from None
    table.columns = [str(c).strip() for c in table.columns]
    rate_columns = [c for c in table.columns if c.lower().startswith("rate_to_") and len(c) > len("rate_to_")]
    if "currency" not in [c.lower() for c in table.columns] or len(rate_columns) != 1:
        raise SegkitDataError(
            f"'{name}' has the columns {', '.join(table.columns)}; an exchange rates file has two: 'currency' and "
            "'rate_to_<BASE>' (for example rate_to_GBP)."
        )
    base = rate_columns[0][len("rate_to_"):].strip().upper()
    codes = currency_codes(table[next(c for c in table.columns if c.lower() == "currency")])
    values = pd.to_numeric(table[rate_columns[0]].str.strip(), errors="coerce")
    bad = codes.isna() | values.isna() | ~(values > 0) | ~values.map(lambda v: math.isfinite(v) if pd.notna(v) else False)
    if bad.any():
        row = table.loc[bad].iloc[0]
        raise SegkitDataError(
            f"'{name}' has a line without a currency or a positive rate ('{', '.join(str(v) for v in row.tolist())}'); "
            "fix it so each line reads 'EUR,0.86'."
        )
    repeated = codes[codes.duplicated()].unique().tolist()
    if repeated:
        raise SegkitDataError(f"'{name}' gives {', '.join(repeated)} more than one rate; keep one line per currency.")
    return base, dict(zip(codes.tolist(), values.astype(float).tolist()))


def with_fx(columns: Mapping[str, str] | None, fx_file: str | Path | None) -> dict[str, str]:
    """A column mapping that also carries the exchange rates of ``fx_file`` (``read_fx_file``)
    under ``FX_KEY``, as text (``"GBP|EUR=0.86|USD=0.79"``): the rates, not the file's name,
    then key every cache."""
    mapping = dict(columns or {})
    if fx_file is None:
        return mapping
    base, rates = read_fx_file(fx_file)
    mapping[FX_KEY] = "|".join([base] + [f"{code}={rate!r}" for code, rate in sorted(rates.items())])
    return mapping


def parse_fx(text: str) -> tuple[str, dict[str, float]]:
    """The base currency and rates held in a mapping's ``FX_KEY`` text (``with_fx``)."""
    base, *pairs = str(text).split("|")
    return base, {code: float(rate) for code, rate in (pair.split("=", 1) for pair in pairs)}
