"""Load a transaction log into the canonical UCI Online Retail layout.

Reads ``.xlsx`` (calamine engine, openpyxl as fallback; every sheet as one log when the
sheets share their columns, cells read as they show so text ids keep leading zeros),
``.csv`` (UTF-8, else Windows-1252, else ISO-8859-1; also ``.csv.gz``, ``.csv.zst`` and a
``.zip`` of one CSV; a title above the header is skipped) and ``.parquet``. The UCI Online Retail and Online Retail II layouts are
recognised by their column names; any other log needs a column mapping from roles
(customer, invoice, date, quantity, price, amount, product, description, country) to
its own column names. After the first read of an Excel or CSV file a parquet copy is
kept in the cache folder, keyed by the SHA-256 of the file's bytes (plus the column
mapping, sheet and date order), so the next load is fast and an edited file is never
served stale.

Input checks (issues 12, 27): dates written ``dd/mm/yyyy`` or ``mm/dd/yyyy``, with any time
format (``08:26 AM``, ``, 08:26:00``, milliseconds, ``0826``), are read in one order per
column, decided from the values (``_date_order``) or given by ``dayfirst``; numbers with decimal commas,
thousands separators or a currency sign are read per column (``_number_locale``);
ambiguous columns are refused with a sentence naming the fix. Workbooks whose sheets
expand past ``MAX_XLSX_EXPANDED_BYTES`` and CSV files with more than ``MAX_CSV_COLUMNS``
header fields are refused before pandas reads them; CSV reading stops past
``MAX_CSV_LINES`` lines or ``MAX_CSV_CELLS`` cells and refuses the file. Time-zone
aware timestamps are converted to UTC and the zone dropped (the same rule as
``segkit.engines.outofcore``).
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

from segkit.config import (
    COMPRESSED_CSV_SUFFIXES,
    CURRENCY_ENV,
    IGNORED_SUFFIXES,
    SUPPORTED_SUFFIXES,
    cache_dir,
    currency,
    is_log_file,
    is_multi_file,
)
from segkit.errors import SegkitDataError
from segkit.schema import (
    CANONICAL_COLUMNS,
    KNOWN_LAYOUTS,
    MADE_UP_INVOICE_NO_CUSTOMER,
    MADE_UP_INVOICE_SEPARATOR,
    MADE_UP_INVOICE_TIME,
    MISSING_ID_TEXTS,
    MISSING_MARKERS,
    REQUIRED_ROLES,
    ROLES,
    UNKNOWN_COUNTRY,
    UNKNOWN_PRODUCT,
    WHOLE_NUMBER_ID,
    to_utc_naive,
)

__all__ = [
    "load_transactions",
    "log_files",
    "skipped_files",
    "load_log",
    "drop_repeats_across_files",
    "repeated_across_files",
    "line_hashes",
    "file_digest",
    "plain_cells",
    "prefix_digest",
    "file_digests",
    "read_grown_csv",
    "parse_column_mapping",
    "workbook_sheets_note",
    "standardise_columns",
    "write_table_atomically",
    "read_table_with_metadata",
    "source_labels",
    "with_source_files",
]


# Bump when the canonical frame changes so old cache files are not reused.
_CACHE_VERSION = 4


_MAX_EXAMPLES = 1


#: Bounds on the work one file may ask for (refused past them, before pandas reads it).
#: An .xlsx sheet holds at most 1,048,576 rows; the real UCI workbook (541,909 rows)
#: expands to 216 MB, so 500 MB leaves room for a full sheet of that width.
MAX_XLSX_EXPANDED_BYTES = 500_000_000


#: pandas renames repeated headers in quadratic time (50,000 fields: 24 s).
MAX_CSV_COLUMNS = 5_000


#: Larger logs belong in parquet, read out of core (``--engine duckdb``): 10M lines, and
#: 50M cells (lines x header fields; the UCI log is 4.3M; pandas holds ~60 bytes a text cell).
MAX_CSV_LINES = 10_000_000


MAX_CSV_CELLS = 50_000_000


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
    dayfirst: bool | None = None,
) -> pd.DataFrame:
    """Read one transaction file and return its lines in the canonical layout.

    The UCI Online Retail and Online Retail II layouts are recognised by their column
    names; any other layout needs ``columns``. Dates and numbers are checked per column
    (day-first or month-first dates, decimal commas, currency signs). For a folder or a
    glob of files read as one log, use ``load_log`` or
    ``segkit.pipeline.workflow.load_customer_data``.

    Parameters
    ----------
    path : str or Path
        The file: ``.xlsx``, ``.xlsm``, ``.xls``, ``.csv``, ``.csv.gz``, ``.csv.zst``, a
        ``.zip`` of one CSV, or ``.parquet``.
    columns : mapping of str to str, optional
        Role -> column name, for logs in another layout, e.g.
        ``{"customer": "Client", "date": "Day", "amount": "LineTotal"}`` (roles: ``ROLES``).
    sheet : str or int, optional
        Excel sheet name or index. Default: every sheet with cells, read as one log when
        they share their columns (refused, naming them, when they differ).
    use_cache : bool, default True
        Keep a parquet copy of Excel and CSV files in the cache folder, keyed by the
        SHA-256 of the file's bytes, and read it on the next call.
    dayfirst : bool, optional
        Order of text dates like ``05/01/2011``. ``None`` (default) decides per column
        from the values (a first field above 12 means day-first, a second field above 12
        month-first) and refuses a column where every date is ambiguous.

    Returns
    -------
    pandas.DataFrame
        One row per line with ``CANONICAL_COLUMNS``: text ids (``InvoiceNo``,
        ``StockCode``, ``CustomerID``; a missing customer as NA), ``InvoiceDate`` as a
        timestamp, ``Quantity`` and ``UnitPrice`` as numbers.

    Raises
    ------
    SegkitDataError
        With one sentence naming the file, the problem and the fix, for anything it
        cannot use.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from segkit.ingest.sample import generate_sample_transactions
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "sales.csv"
    >>> generate_sample_transactions(n_customers=200).to_csv(path, index=False)
    >>> lines = load_transactions(path, use_cache=False)
    >>> list(lines.columns)
    ['InvoiceNo', 'StockCode', 'Description', 'Quantity', 'InvoiceDate', 'UnitPrice', 'CustomerID', 'Country']
    """
    path = Path(path)
    name = path.name
    if not path.exists():
        raise SegkitDataError(f"'{path}' does not exist; check the path or put your file in data/.")
    if path.is_dir():
        raise SegkitDataError(f"'{path}' is a folder, not a file; name the transaction file itself.")
    suffix = _kind(path)
    if suffix not in SUPPORTED_SUFFIXES:
        raise SegkitDataError(
            f"'{name}' has the unsupported type '{suffix or 'none'}'; "
            f"save it as one of {', '.join(SUPPORTED_SUFFIXES + COMPRESSED_CSV_SUFFIXES)}."
        )
    if path.stat().st_size == 0:
        raise SegkitDataError(f"'{name}' is empty (0 bytes); export the transactions again.")

    mapping = dict(columns or {})
    cache_file = None
    if use_cache and suffix != ".parquet":
        cache_file = _cache_path(path, mapping, sheet, dayfirst)
        if cache_file.exists():
            try:
                cached = pd.read_parquet(cache_file)
                # stored in microseconds (Spark reads them); the canonical frame holds nanoseconds
                return cached.assign(InvoiceDate=cached["InvoiceDate"].astype("datetime64[ns]"))
            except Exception:  # a damaged cache file is just read again
                cache_file.unlink(missing_ok=True)

    raw = _read_raw(path, sheet, mapping)
    frame = standardise_columns(raw, mapping, source=name, dayfirst=dayfirst)
    if cache_file is not None:
        _write_atomically(frame, cache_file)
    return frame


def standardise_columns(
    raw: pd.DataFrame, columns: Mapping[str, str] | None = None, source: str = "the data",
    dayfirst: bool | None = None,
) -> pd.DataFrame:
    """Rename, convert and check a raw frame into the canonical layout.

    ``dayfirst`` as in ``load_transactions``. A log in a known layout without a quantity
    column is refused unless ``columns`` declares the roles (then each line is one unit).
    """
    if raw.shape[1] == 0 or (raw.shape[0] == 0 and raw.shape[1] <= 1):
        raise SegkitDataError(f"'{source}' has no columns; export it with a header row.")
    raw = _find_header(raw.rename(columns=lambda c: str(c).strip()), columns)
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
    currency_column = mapping.get("currency") or next(
        (c for c in raw.columns if c.strip().lower() in CURRENCY_COLUMN_NAMES), None)
    if currency_column is not None:
        check_one_currency(raw[currency_column], currency_column, source)

    out = pd.DataFrame(index=raw.index)
    out["InvoiceNo"] = _as_text(raw[mapping["invoice"]]) if "invoice" in mapping else pd.NA
    out["StockCode"] = _as_text(raw[mapping["product"]]) if "product" in mapping else UNKNOWN_PRODUCT
    out["Description"] = (
        raw[mapping["description"]].astype("string") if "description" in mapping else pd.NA
    )
    out["InvoiceDate"] = _as_dates(raw[mapping["date"]], mapping["date"], source, dayfirst)

    # Prices show the file's decimal mark most often; an ambiguous quantity column
    # ('1.000') follows it.
    money_role = "price" if "price" in mapping else "amount"
    money, locale = _read_numbers(raw[mapping[money_role]], mapping[money_role], source)
    quantity = (
        _as_numbers(raw[mapping["quantity"]], mapping["quantity"], source, locale_hint=locale)
        if "quantity" in mapping else pd.Series(1.0, index=raw.index)
    )
    if money_role == "price":
        price = money
    else:
        price = money / quantity.where(quantity != 0)
        price = price.mask(price.isna() & money.notna(), 0.0)  # a blank amount stays missing
    out["Quantity"] = quantity
    out["UnitPrice"] = price
    out["CustomerID"] = _customer_ids(raw[mapping["customer"]])
    out["Country"] = raw[mapping["country"]].astype("string") if "country" in mapping else UNKNOWN_COUNTRY

    if "invoice" not in mapping:
        # Without an invoice number each distinct customer + timestamp is one purchase.
        stamp = out["InvoiceDate"].dt.strftime(MADE_UP_INVOICE_TIME).astype("string")
        out["InvoiceNo"] = (out["CustomerID"].fillna(MADE_UP_INVOICE_NO_CUSTOMER) + MADE_UP_INVOICE_SEPARATOR
                            + stamp).astype("string")
    for col in ("InvoiceNo", "StockCode", "Description", "CustomerID", "Country"):
        out[col] = out[col].astype("string")
    if np.issubdtype(out["Quantity"].dtype, np.floating) and out["Quantity"].dropna().mod(1).eq(0).all():
        out["Quantity"] = out["Quantity"].astype("int64") if out["Quantity"].notna().all() else out["Quantity"]
    filled = fill_down_within_orders(out) if "invoice" in mapping else 0
    out = out[CANONICAL_COLUMNS].reset_index(drop=True)
    if filled:
        out.attrs[FILLED_DOWN] = filled
    return out


#: ``DataFrame.attrs`` key of a loaded log: lines whose blank customer, date or country
#: were taken from the other lines of their order (``fill_down_within_orders``).
FILLED_DOWN = "filled_down_within_orders"
#: Order-level fields: one value per order, which shop exports (Shopify's orders export)
#: write on an order's first line only.
ORDER_FIELDS = ("CustomerID", "InvoiceDate", "Country")


def fill_down_within_orders(lines: pd.DataFrame) -> int:
    """Fill blank ``ORDER_FIELDS`` of a line from the other lines of its order (same
    ``InvoiceNo``), in place, where those lines agree on one value; returns how many lines
    got a value. An order whose lines disagree, or that has no value at all, is left as it
    is (the cleaning rules then drop what still has no customer or date)."""
    orders = lines["InvoiceNo"]
    in_order = orders.notna()
    if not in_order.any():
        return 0
    filled = pd.Series(False, index=lines.index)
    for column in ORDER_FIELDS:
        blank = lines[column].isna() & in_order
        if not blank.any():
            continue
        values = lines.loc[in_order, column].groupby(orders[in_order])
        first = values.transform("first").reindex(lines.index)
        agreed = values.transform("nunique").reindex(lines.index) == 1
        take = blank & first.notna() & agreed
        if take.any():
            lines.loc[take, column] = first[take]
            filled |= take
    return int(filled.sum())


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
            f"'{source}' has no column for {', '.join(missing_roles)}; found: {_short_list(found)}"
            f"{_header_hint(raw)}. "
            f"Rename the columns to the UCI layout (InvoiceNo, StockCode, Description, Quantity, "
            f"InvoiceDate, UnitPrice, CustomerID, Country) or pass --columns {expected}."
        )
    if not mapping and "quantity" not in resolved and "price" in resolved:
        raise SegkitDataError(
            f"'{source}' has no Quantity column; add one, or pass --columns with the roles of its columns "
            f"(e.g. --columns customer={resolved.get('customer', 'CustomerID')},date={resolved.get('date', 'InvoiceDate')},"
            f"price={resolved['price']}) to declare that every line is one unit."
        )
    return resolved


def _header_hint(raw: pd.DataFrame) -> str:
    """When the first row read as the header looks like a title (most of its cells empty), the
    row below it that looks like the header (every cell filled with text), as a clause."""
    unnamed = sum(str(c).startswith("Unnamed:") for c in raw.columns)
    if raw.shape[1] < 2 or unnamed < raw.shape[1] / 2:
        return ""
    top = raw.head(HEADER_SEARCH_ROWS)
    for i in range(len(top)):
        cells = top.iloc[i]
        if cells.notna().all() and all(isinstance(v, str) and not re.fullmatch(r"[-+\d.,\s]*", v) for v in cells):
            return (f" (the first row looks like a title; row {i + 2} looks like the header: "
                    f"{_short_list([str(v).strip() for v in cells], 6)})")
    return " (the first row looks like a title, not a header row)"


def _short_list(items: list, limit: int = 12) -> str:
    shown = ", ".join(str(i) for i in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _kind(path: Path) -> str:
    """The type a file is read as: its suffix, ``.csv`` for a compressed CSV file."""
    if path.name.lower().endswith(COMPRESSED_CSV_SUFFIXES):
        return ".csv"
    return path.suffix.lower()


#: A compressed CSV file is refused when it expands past this (a zip bomb, or a file for
#: parquet and --engine duckdb); the real UCI log is 45 MB as CSV.
MAX_DECOMPRESSED_BYTES = 2_000_000_000


def _decompressed(path: Path) -> bytes | None:
    """The CSV bytes of a ``.csv.gz``, ``.csv.zst`` or ``.zip`` file; ``None`` for a plain file."""
    lower = path.name.lower()
    name = path.name
    limit = MAX_DECOMPRESSED_BYTES

    def bounded(stream) -> bytes:
        data = stream.read(limit + 1)
        if len(data) > limit:
            raise SegkitDataError(
                f"'{name}' expands to more than {limit / 1e9:.0f} GB, more than segkit reads from a compressed "
                "CSV file; save it as parquet and use --engine duckdb, or split it."
            )
        return data

    if lower.endswith(".csv.gz"):
        import gzip

        try:
            with gzip.open(path, "rb") as fh:
                return bounded(fh)
        except (OSError, EOFError) as exc:
            raise SegkitDataError(f"'{name}' is not a readable gzip file ({_reason(exc)}); compress it again "
                                  "or give the plain CSV file.") from None
    if lower.endswith(".csv.zst"):
        try:
            import zstandard
        except ImportError:
            raise SegkitDataError(
                f"'{name}' is compressed with Zstandard, which this installation cannot read; install it "
                "(pip install zstandard) or decompress the file (unzstd) and give the plain CSV file."
            ) from None
        try:
            with open(path, "rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw) as fh:
                return bounded(fh)
        except zstandard.ZstdError as exc:
            raise SegkitDataError(f"'{name}' is not a readable Zstandard file ({_reason(exc)}); compress it "
                                  "again or give the plain CSV file.") from None
    if lower.endswith(".zip"):
        try:
            with zipfile.ZipFile(path) as archive:
                members = [m for m in archive.infolist() if not m.is_dir() and not m.filename.startswith("__MACOSX/")
                           and not Path(m.filename).name.startswith(".")]
                csvs = [m for m in members if m.filename.lower().endswith(".csv")]
                if len(members) != 1 or len(csvs) != 1:
                    listed = _short_list([m.filename for m in members], 5) or "nothing"
                    raise SegkitDataError(
                        f"'{name}' holds {len(members)} file(s) ({listed}), and segkit reads a .zip holding exactly "
                        "one CSV file; unzip it and give the transaction file (or the folder) instead."
                    )
                if csvs[0].file_size > limit:
                    raise SegkitDataError(
                        f"'{name}' expands to {csvs[0].file_size / 1e9:.1f} GB, more than segkit reads from a "
                        "compressed CSV file; save it as parquet and use --engine duckdb, or split it."
                    )
                with archive.open(csvs[0]) as fh:
                    return bounded(fh)
        except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as exc:
            raise SegkitDataError(f"'{name}' is not a readable .zip file ({_reason(exc)}); zip it again without "
                                  "a password, or give the plain CSV file.") from None
    return None


def _read_raw(path: Path, sheet: str | int | None, mapping: Mapping[str, str] | None = None) -> pd.DataFrame:
    suffix = _kind(path)
    name = path.name
    if suffix == ".parquet":
        try:
            return pd.read_parquet(path)
        except MemoryError:  # also pyarrow's ArrowMemoryError
            raise SegkitDataError(
                f"'{name}' is too large to load into memory; use the out-of-core path "
                "(--engine duckdb, or segkit.features.out_of_core.customer_features_out_of_core)."
            ) from None
        except Exception as exc:
            raise SegkitDataError(
                f"'{name}' is not a readable parquet file ({_reason(exc)}); write it again or export it as CSV."
            ) from None
    if suffix == ".csv":
        return _read_csv(path)
    return _read_excel(path, sheet, mapping)


def _read_csv(path: Path) -> pd.DataFrame:
    import io

    name = path.name
    data = _decompressed(path)
    if data is not None:
        if not data.strip():
            raise SegkitDataError(f"'{name}' holds an empty CSV file; export the transactions again.")
        head = data[:65536]
    else:
        with open(path, "rb") as fh:
            head = fh.read(65536)

    def source():
        return path if data is None else io.BytesIO(data)

    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        encodings = ("utf-16",)  # Excel's "Unicode text" export
    elif head.startswith(b"\xef\xbb\xbf"):
        encodings = ("utf-8-sig",)
    elif b"\x00" in head:
        raise SegkitDataError(f"'{name}' is not a text CSV file (it holds binary data); export it again as CSV.")
    else:
        # Windows-1252 (Excel's "CSV" on Windows) before ISO-8859-1: they differ only in bytes
        # 0x80-0x9f, which are € “ ” ‘ ’ – — … Œ in Windows-1252 and invisible control characters
        # in ISO-8859-1; the few bytes Windows-1252 leaves undefined fall back to ISO-8859-1,
        # which accepts any byte: the last resort.
        encodings = ("utf-8", "cp1252", "iso-8859-1")
    lines = head.decode(encodings[0], errors="replace").lstrip("\ufeff").splitlines()[:20] if head.strip() else []
    # A title above the header ('Online Retail - transactions export', a blank line): lines
    # without any separator before the first line with some are skipped.
    title = next((i for i, line in enumerate(lines[:10]) if any(c in re.sub(r'"[^"]*"', "", line) for c in ",;\t|")), 0)
    first_line = lines[title] if lines else ""
    # Excel in many European locales writes ';' between fields.
    separator = max([",", ";", "\t", "|"], key=first_line.count) if first_line else ","
    fields = _check_csv_width(path, encodings[0], separator, data, skip=title)
    max_lines = min(MAX_CSV_LINES, MAX_CSV_CELLS // fields)
    for encoding in encodings:
        try:
            with warnings.catch_warnings():
                # Rows longer than the header would silently shift into the index or be cut.
                warnings.simplefilter("error", pd.errors.ParserWarning)
                frame = pd.read_csv(source(), dtype=str, encoding=encoding, sep=separator, skipinitialspace=True,
                                    index_col=False, nrows=max_lines + 1, skiprows=title)
            if len(frame) > max_lines:
                raise SegkitDataError(
                    f"'{name}' has more than {max_lines:,} lines of {fields:,} columns, more than segkit reads from "
                    "a CSV file; drop unused columns, save it as parquet and use --engine duckdb, or split it."
                )
            return frame
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


def _check_csv_width(path: Path, encoding: str, separator: str, data: bytes | None = None, skip: int = 0) -> int:
    """Refuse a header of more than ``MAX_CSV_COLUMNS`` fields before pandas reads it;
    returns the number of header fields (``data``: the bytes of a compressed file)."""
    import io

    limit = MAX_CSV_COLUMNS
    opened = open(path, encoding=encoding, errors="replace", newline="") if data is None else \
        io.TextIOWrapper(io.BytesIO(data), encoding=encoding, errors="replace", newline="")
    with opened as fh:
        for _ in range(skip):
            fh.readline(64 * (limit + 1))
        header = fh.readline(64 * (limit + 1))
    if header.count(separator) >= limit:
        raise SegkitDataError(
            f"'{path.name}' has more than {limit:,} columns in its header; keep the transaction columns "
            "(customer, invoice, date, quantity, price, ...) and export it again."
        )
    return header.count(separator) + 1


def _check_workbook_size(path: Path) -> None:
    """Refuse a workbook whose parts expand past ``MAX_XLSX_EXPANDED_BYTES`` (a zip bomb
    or a sheet too large for memory), from the zip directory, before any parsing."""
    try:
        with zipfile.ZipFile(path) as archive:
            expanded = sum(item.file_size for item in archive.infolist())
    except (zipfile.BadZipFile, OSError):
        return  # the readers give their own sentence for a damaged file
    if expanded > MAX_XLSX_EXPANDED_BYTES:
        raise SegkitDataError(
            f"'{path.name}' expands to {expanded / 1e9:.1f} GB when opened, more than the "
            f"{MAX_XLSX_EXPANDED_BYTES / 1e9:.1f} GB segkit reads from a workbook; export the transactions as CSV "
            "or parquet, or remove unused sheets and cells."
        )


def _read_excel(path: Path, sheet: str | int | None, mapping: Mapping[str, str] | None = None) -> pd.DataFrame:
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
    _check_workbook_size(path)
    errors: list[Exception] = []
    for engine in ("calamine", "openpyxl"):  # calamine is ~10x faster; openpyxl as fallback
        try:
            return _read_with(engine, path, sheet, mapping)
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


def _read_with(engine: str, path: Path, sheet: str | int | None, mapping: Mapping[str, str] | None = None
               ) -> pd.DataFrame:
    """One sheet (``sheet``), or with ``sheet=None`` every sheet (``_one_log_of_sheets``)."""
    with pd.ExcelFile(path, engine=engine) as book:
        if sheet is not None or len(book.sheet_names) == 1:
            sheet_name = 0 if sheet is None else sheet
            _check_sheet(path.name, book.sheet_names, sheet_name)
            return _cells(pd.read_excel(book, sheet_name=sheet_name, dtype=object))
        sheets = pd.read_excel(book, sheet_name=None, dtype=object)
    return _one_log_of_sheets(path.name, sheets, mapping)


def _one_log_of_sheets(name: str, sheets: dict[str, pd.DataFrame], mapping: Mapping[str, str] | None = None
                       ) -> pd.DataFrame:
    """The sheets of a workbook as one log when every sheet with cells has the same columns
    (UCI's Online Retail II: 'Year 2009-2010' and 'Year 2010-2011'), empty sheets left out; a
    workbook whose sheets differ (a summary before the data) is refused, naming them and
    ``--sheet``."""
    filled = {sheet: _find_header(_cells(frame), mapping) for sheet, frame in sheets.items() if frame.shape[1] > 0}
    if len(filled) <= 1:
        return next(iter(filled.values())) if filled else _cells(next(iter(sheets.values())))
    layouts = {sheet: [str(c).strip() for c in frame.columns] for sheet, frame in filled.items()}
    first = next(iter(layouts.values()))
    if all(sorted(columns) == sorted(first) for columns in layouts.values()):
        frames = [frame.rename(columns=lambda c: str(c).strip())[first] for frame in filled.values()]
        return _cells(pd.concat([f.astype(object) for f in frames], ignore_index=True))
    described = "; ".join(f"'{sheet}': {_short_list(columns, 4)}" for sheet, columns in layouts.items())
    raise SegkitDataError(
        f"'{name}' has sheets with different columns ({described}); pass --sheet NAME with the sheet of "
        "transactions, or give the sheets the same columns to read them as one log."
    )


def workbook_sheets_note(path: str | Path, sheet: str | int | None = None) -> str | None:
    """The sentence saying that a workbook's sheets were read as one log (``None`` for a file
    that is not a workbook, a ``sheet`` named, or a workbook of one sheet). Read from the
    workbook's list of sheets only (instant), after the log was read: empty sheets are
    named too."""
    path = Path(path)
    if sheet is not None or _kind(path) not in (".xlsx", ".xlsm", ".xls") or not path.is_file():
        return None
    try:
        with pd.ExcelFile(path, engine="calamine") as book:
            names = list(book.sheet_names)
    except Exception:
        return None
    if len(names) < 2:
        return None
    return (f"read the {len(names)} sheets of '{path.name}' ({', '.join(repr(n) for n in names)}) as one log, as they "
            "have the same columns; pass --sheet NAME to read one sheet.")


def _header_names(mapping: Mapping[str, str] | None) -> list[set[str]]:
    """For each layout a header may follow, the column names it must hold (customer and date)."""
    mapping = dict(mapping or {})
    return [{mapping.get("customer", layout["customer"]), mapping.get("date", layout["date"])}
            for layout in KNOWN_LAYOUTS.values()]


#: How far below the first row a header under a title is looked for.
HEADER_SEARCH_ROWS = 20


def _find_header(raw: pd.DataFrame, mapping: Mapping[str, str] | None = None) -> pd.DataFrame:
    """``raw`` with its header row found when a title (or a few lines of notes) sits above it:
    the first of the first ``HEADER_SEARCH_ROWS`` rows that holds the customer and date
    column names of the mapping or of a known layout becomes the header."""
    wanted = _header_names(mapping)
    names = {str(c).strip() for c in raw.columns}
    if any(w <= names for w in wanted):
        return raw
    top = raw.head(HEADER_SEARCH_ROWS)
    for i in range(len(top)):
        cells = {str(v).strip() for v in top.iloc[i] if not pd.isna(v)}
        if any(w <= cells for w in wanted):
            header = [str(v).strip() if not pd.isna(v) else f"Unnamed: {j}" for j, v in enumerate(top.iloc[i])]
            body = raw.iloc[i + 1:].reset_index(drop=True)
            body.columns = header
            return _cells(body.astype(object)) if any(raw.dtypes == object) else body
    return raw


def _cells(frame: pd.DataFrame) -> pd.DataFrame:
    """A sheet read cell by cell (``dtype=object``: a text cell stays the text it shows, so
    an id ``0017850`` keeps its zeros as it does in a CSV file), then each column typed
    from its cells (numbers, dates, text) as pandas would."""
    return frame.infer_objects()


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
    text = series.astype("string").str.strip().str.replace(WHOLE_NUMBER_ID, r"\1", regex=True)
    return text.mask(text.isin(MISSING_ID_TEXTS))


def _customer_ids(series: pd.Series) -> pd.Series:
    """Customer ids as text (``_as_text``); an email address is one customer whatever its
    case: ``Ann@Shop.com `` and ``ann@shop.com`` are the same id (trimmed, lower case)."""
    ids = _as_text(series)
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

#: Headers of a column holding each line's currency, recognised without ``--columns currency=``.
CURRENCY_COLUMN_NAMES = ("currency", "currency code", "currencycode", "presentment currency")
#: Currency codes and the symbol segkit writes before money figures (``SEGKIT_CURRENCY``).
CURRENCY_SYMBOLS = {"GBP": "£", "EUR": "€", "USD": "$", "JPY": "¥", "CHF": "CHF"}


def check_one_currency(codes: pd.Series, column: str, source: str) -> str | None:
    """The one currency of a log's currency column, or a refusal: amounts in several
    currencies would be added up as one, and amounts in another currency than the one
    segkit shows (``SEGKIT_CURRENCY``) would carry the wrong symbol."""
    text = codes.astype("string").str.strip().str.upper()
    found = sorted(text.mask(text.isin([m.upper() for m in MISSING_MARKERS])).dropna().unique())
    if len(found) > 1:
        raise SegkitDataError(
            f"'{source}' holds amounts in {len(found)} currencies ({', '.join(found[:5])}) in column '{column}', "
            "which segkit would add up as one; export one currency per file, or convert the prices to one "
            "currency first."
        )
    if not found:
        return None
    code, shown = found[0], currency()
    symbol = CURRENCY_SYMBOLS.get(code, code)
    if shown not in (symbol, code):
        raise SegkitDataError(
            f"'{source}' is in {code} (column '{column}') while segkit shows money as '{shown}'; "
            f"set {CURRENCY_ENV}={symbol} so every figure carries the right currency."
        )
    return code


_SPACES = "[ \u00a0\u202f']"  # group separators: space, no-break spaces, Swiss apostrophe


def _as_numbers(series: pd.Series, column: str, source: str, locale_hint: str | None = None) -> pd.Series:
    """Numbers from a column; see ``_read_numbers``."""
    return _read_numbers(series, column, source, locale_hint)[0]


def _read_numbers(
    series: pd.Series, column: str, source: str, locale_hint: str | None = None
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
        if len(currencies) > 1:
            raise SegkitDataError(
                f"'{source}' mixes currencies ({', '.join(sorted(currencies))}) in column '{column}'; "
                "convert the amounts to one currency first."
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
    marked, comma, point = _decimal_marks(text)
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


def _decimal_marks(text: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
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
_DMY = re.compile(
    r"^(\d{1,2})([/.\-])(\d{1,2})\2(\d{2}|\d{4})"
    r"(?:(?:\s*,\s*|\s+|T)"
    r"(?:(\d{1,2})[:.](\d{2})(?:[:.](\d{2})(?:[.,](\d{1,9}))?)?|(\d{2})(\d{2}))"
    r"(?:\s*([AaPp])\.?[Mm]\.?)?)?$"
)
#: The start of a numeric day/month date, whatever follows (to refuse times ``_DMY`` does not read).
_DMY_START = r"^\d{1,2}([/.\-])\d{1,2}\1\d{2,4}(?:\D|$)"


def _as_dates(series: pd.Series, column: str, source: str, dayfirst: bool | None = None) -> pd.Series:
    """Timestamps (naive, UTC for zoned input) from a date column.

    Text dates like ``05/01/2011`` are read in one order for the whole column, decided
    from all its values whatever their time format (``_DMY``, ``_date_order``), and
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
    parts = text.str.extract(_DMY)
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


#: A number cell made of digits and marks only (no currency sign, no letters).
_BARE_NUMBER = re.compile(r"^\s*[-+]?\d[\d.,]*\s*$")


def plain_cells(raw: pd.DataFrame, columns: Mapping[str, str] | None = None, source: str = "the data",
                alone: bool = False) -> bool:
    """True when ``raw`` (CSV cells as text) holds nothing whose reading is decided per
    column in a way other lines could change: no day/month-numeric dates (their order is
    decided per column), number cells of digits and marks only, none showing a decimal comma.
    With ``alone`` (lines to be read apart from the rest of their file), each number column
    also decides by itself: it shows a decimal point, or no mark at all."""
    raw = raw.rename(columns=lambda c: str(c).strip())
    try:
        mapping = _resolve_mapping(raw, dict(columns or {}), source)
    except SegkitDataError:
        return False
    for role in ("quantity", "price", "amount"):
        if role in mapping:
            text = raw[mapping[role]].dropna().astype(str)
            text = text[text.str.strip() != ""]
            marked, comma, point = _decimal_marks(text)
            if not text.str.match(_BARE_NUMBER).all() or comma.any():
                return False
            if alone and len(marked) and not point.any():
                return False
    if "date" in mapping:
        text = raw[mapping["date"]].dropna().astype(str).str.strip()
        if text.str.match(_DMY).any():
            return False
    return True


def read_grown_csv(path: str | Path, old_size: int, old_plain: bool | None, columns: Mapping[str, str] | None = None,
                   dayfirst: bool | None = None, new_size: int | None = None, old_lines: int = 0
                   ) -> tuple[pd.DataFrame, bool] | None:
    """The lines a CSV file gained after its first ``old_size`` bytes, read alone, with
    whether the whole file is now plain (``plain_cells``); ``None`` when they cannot be read
    alone with exactly the result of reading the whole file (then read it whole). ``new_size``:
    read up to that size (the size whose hash the caller knows), else to the end.
    ``old_lines``: lines read before, so a file grown past what segkit reads from a CSV is
    read whole (and refused there in one sentence).

    Read alone only when the earlier bytes ended a line outside quotes (their last line has
    an even number of ``"``; a last line longer than 64 kB, or the header alone, reads
    whole), the file is UTF-8 (no byte-order mark), its earlier lines are plain
    (``old_plain``; ``None``: not known yet, checked here by reading those lines' text) and
    the new ones plain alone (``plain_cells``): then no per-column decision (date order,
    decimal mark) can differ between the part and the whole. The caller checks that the
    earlier bytes are unchanged (their hash). A Quantity column that is whole
    numbers in one part and not in the other is float in both readings."""
    import io

    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(65536)
        fh.seek(max(old_size - 65536, 0))
        before = fh.read(min(old_size, 65536))  # the earlier bytes' end: their last line
        tail = fh.read() if new_size is None else fh.read(max(new_size - old_size, 0))
    ends_line = before.endswith(b"\n")
    # The earlier bytes must end a record, not a line inside a quoted field: their last line
    # shows an even number of quote marks (a field's opening and closing ones, doubled ones inside).
    last_line = before[:-1].rsplit(b"\n", 1)
    closed = len(last_line) == 2 and last_line[1].count(b'"') % 2 == 0
    first = head.split(b"\n", 1)
    if (old_size <= 0 or not ends_line or not closed or not tail.strip() or len(first) < 2
            or head.startswith((b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf")) or b"\x00" in head + tail):
        return None
    try:
        header, text = first[0].decode("utf-8"), tail.decode("utf-8")
    except UnicodeDecodeError:
        return None
    separator = max([",", ";", "\t", "|"], key=header.count)
    fields = header.count(separator) + 1
    if fields > MAX_CSV_COLUMNS:
        return None

    def read(body: str, **kw) -> pd.DataFrame:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(io.StringIO(header + "\n" + body), dtype=str, sep=separator, skipinitialspace=True,
                               index_col=False, **kw)

    try:
        raw = read(text)
        if old_lines + len(raw) > min(MAX_CSV_LINES, MAX_CSV_CELLS // fields):
            return None
        if old_plain is None:  # the earlier lines' text, once: read whole minus the new lines
            with open(path, "rb") as fh:
                earlier = fh.read(old_size).decode("utf-8").split("\n", 1)[1]
            old_plain = plain_cells(read(earlier), columns, path.name)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.ParserWarning, pd.errors.EmptyDataError, ValueError):
        return None
    if not old_plain or not plain_cells(raw, columns, path.name, alone=True):
        return None
    try:
        return standardise_columns(raw, columns, source=path.name, dayfirst=dayfirst), True
    except SegkitDataError:
        return None


def prefix_digest(path: Path, size: int) -> str:
    """SHA-256 of the first ``size`` bytes of a file (``file_digest`` of what it held at that size)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        left = size
        while left > 0:
            block = fh.read(min(1 << 20, left))
            if not block:
                break
            digest.update(block)
            left -= len(block)
    return digest.hexdigest()


def file_digests(path: Path, at: int) -> tuple[str, str]:
    """``(prefix_digest(path, at), file_digest(path))`` in one pass over the file: a file that
    grew is hashed once, its earlier bytes' digest taken on the way."""
    digest, prefix = hashlib.sha256(), None
    with open(path, "rb") as fh:
        done = 0
        for block in iter(lambda: fh.read(1 << 20), b""):
            if prefix is None and done + len(block) >= at:
                digest.update(block[:at - done])
                prefix = digest.hexdigest()
                digest.update(block[at - done:])
            else:
                digest.update(block)
            done += len(block)
    return (prefix if prefix is not None else digest.hexdigest()), digest.hexdigest()


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes (0.02-0.04 s for the 26 MB UCI workbook, from the page cache)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _cache_path(path: Path, mapping: Mapping[str, str], sheet, dayfirst: bool | None = None) -> Path:
    """Cache file keyed by the file's content (not its name, size or mtime) and the options."""
    # The currency shown is part of the key: a file is checked against it when read (check_one_currency).
    key = json.dumps([file_digest(path), sorted(mapping.items()), str(sheet), dayfirst, currency(), _CACHE_VERSION])
    digest = hashlib.sha256(key.encode()).hexdigest()[:20]
    return cache_dir() / f"{path.stem}-{digest}.parquet"


def _write_atomically(frame: pd.DataFrame, target: Path) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
        os.close(fd)
        # microseconds: Spark 4 refuses parquet timestamps in nanoseconds
        frame.to_parquet(tmp, index=False, coerce_timestamps="us", allow_truncated_timestamps=True)
        os.replace(tmp, target)
    except OSError:
        # A read-only cache folder only costs speed.
        Path(locals().get("tmp", target.with_suffix(".tmp"))).unlink(missing_ok=True)


def write_table_atomically(frame: pd.DataFrame, path: Path, metadata: Mapping[str, str]) -> None:
    """Write ``frame`` (index kept) with ``metadata`` in the parquet footer, all or nothing
    (a reader sees the old file or the whole new one); timestamps in microseconds. A cache
    folder that cannot be written only costs the next reader the computation."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           **{k.encode(): str(v).encode() for k, v in metadata.items()}})
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, partial, coerce_timestamps="us", allow_truncated_timestamps=True)
        os.replace(partial, path)
    except OSError:
        partial.unlink(missing_ok=True)


def read_table_with_metadata(path: Path) -> tuple[pd.DataFrame, dict[str, str]] | None:
    """A frame written by ``write_table_atomically`` (nanosecond timestamps, string index,
    as segkit computes them) and its metadata; ``None`` when missing or unreadable."""
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
        metadata = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
        frame = table.to_pandas()
    except Exception:  # a damaged cache entry is computed again
        return None
    stamps = [c for c in frame.columns if pd.api.types.is_datetime64_any_dtype(frame[c])]
    frame = frame.astype({c: "datetime64[ns]" for c in stamps})
    frame.index = frame.index.astype("string")
    return frame, metadata


def log_files(source: str | Path) -> list[Path]:
    """The files that make up a log, sorted by name.

    ``source`` is a file (itself), a folder (every supported file in it, not in
    subfolders; dotfiles, ``~$`` lock files and ``*.tmp`` / ``*.part`` names skipped: see
    ``segkit.config.is_log_file``) or a glob (``exports/2011-*.csv``). A folder or glob
    with no supported file is refused in one sentence.
    """
    text = str(source)
    if not is_multi_file(text):
        return [Path(text).expanduser()]
    if any(c in text for c in "*?["):
        pattern = Path(text).expanduser()
        anchor = Path(pattern.anchor) if pattern.is_absolute() else Path(".")
        relative = pattern.relative_to(anchor) if pattern.is_absolute() else pattern
        files = sorted(p for p in anchor.glob(str(relative)) if p.is_file() and is_log_file(p))
        where = f"the pattern '{text}'"
    else:
        folder = Path(text).expanduser()
        files = sorted(p for p in folder.iterdir() if p.is_file() and is_log_file(p))
        where = f"the folder '{folder}'"
    if not files:
        raise SegkitDataError(
            f"{where} holds no transaction file; put .xlsx, .csv or .parquet files there "
            f"({', '.join(SUPPORTED_SUFFIXES)})."
        )
    return files


def skipped_files(source: str | Path) -> list[tuple[str, str]]:
    """What a folder log (``log_files``) leaves out, as ``(name, why)`` by name: subfolders,
    hidden files, Excel lock files, unfinished downloads and files of other types. Empty for
    a file or a glob (a glob names what it reads)."""
    folder = Path(str(source)).expanduser()
    if not folder.is_dir():
        return []
    skipped = []
    for entry in sorted(folder.iterdir()):
        name, lower = entry.name, entry.name.lower()
        if entry.is_dir():
            why = "a subfolder (only the files directly in the folder are read)"
        elif is_log_file(entry):
            continue
        elif name.startswith("~$"):
            why = "an Excel lock file (the workbook is open in Excel)"
        elif name.startswith("."):
            why = "a hidden file"
        elif lower.endswith(IGNORED_SUFFIXES):
            why = "an unfinished copy or download"
        else:
            why = (f"not a transaction file type ({entry.suffix or 'no extension'}; read: "
                   f"{', '.join(SUPPORTED_SUFFIXES + COMPRESSED_CSV_SUFFIXES)})")
        skipped.append((name, why))
    return skipped


#: ``load_log(...).attrs`` key: (lines, revenue) of the copies dropped because another
#: file of the log holds the same line (overlapping exports).
REPEATED_ACROSS_FILES = "repeated_across_files"


def load_log(
    source: str | Path,
    columns: Mapping[str, str] | None = None,
    sheet: str | int | None = None,
    use_cache: bool = True,
    dayfirst: bool | None = None,
    notes: list[str] | None = None,
) -> pd.DataFrame:
    """Every file of a log (``log_files``) read as one, in the canonical layout plus
    ``SourceFile`` (the file's name, categorical), in file-name order.

    Each file goes through ``load_transactions`` (Excel and CSV files come from the
    parquet cache keyed by their content, so only new or changed files are parsed); any
    mix of types works as long as every file has the same layout. Files with identical
    bytes (the same export saved twice) are read once, with a sentence in ``notes``;
    lines repeated across different files are left to the cleaning rules (exact
    duplicates are dropped, see docs/data-science.md). A file that cannot be read is refused with
    its own one-sentence reason.
    """
    frames: list[pd.DataFrame] = []
    names: list[str] = []
    seen: dict[str, str] = {}
    paths = log_files(source)
    labels = source_labels(paths)
    for path in paths:
        digest = file_digest(path) if len(paths) > 1 else ""
        if digest and digest in seen:
            if notes is not None:
                notes.append(f"'{labels[path]}' has the same contents as '{seen[digest]}'; it was read once.")
            continue
        seen[digest] = labels[path]
        frames.append(load_transactions(path, columns=columns, sheet=sheet, use_cache=use_cache, dayfirst=dayfirst))
        names.append(labels[path])
    filled = sum(int(frame.attrs.get(FILLED_DOWN, 0)) for frame in frames)
    combined = with_source_files(frames, names)
    repeats = repeated_across_files(combined)
    log = combined.loc[~repeats].reset_index(drop=True) if repeats.any() else combined
    repeated = int(repeats.sum())
    if repeated and notes is not None:
        notes.append(f"{repeated:,} lines appear in more than one file (overlapping exports); each was counted once.")
    dropped = combined.loc[repeats]
    # What the cleaning report shows as its own row (segkit.pipeline.workflow).
    log.attrs[REPEATED_ACROSS_FILES] = (repeated, float((dropped["Quantity"] * dropped["UnitPrice"]).sum()))
    if filled:
        log.attrs[FILLED_DOWN] = filled
    return log


def line_hashes(log: pd.DataFrame) -> np.ndarray:
    """One 64-bit hash per line of ``log`` over its canonical columns (equal lines, equal hashes)."""
    return pd.util.hash_pandas_object(log[CANONICAL_COLUMNS], index=False).to_numpy()


def drop_repeats_across_files(log: pd.DataFrame, hashes: np.ndarray | None = None) -> tuple[pd.DataFrame, int]:
    """``log`` without the copies of lines that another file already holds, and how many
    were dropped (``hashes``: ``line_hashes(log)`` when already known).

    A line equal in every canonical column to a line of another file is the same sale
    exported twice (overlapping exports): only the copies in the first of those files (by
    name) are kept. Repeats inside one file are left to the cleaning's duplicate rule.
    Dropping them here matters: the cleaning nets cancellations before it drops duplicates,
    so a partly cancelled purchase present twice would otherwise be netted twice and kept
    twice.
    """
    repeated = repeated_across_files(log, hashes)
    if not repeated.any():
        return log, 0
    return log.loc[~repeated].reset_index(drop=True), int(repeated.sum())


def repeated_across_files(log: pd.DataFrame, hashes: np.ndarray | None = None) -> np.ndarray:
    """Which lines of ``log`` (by position) ``drop_repeats_across_files`` drops."""
    repeated = np.zeros(len(log), dtype=bool)
    if "SourceFile" not in log.columns or len(log) == 0 or len(log["SourceFile"].cat.categories) < 2:
        return repeated
    hashed = line_hashes(log) if hashes is None else hashes
    maybe = pd.Series(hashed).duplicated(keep=False).to_numpy()
    if not maybe.any():
        return repeated
    categories = log["SourceFile"].cat.categories
    rank_of_code = np.argsort(np.argsort(np.asarray(categories.astype(str))))
    candidates = log.loc[maybe, CANONICAL_COLUMNS].assign(
        _rank=rank_of_code[log.loc[maybe, "SourceFile"].cat.codes.to_numpy()])
    first = candidates.groupby(CANONICAL_COLUMNS, dropna=False, observed=True, sort=False)["_rank"].transform("min")
    repeated[np.flatnonzero(maybe)[(candidates["_rank"] != first).to_numpy()]] = True
    return repeated


def source_labels(paths: list[Path]) -> dict[Path, str]:
    """The ``SourceFile`` of each path: its name, or its full path when two files of a
    glob share a name."""
    names = [p.name for p in paths]
    unique = len(set(names)) == len(names)
    return {p: (p.name if unique else str(p)) for p in paths}


def with_source_files(frames: list[pd.DataFrame], names: list[str]) -> pd.DataFrame:
    """Canonical frames stacked, each line tagged with its file's name in ``SourceFile``."""
    if not frames:
        empty = pd.DataFrame(columns=CANONICAL_COLUMNS)
        empty["SourceFile"] = pd.Categorical([], categories=pd.Index([], dtype="string"))
        return empty
    sizes = [len(f) for f in frames]
    log = pd.concat([f[CANONICAL_COLUMNS] for f in frames], ignore_index=True) if len(frames) > 1 \
        else frames[0][CANONICAL_COLUMNS].reset_index(drop=True)
    codes = np.repeat(np.arange(len(names)), sizes)
    log["SourceFile"] = pd.Categorical.from_codes(codes, categories=pd.Index(names, dtype="string"))
    return log

