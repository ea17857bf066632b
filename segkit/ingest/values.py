"""What a cell means: text ids, customer ids, numbers (decimal marks, currency signs) and
dates (day or month first, decided per column), each refused in one sentence when it cannot
be read. Used by ``segkit.ingest.load.standardise_columns``."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from segkit.errors import SegkitDataError
from segkit.ingest.currency import CURRENCY_COLUMN_NAMES, CURRENCY_SYMBOLS, log_currency
from segkit.schema import (
    MISSING_ID_TEXTS,
    MISSING_MARKERS,
    WHOLE_NUMBER_ID,
    to_utc_naive,
)

__all__ = ["DAY_MONTH_DATE", "as_dates", "as_numbers", "as_text", "cells_as_shown", "check_one_currency", "currency_signs", "customer_ids", "decimal_marks", "read_numbers", "reason_of", "short_list"]


def short_list(items: list, limit: int = 12) -> str:
    shown = ", ".join(str(i) for i in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def cells_as_shown(frame: pd.DataFrame) -> pd.DataFrame:
    """A sheet read cell by cell (``dtype=object``: a text cell stays the text it shows, so
    an id ``0017850`` keeps its zeros as it does in a CSV file), then each column typed
    from its cells (numbers, dates, text) as pandas would."""
    return frame.infer_objects()


def reason_of(exc: Exception | None) -> str:
    text = str(exc or "unknown error").strip().splitlines()
    text = text[0] if text else type(exc).__name__
    return text[:120]


def as_text(series: pd.Series) -> pd.Series:
    """Ids as text: 17850.0 -> '17850', blanks -> NA."""
    if pd.api.types.is_numeric_dtype(series.dtype):
        values = pd.to_numeric(series, errors="coerce")
        finite = values.dropna()
        if len(finite) and (finite.mod(1) == 0).all() and finite.abs().max() < 2**53:
            return values.astype("Int64").astype("string")
        return values.astype("string")
    if series.dtype == object:
        # Mixed cells from Excel: whole floats should not get a trailing '.0'.
        series = series.map(
            lambda v: str(int(v)) if isinstance(v, float) and v.is_integer() else v
        )
    text = series.astype("string").str.strip().str.replace(WHOLE_NUMBER_ID, r"\1", regex=True)
    return text.mask(text.isin(MISSING_ID_TEXTS))


def customer_ids(series: pd.Series) -> pd.Series:
    """Customer ids as text (``as_text``); an email address is one customer whatever its
    case: ``Ann@Shop.com `` and ``ann@shop.com`` are the same id (trimmed, lower case)."""
    ids = as_text(series)
    email = ids.str.contains("@", regex=False, na=False)
    return ids.where(~email, ids.str.lower()) if email.any() else ids


def _refuse_unparsed(parsed: pd.Series, text: pd.Series, source: str, column: str, kind: str, fix: str) -> None:
    """Raise when some non-empty cells could not be parsed: how many, one example, the fix."""
    bad = parsed.isna() & text.notna() & (text != "")
    if bad.any():
        raise SegkitDataError(
            f"'{source}' has {int(bad.sum()):,} value(s) in column '{column}' that are not {kind} "
            f"(for example '{text[bad].iloc[0]}'); {fix}."
        )


_CURRENCY = r"(?:£|€|\$|¥|GBP|EUR|USD|CHF)"


def check_one_currency(codes: pd.Series, column: str, source: str, fx: str | None = None) -> str | None:
    """The one currency of a log's currency column, or a refusal (``segkit.ingest.currency.log_currency``)."""
    return log_currency(codes, column, source, fx)


_SPACES = "[ \u00a0\u202f']"  # group separators: space, no-break spaces, Swiss apostrophe


def as_numbers(series: pd.Series, column: str, source: str, locale_hint: str | None = None) -> pd.Series:
    """Numbers from a column; see ``read_numbers``."""
    return read_numbers(series, column, source, locale_hint)[0]


def currency_signs(series: pd.Series) -> pd.Series:
    """Each cell's currency sign as a code (``£2.55`` -> GBP, ``€ 3,50`` -> EUR); missing
    where the cell shows none."""
    if pd.api.types.is_numeric_dtype(series.dtype):
        return pd.Series(pd.NA, index=series.index, dtype="string")
    signs = series.astype("string").str.extract(f"({_CURRENCY})", expand=False)
    return signs.map(lambda s: _CODE_OF_SIGN.get(s, s), na_action="ignore").astype("string")


_CODE_OF_SIGN = {symbol: code for code, symbol in CURRENCY_SYMBOLS.items() if symbol != code}


def read_numbers(
    series: pd.Series, column: str, source: str, locale_hint: str | None = None, mixed_currencies: bool = False
) -> tuple[pd.Series, str | None]:
    """A column as float64 and the decimal mark it uses (``"."``, ``","`` or ``None``).

    Text cells may carry one currency sign (``£2.55``, ``€ 3,50``; one currency per
    column), group separators and a decimal point or comma, decided per column by
    ``_number_locale``; blanks and ``#N/A`` are missing.
    """
    locale = None
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        numbers = series.astype("float64")
    else:
        text = series.astype("string").str.strip()
        text = text.mask(text.isin(MISSING_MARKERS))
        currencies = text.str.extract(f"({_CURRENCY})", expand=False).dropna().unique()
        if len(currencies) > 1 and not mixed_currencies:
            raise SegkitDataError(
                f"'{source}' mixes currencies ({', '.join(sorted(currencies))}) in column '{column}'; "
                "pass --fx RATES.csv (lines 'currency,rate_to_<base>') to convert them, or convert them first."
            )
        plain = text.str.replace(f"^(-?){_SPACES}*{_CURRENCY}{_SPACES}*|{_SPACES}*{_CURRENCY}$", r"\1", regex=True)
        plain = plain.str.replace(f"(?<=\\d){_SPACES}(?=\\d{{3}})", "", regex=True)
        locale = _number_locale(plain, column, source, locale_hint)
        if locale == ",":
            plain = plain.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
        else:
            plain = plain.str.replace(",", "", regex=False)
        numbers = pd.to_numeric(plain, errors="coerce").astype("float64")
        _refuse_unparsed(numbers, text, source, column, "numbers", "fix or remove those rows")
    if np.isinf(numbers).any():
        raise SegkitDataError(
            f"'{source}' has an infinite or too large number in column '{column}'; fix that cell."
        )
    too_large = numbers.abs() > 1e12
    if too_large.any():
        raise SegkitDataError(
            f"'{source}' has {int(too_large.sum()):,} implausibly large value(s) in column '{column}' "
            f"(for example {numbers[too_large].iloc[0]:g}); fix those cells."
        )
    return numbers, locale


def _number_locale(text: pd.Series, column: str, source: str, hint: str | None = None) -> str | None:
    """The decimal mark of a text number column: ``"."``, ``","`` or ``None`` (no marks).

    ``1.250,00``, ``1,25`` and ``1.250.000`` show a decimal comma; ``1,250.00``, ``2.55``
    and ``1,250,000`` a decimal point. A column with both kinds is refused; a column whose
    only marks are single groups of three (``1,250`` or ``1.250``) follows ``hint`` (the
    mark of the file's price column), else it is refused as ambiguous.
    """
    marked, comma, point = decimal_marks(text)
    if marked.empty:
        return hint
    if comma.any() and point.any():
        raise SegkitDataError(
            f"'{source}' mixes decimal commas and decimal points in column '{column}' (for example "
            f"'{marked[comma].iloc[0]}' and '{marked[point].iloc[0]}'); write every number the same way."
        )
    if comma.any():
        return ","
    if point.any():
        return "."
    if hint is not None:
        return hint
    raise SegkitDataError(
        f"'{source}' has numbers like '{marked.iloc[0]}' in column '{column}' that read differently in UK "
        "and European formats; write them without thousands separators (e.g. 1250) or with a decimal part."
    )


def decimal_marks(text: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """``(marked, comma, point)``: the cells of ``text`` with a ``.`` or ``,``, and which of
    them show a decimal comma or a decimal point (see ``_number_locale``)."""
    marked = text[text.str.contains(r"[.,]", regex=True, na=False)]
    comma = (marked.str.contains(r"\.\d*,", regex=True) | marked.str.contains(r",(?!\d{3}(?:\D|$))", regex=True)
             | marked.str.contains(r"\.\d{3}\.", regex=True))
    point = (marked.str.contains(r",\d*\.", regex=True) | marked.str.contains(r"\.(?!\d{3}(?:\D|$))", regex=True)
             | marked.str.contains(r",\d{3},", regex=True))
    return marked, comma, point


#: Numeric dates whose first two fields may be day and month, with any of the time formats
#: exports write: 5/1/2011, 05.01.11 08:26, 05/01/2011 8:26 AM, 05/01/2011, 08:26:00,
#: 05/01/2011 08:26:00.123, 05/01/2011 0826 (groups: day or month, separator, month or
#: day, year, hour, minute, second, fraction, HHMM hour, HHMM minute, AM/PM).
DAY_MONTH_DATE = re.compile(
    r"^(\d{1,2})([/.\-])(\d{1,2})\2(\d{2}|\d{4})"
    r"(?:(?:\s*,\s*|\s+|T)"
    r"(?:(\d{1,2})[:.](\d{2})(?:[:.](\d{2})(?:[.,](\d{1,9}))?)?|(\d{2})(\d{2}))"
    r"(?:\s*([AaPp])\.?[Mm]\.?)?)?$"
)


#: The start of a numeric day/month date, whatever follows (to refuse times ``DAY_MONTH_DATE`` does not read).
_DMY_START = r"^\d{1,2}([/.\-])\d{1,2}\1\d{2,4}(?:\D|$)"


def as_dates(series: pd.Series, column: str, source: str, dayfirst: bool | None = None) -> pd.Series:
    """Timestamps (naive, UTC for zoned input) from a date column.

    Text dates like ``05/01/2011`` are read in one order for the whole column, decided
    from all its values whatever their time format (``DAY_MONTH_DATE``, ``_date_order``), and
    ``dayfirst`` holds for all of them; other text (ISO 8601, ``01 Dec 2010``) is parsed as
    written. A numeric day/month date with a time written some other way is refused, never
    guessed cell by cell.
    """
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        dates = series
        return to_utc_naive(dates).astype("datetime64[ns]")
    if pd.api.types.is_numeric_dtype(series.dtype):
        raise SegkitDataError(
            f"'{source}' has numbers, not dates, in column '{column}' (for example {series.dropna().iloc[0] if series.notna().any() else 'blank'}); "
            "format that column as dates, e.g. 2011-12-09 12:50."
        )
    return _as_text_dates(series, column, source, dayfirst)


def _as_text_dates(series: pd.Series, column: str, source: str, dayfirst: bool | None) -> pd.Series:
    text = series.astype("string").str.strip()
    text = text.mask(text.isin(MISSING_MARKERS))
    dates = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    parts = text.str.extract(DAY_MONTH_DATE)
    numeric = parts[0].notna()
    if numeric.any():
        parts = parts[numeric]
        first, second = parts[0].astype(int), parts[2].astype(int)
        order = _date_order(first, second, text[numeric], column, source, dayfirst)
        day, month = (first, second) if order else (second, first)
        year = parts[3].astype(int)
        year = year.where(year >= 100, year + 2000)

        def number(i: int) -> pd.Series:
            return pd.to_numeric(parts[i], errors="coerce")

        hour = number(4).fillna(number(8)).fillna(0)
        minute = number(5).fillna(number(9)).fillna(0)
        meridiem = parts[10].str.upper().fillna("")
        bad_clock = meridiem.ne("") & ((hour > 12) | (hour == 0))
        hour = hour.where(~(meridiem.eq("A") & hour.eq(12)), 0)
        hour = hour.where(~(meridiem.eq("P") & hour.lt(12)), hour + 12)
        fraction = pd.to_numeric(parts[7].fillna("0").str.ljust(9, "0"), errors="coerce").fillna(0)
        components = {"year": year, "month": month, "day": day, "hour": hour, "minute": minute,
                      "second": number(6).fillna(0), "nanosecond": fraction}
        stamp = pd.to_datetime(pd.DataFrame(components), errors="coerce").astype("datetime64[ns]")
        dates[numeric] = stamp.mask(bad_clock | (hour > 23) | (minute > 59))
        _refuse_unparsed(dates[numeric], text[numeric], source, column, "dates", "fix those cells")
    rest = ~numeric & text.notna()
    if rest.any():
        unread = text[rest].str.match(_DMY_START)
        if unread.any():
            example = text[rest][unread].iloc[0]
            raise SegkitDataError(
                f"'{source}' has {int(unread.sum()):,} date(s) in column '{column}' like '{example}' whose time "
                "segkit does not read, so their day and month cannot be told apart safely; export them like "
                "05/01/2011 08:26 or 2011-01-05 08:26."
            )
        # utc=True accepts a mix of zoned ('...Z') and plain stamps; plain ones are not shifted.
        parsed = pd.to_datetime(text[rest], errors="coerce", format="mixed", dayfirst=False, utc=True)
        dates[rest] = parsed.dt.tz_localize(None).astype("datetime64[ns]")
    _refuse_unparsed(dates, text, source, column, "dates", "use a format like 2011-12-09 12:50")
    if dates.isna().all():
        raise SegkitDataError(f"'{source}' has no dates in column '{column}'; fill that column.")
    return dates


def _date_order(first: pd.Series, second: pd.Series, text: pd.Series, column: str, source: str,
                dayfirst: bool | None) -> bool:
    """True for day-first. A first field above 12 anywhere means day-first, a second field
    above 12 month-first; both in one column, or neither without ``dayfirst``, is refused."""
    day_first, month_first = first > 12, second > 12
    if day_first.any() and month_first.any():
        raise SegkitDataError(
            f"'{source}' mixes day-first and month-first dates in column '{column}' (for example "
            f"'{text[day_first].iloc[0]}' and '{text[month_first].iloc[0]}'); export the dates in one format."
        )
    if dayfirst is None:
        if day_first.any() or month_first.any():
            return bool(day_first.any())
        raise SegkitDataError(
            f"'{source}' has dates like '{text.iloc[0]}' in column '{column}' that read as day-first or "
            "month-first; pass --dayfirst (dd/mm/yyyy) or --monthfirst (mm/dd/yyyy)."
        )
    against = month_first if dayfirst else day_first
    if against.any():
        order, other = ("day-first", "--monthfirst") if dayfirst else ("month-first", "--dayfirst")
        raise SegkitDataError(
            f"'{source}' has dates like '{text[against].iloc[0]}' in column '{column}' that cannot be {order}; "
            f"pass {other} or leave the order out to let segkit decide."
        )
    return bool(dayfirst)


