"""Load a transaction log into the canonical UCI Online Retail layout.

Reads ``.xlsx`` (calamine engine, openpyxl as fallback), ``.csv`` (UTF-8, else
ISO-8859-1) and ``.parquet``. The UCI Online Retail and Online Retail II layouts are
recognised by their column names; any other log needs a column mapping from roles
(customer, invoice, date, quantity, price, amount, product, description, country) to
its own column names. After the first read of an Excel or CSV file a parquet copy is
kept in the cache folder, keyed by path, size and modification time, so the next load
is fast.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from .config import SUPPORTED_SUFFIXES, cache_dir
from .errors import SegkitDataError

__all__ = [
    "CANONICAL_COLUMNS",
    "ROLES",
    "KNOWN_LAYOUTS",
    "load_transactions",
    "parse_column_mapping",
    "standardise_columns",
]

CANONICAL_COLUMNS = [
    "InvoiceNo", "StockCode", "Description", "Quantity",
    "InvoiceDate", "UnitPrice", "CustomerID", "Country",
]

#: role -> canonical column it fills ("amount" is a line total turned into UnitPrice).
ROLES = {
    "customer": "CustomerID",
    "invoice": "InvoiceNo",
    "date": "InvoiceDate",
    "quantity": "Quantity",
    "price": "UnitPrice",
    "amount": "LineAmount",
    "product": "StockCode",
    "description": "Description",
    "country": "Country",
}
REQUIRED_ROLES = ("customer", "date")

KNOWN_LAYOUTS = {
    "UCI Online Retail": {
        "customer": "CustomerID", "invoice": "InvoiceNo", "date": "InvoiceDate",
        "quantity": "Quantity", "price": "UnitPrice", "product": "StockCode",
        "description": "Description", "country": "Country",
    },
    "UCI Online Retail II": {
        "customer": "Customer ID", "invoice": "Invoice", "date": "InvoiceDate",
        "quantity": "Quantity", "price": "Price", "product": "StockCode",
        "description": "Description", "country": "Country",
    },
}

# Bump when the canonical frame changes so old cache files are not reused.
_CACHE_VERSION = 2
_MAX_EXAMPLES = 1


def parse_column_mapping(text: str | None) -> dict[str, str]:
    """Parse ``"customer=Client,date=Day"`` into ``{"customer": "Client", "date": "Day"}``."""
    if not text:
        return {}
    mapping: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise SegkitDataError(
                f"--columns entry '{part.strip()}' is not ROLE=COLUMN; "
                f"use for example --columns customer=Client,date=Day (roles: {', '.join(ROLES)})."
            )
        role, column = (s.strip() for s in part.split("=", 1))
        if role.lower() not in ROLES:
            raise SegkitDataError(
                f"--columns names the unknown role '{role}'; known roles: {', '.join(ROLES)}."
            )
        mapping[role.lower()] = column
    return mapping


def load_transactions(
    path: str | Path,
    columns: Mapping[str, str] | None = None,
    sheet: str | int | None = None,
    use_cache: bool = True,
) -> pd.DataFrame:
    """Read a transaction log and return it in the canonical layout.

    Parameters
    ----------
    path : file to read (.xlsx, .xlsm, .xls, .csv or .parquet).
    columns : role -> column name for logs in another layout (see ``ROLES``).
    sheet : Excel sheet name or index; default the first sheet.
    use_cache : keep and reuse a parquet copy of Excel and CSV files.

    Returns
    -------
    DataFrame with ``CANONICAL_COLUMNS``: text ids (``InvoiceNo``, ``StockCode``,
    ``CustomerID``; missing customer as NA), ``InvoiceDate`` as timestamp,
    ``Quantity`` and ``UnitPrice`` as numbers. Raises ``SegkitDataError`` with one
    sentence for anything it cannot use.
    """
    path = Path(path)
    name = path.name
    if not path.exists():
        raise SegkitDataError(f"'{path}' does not exist; check the path or put your file in data/.")
    if path.is_dir():
        raise SegkitDataError(f"'{path}' is a folder, not a file; name the transaction file itself.")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise SegkitDataError(
            f"'{name}' has the unsupported type '{suffix or 'none'}'; "
            f"save it as one of {', '.join(SUPPORTED_SUFFIXES)}."
        )
    if path.stat().st_size == 0:
        raise SegkitDataError(f"'{name}' is empty (0 bytes); export the transactions again.")

    mapping = dict(columns or {})
    cache_file = None
    if use_cache and suffix != ".parquet":
        cache_file = _cache_path(path, mapping, sheet)
        if cache_file.exists():
            try:
                return pd.read_parquet(cache_file)
            except Exception:  # a damaged cache file is just read again
                cache_file.unlink(missing_ok=True)

    raw = _read_raw(path, sheet)
    frame = standardise_columns(raw, mapping, source=name)
    if cache_file is not None:
        _write_atomically(frame, cache_file)
    return frame


def standardise_columns(
    raw: pd.DataFrame, columns: Mapping[str, str] | None = None, source: str = "the data"
) -> pd.DataFrame:
    """Rename, convert and check a raw frame into the canonical layout."""
    if raw.shape[1] == 0 or (raw.shape[0] == 0 and raw.shape[1] <= 1):
        raise SegkitDataError(f"'{source}' has no columns; export it with a header row.")
    raw = raw.rename(columns=lambda c: str(c).strip())
    duplicated = raw.columns[raw.columns.duplicated()].unique().tolist()
    # pandas renames a repeated header 'Quantity' to 'Quantity.1' when reading CSV and Excel.
    names = set(raw.columns)
    duplicated += sorted({m.group(1) for c in raw.columns if (m := re.match(r"^(.+)\.\d+$", c)) and m.group(1) in names})
    if duplicated:
        raise SegkitDataError(
            f"'{source}' has the column name(s) {', '.join(duplicated)} more than once; "
            "rename them so each column header is unique."
        )
    mapping = _resolve_mapping(raw, dict(columns or {}), source)
    if raw.shape[0] == 0:
        raise SegkitDataError(f"'{source}' has a header but no rows; export the transactions again.")

    out = pd.DataFrame(index=raw.index)
    out["InvoiceNo"] = _as_text(raw[mapping["invoice"]]) if "invoice" in mapping else pd.NA
    out["StockCode"] = _as_text(raw[mapping["product"]]) if "product" in mapping else "UNKNOWN"
    out["Description"] = (
        raw[mapping["description"]].astype("string") if "description" in mapping else pd.NA
    )
    out["InvoiceDate"] = _as_dates(raw[mapping["date"]], mapping["date"], source)

    quantity = (
        _as_numbers(raw[mapping["quantity"]], mapping["quantity"], source)
        if "quantity" in mapping else pd.Series(1.0, index=raw.index)
    )
    if "price" in mapping:
        price = _as_numbers(raw[mapping["price"]], mapping["price"], source)
    else:
        amount = _as_numbers(raw[mapping["amount"]], mapping["amount"], source)
        price = (amount / quantity.where(quantity != 0)).fillna(0.0)
    out["Quantity"] = quantity
    out["UnitPrice"] = price
    out["CustomerID"] = _as_text(raw[mapping["customer"]])
    out["Country"] = raw[mapping["country"]].astype("string") if "country" in mapping else "Unknown"

    if "invoice" not in mapping:
        # Without an invoice number each distinct customer + timestamp is one purchase.
        stamp = out["InvoiceDate"].dt.strftime("%Y%m%d%H%M%S").astype("string")
        out["InvoiceNo"] = (out["CustomerID"].fillna("?") + "@" + stamp).astype("string")
    for col in ("InvoiceNo", "StockCode", "Description", "CustomerID", "Country"):
        out[col] = out[col].astype("string")
    if np.issubdtype(out["Quantity"].dtype, np.floating) and out["Quantity"].dropna().mod(1).eq(0).all():
        out["Quantity"] = out["Quantity"].astype("int64") if out["Quantity"].notna().all() else out["Quantity"]
    return out[CANONICAL_COLUMNS].reset_index(drop=True)


# --------------------------------------------------------------------------- helpers


def _resolve_mapping(raw: pd.DataFrame, mapping: dict[str, str], source: str) -> dict[str, str]:
    found = list(raw.columns)
    unknown_roles = [r for r in mapping if r not in ROLES]
    if unknown_roles:
        raise SegkitDataError(f"Unknown column role(s) {', '.join(unknown_roles)}; known roles: {', '.join(ROLES)}.")
    # Start from the known layout that matches best, then apply the user's mapping.
    best: dict[str, str] = {}
    for layout in KNOWN_LAYOUTS.values():
        present = {role: col for role, col in layout.items() if col in raw.columns}
        if len(present) > len(best):
            best = present
    resolved = {**best, **mapping}
    if "price" in mapping and "amount" not in mapping:
        resolved.pop("amount", None)
    if "amount" in mapping and "price" not in mapping:
        resolved.pop("price", None)

    missing_named = [f"{role}={col}" for role, col in resolved.items() if col not in raw.columns]
    if missing_named:
        raise SegkitDataError(
            f"'{source}' has no column {', '.join(missing_named)} named in the column mapping; "
            f"found: {_short_list(found)}. Fix the names in --columns."
        )
    missing_roles = [r for r in REQUIRED_ROLES if r not in resolved]
    if "price" not in resolved and "amount" not in resolved:
        missing_roles.append("price (or amount)")
    if missing_roles:
        expected = ", ".join(
            f"{r.split()[0]}=<column>" for r in missing_roles
        )
        raise SegkitDataError(
            f"'{source}' has no column for {', '.join(missing_roles)}; found: {_short_list(found)}. "
            f"Rename the columns to the UCI layout (InvoiceNo, StockCode, Description, Quantity, "
            f"InvoiceDate, UnitPrice, CustomerID, Country) or pass --columns {expected}."
        )
    return resolved


def _short_list(items: list, limit: int = 12) -> str:
    shown = ", ".join(str(i) for i in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _read_raw(path: Path, sheet: str | int | None) -> pd.DataFrame:
    suffix = path.suffix.lower()
    name = path.name
    if suffix == ".parquet":
        try:
            return pd.read_parquet(path)
        except MemoryError:  # also pyarrow's ArrowMemoryError
            raise SegkitDataError(
                f"'{name}' is too large to load into memory; use the out-of-core path "
                "(--engine duckdb, or segkit.outofcore.customer_features_out_of_core)."
            ) from None
        except Exception as exc:
            raise SegkitDataError(
                f"'{name}' is not a readable parquet file ({_reason(exc)}); write it again or export it as CSV."
            ) from None
    if suffix == ".csv":
        return _read_csv(path)
    return _read_excel(path, sheet)


def _read_csv(path: Path) -> pd.DataFrame:
    name = path.name
    with open(path, "rb") as fh:
        head = fh.read(65536)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        encodings = ("utf-16",)  # Excel's "Unicode text" export
    elif head.startswith(b"\xef\xbb\xbf"):
        encodings = ("utf-8-sig",)
    elif b"\x00" in head:
        raise SegkitDataError(f"'{name}' is not a text CSV file (it holds binary data); export it again as CSV.")
    else:
        encodings = ("utf-8", "iso-8859-1")  # ISO-8859-1 accepts any byte: the last resort
    first_line = head.decode(encodings[0], errors="replace").lstrip("\ufeff").splitlines()[0] if head.strip() else ""
    # Excel in many European locales writes ';' between fields.
    separator = max([",", ";", "\t", "|"], key=first_line.count) if first_line else ","
    for encoding in encodings:
        try:
            with warnings.catch_warnings():
                # Rows longer than the header would silently shift into the index or be cut.
                warnings.simplefilter("error", pd.errors.ParserWarning)
                return pd.read_csv(path, dtype=str, encoding=encoding, sep=separator, skipinitialspace=True,
                                   index_col=False)
        except UnicodeDecodeError:
            continue
        except pd.errors.ParserWarning:
            raise SegkitDataError(
                f"'{name}' has rows with more fields than its header; check the separator and quoting, "
                "or add the missing column names."
            ) from None
        except pd.errors.EmptyDataError:
            raise SegkitDataError(f"'{name}' has no header row and no data; export the transactions again.") from None
        except pd.errors.ParserError as exc:
            raise SegkitDataError(
                f"'{name}' is not a well-formed CSV file ({_reason(exc)}); check that every row has the same "
                "number of fields and quotes are closed."
            ) from None
    raise SegkitDataError(f"'{name}' is not UTF-8, UTF-16 or ISO-8859-1 text; save it as UTF-8 CSV.")


def _read_excel(path: Path, sheet: str | int | None) -> pd.DataFrame:
    name = path.name
    if not zipfile.is_zipfile(path) and path.suffix.lower() in (".xlsx", ".xlsm"):
        with open(path, "rb") as fh:
            head = fh.read(8)
        if head.startswith(b"\xd0\xcf\x11\xe0"):
            raise SegkitDataError(
                f"'{name}' is an encrypted (password-protected) or legacy Excel file; "
                "open it in Excel, remove the password and save it as .xlsx."
            )
        raise SegkitDataError(f"'{name}' is not an Excel workbook although it is named .xlsx; save it again as .xlsx or .csv.")
    sheet_name = 0 if sheet is None else sheet
    errors: list[Exception] = []
    for engine in ("calamine", "openpyxl"):  # calamine is ~10x faster; openpyxl as fallback
        try:
            return _read_with(engine, path, sheet_name)
        except SegkitDataError:
            raise
        except Exception as exc:  # damaged workbook or engine missing: try the next, then give up
            errors.append(exc)
    raise SegkitDataError(
        f"'{name}' could not be read as an Excel workbook ({_reason(errors[-1])}); "
        "it may be damaged: open and save it again in Excel, or export it as CSV."
    )


def _check_sheet(name: str, sheets: list[str], sheet_name: str | int) -> None:
    if isinstance(sheet_name, str) and sheet_name not in sheets:
        raise SegkitDataError(f"'{name}' has no sheet '{sheet_name}'; its sheets are: {', '.join(sheets)}. Pass one of those.")
    if isinstance(sheet_name, int) and not 0 <= sheet_name < len(sheets):
        raise SegkitDataError(f"'{name}' has no sheet number {sheet_name}; it has {len(sheets)} sheet(s): {', '.join(sheets)}.")


def _read_with(engine: str, path: Path, sheet_name: str | int) -> pd.DataFrame:
    with pd.ExcelFile(path, engine=engine) as book:
        _check_sheet(path.name, book.sheet_names, sheet_name)
        return pd.read_excel(book, sheet_name=sheet_name)


def _reason(exc: Exception | None) -> str:
    text = str(exc or "unknown error").strip().splitlines()
    text = text[0] if text else type(exc).__name__
    return text[:120]


def _as_text(series: pd.Series) -> pd.Series:
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
    text = series.astype("string").str.strip().str.replace(r"^(\d+)\.0+$", r"\1", regex=True)
    return text.mask(text.isin(["", "nan", "NaN", "None"]))


def _refuse_unparsed(parsed: pd.Series, text: pd.Series, source: str, column: str, kind: str, fix: str) -> None:
    """Raise when some non-empty cells could not be parsed: how many, one example, the fix."""
    bad = parsed.isna() & text.notna() & (text != "")
    if bad.any():
        raise SegkitDataError(
            f"'{source}' has {int(bad.sum()):,} value(s) in column '{column}' that are not {kind} "
            f"(for example '{text[bad].iloc[0]}'); {fix}."
        )


def _as_numbers(series: pd.Series, column: str, source: str) -> pd.Series:
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        numbers = series.astype("float64")
    else:
        text = series.astype("string").str.strip().str.replace(",", "", regex=False)
        numbers = pd.to_numeric(text, errors="coerce").astype("float64")
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
    return numbers


def _as_dates(series: pd.Series, column: str, source: str) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        dates = series
        if getattr(dates.dt, "tz", None) is not None:
            dates = dates.dt.tz_localize(None)
        return dates.astype("datetime64[ns]")
    if pd.api.types.is_numeric_dtype(series.dtype):
        raise SegkitDataError(
            f"'{source}' has numbers, not dates, in column '{column}' (for example {series.dropna().iloc[0] if series.notna().any() else 'blank'}); "
            "format that column as dates, e.g. 2011-12-09 12:50."
        )
    text = series.astype("string").str.strip()
    # utc=True accepts a mix of zoned ('...Z') and plain stamps; plain ones are not shifted.
    dates = pd.to_datetime(text, errors="coerce", format="mixed", dayfirst=False, utc=True).dt.tz_localize(None)
    _refuse_unparsed(dates, text, source, column, "dates", "use a format like 2011-12-09 12:50")
    if dates.isna().all():
        raise SegkitDataError(f"'{source}' has no dates in column '{column}'; fill that column.")
    return dates.astype("datetime64[ns]")


def _cache_path(path: Path, mapping: Mapping[str, str], sheet) -> Path:
    stat = path.stat()
    key = json.dumps(
        [str(path.resolve()), stat.st_size, stat.st_mtime_ns, sorted(mapping.items()), str(sheet), _CACHE_VERSION]
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:20]
    return cache_dir() / f"{path.stem}-{digest}.parquet"


def _write_atomically(frame: pd.DataFrame, target: Path) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
        os.close(fd)
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, target)
    except OSError:
        # A read-only cache folder only costs speed.
        Path(locals().get("tmp", target.with_suffix(".tmp"))).unlink(missing_ok=True)
