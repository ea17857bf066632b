"""Load a transaction log into the canonical UCI Online Retail layout.

This module is the entry point (``load_transactions``, ``standardise_columns``); the work is
split by stage: ``segkit.ingest.readers`` turns files into raw frames,
``segkit.ingest.values`` says what each cell means (ids, numbers, dates, currency),
``segkit.ingest.read_cache`` keeps what was read, and ``segkit.ingest.logs`` reads a folder of
files (or a growing CSV) as one log.

Reads ``.xlsx`` (calamine engine, openpyxl as fallback; every sheet as one log when the
sheets share their columns, cells read as they show so text ids keep leading zeros),
``.csv`` (UTF-8, else Windows-1252, else ISO-8859-1; also ``.csv.gz``, ``.csv.zst`` and a
``.zip`` of one CSV; a title above the header is skipped) and ``.parquet``. The UCI Online Retail and Online Retail II layouts and
Shopify's and WooCommerce's orders exports are recognised by their column names
(``segkit.schema.KNOWN_LAYOUTS``; ``layout`` names one); any other log needs a column
mapping from roles (``segkit.schema.ROLES``: customer, invoice, date, quantity, price,
amount, product, description, country, currency, financial_status, refunded_amount) to
its own column names. An order's financial status and refund are applied as it is read
(``segkit.ingest.orders``). After the first read of an Excel or CSV file a parquet copy is
kept in the cache folder, keyed by the SHA-256 of the file's bytes (plus the column
mapping, sheet and date order), so the next load is fast and an edited file is never
served stale.

Input checks: dates written ``dd/mm/yyyy`` or ``mm/dd/yyyy``, with any time
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

import re
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from segkit.config import (
    COMPRESSED_CSV_SUFFIXES,
    SUPPORTED_SUFFIXES,
)
from segkit.errors import SegkitDataError
from segkit.ingest.currency import convert_to_base
from segkit.ingest.read_cache import cache_path, write_parquet_atomically
from segkit.ingest.options import ReadOptions, with_layout  # noqa: F401  (with_layout: re-exported)
from segkit.ingest.orders import SETTLED_ORDERS, WOOCOMMERCE, WOOCOMMERCE_REFUND_COLUMNS, items_refund, settle_orders
from segkit.ingest.readers import file_kind, find_header, header_hint, read_raw, values_in_header
from segkit.ingest.values import (
    CURRENCY_COLUMN_NAMES,
    as_dates,
    as_numbers,
    as_text,
    check_one_currency,
    currency_signs,
    customer_ids,
    read_numbers,
    short_list,
)
from segkit.schema import (
    CANONICAL_COLUMNS,
    FX_KEY,
    LAYOUT_KEY,
    LAYOUT_PRESETS,
    MADE_UP_INVOICE_NO_CUSTOMER,
    MADE_UP_INVOICE_SEPARATOR,
    MADE_UP_INVOICE_TIME,
    REQUIRED_ROLES,
    ROLES,
    TEXT_COLUMNS,
    UNKNOWN_COUNTRY,
    UNKNOWN_PRODUCT,
    best_layout,
)

__all__ = ["ColumnsNotRecognised", "CONVERTED", "FILLED_DOWN", "LOG_CURRENCY", "LAYOUT_READ", "ORDER_FIELDS", "fill_down_within_orders", "load_transactions", "parse_column_mapping", "read_transactions", "resolve_mapping", "standardise_columns", "with_layout"]


_MAX_EXAMPLES = 1


class ColumnsNotRecognised(SegkitDataError):
    """A file whose columns do not say which is the customer, the date, the price, ...:
    ``columns`` holds the file's column names, so a page can offer them in a column
    mapping (``segkit.dashboard.upload_mapping``) instead of naming ``--columns``."""

    def __init__(self, message: str, columns=()) -> None:
        super().__init__(message)
        self.columns = [str(c) for c in columns]


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
    layout: str | None = None,
) -> pd.DataFrame:
    """Read one transaction file and return its lines in the canonical layout.

    The UCI Online Retail and Online Retail II layouts and the Shopify and WooCommerce
    orders exports are recognised by their column names (``layout`` names one); any other
    layout needs ``columns``. A shop export's refunded, voided and unpaid orders are
    dropped and partial refunds netted (``segkit.ingest.orders``). Dates and numbers are checked per column
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
    layout : {"uci", "shopify", "woocommerce"}, optional
        The layout preset (``segkit.schema.LAYOUT_PRESETS``); default: the known layout whose
        columns the file has most of. ``columns`` overrides single roles of it.

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
    return read_transactions(path, ReadOptions.given(columns, sheet, dayfirst, layout), use_cache)


def read_transactions(path: Path, options: ReadOptions, use_cache: bool = True) -> pd.DataFrame:
    """``load_transactions`` with its reading options as one ``ReadOptions``."""
    path = Path(path)
    name = path.name
    if not path.exists():
        raise SegkitDataError(f"'{path}' does not exist; check the path or put your file in data/.")
    if path.is_dir():
        raise SegkitDataError(f"'{path}' is a folder, not a file; name the transaction file itself.")
    suffix = file_kind(path)
    if suffix not in SUPPORTED_SUFFIXES:
        raise SegkitDataError(
            f"'{name}' has the unsupported type '{suffix or 'none'}'; "
            f"save it as one of {', '.join(SUPPORTED_SUFFIXES + COMPRESSED_CSV_SUFFIXES)}."
        )
    if path.stat().st_size == 0:
        raise SegkitDataError(f"'{name}' is empty (0 bytes); export the transactions again.")

    cache_file = None
    if use_cache and suffix != ".parquet":
        cache_file = cache_path(path, options)
        if cache_file.exists():
            try:
                cached = pd.read_parquet(cache_file)
                # stored in microseconds (Spark reads them); the canonical frame holds nanoseconds
                return cached.assign(InvoiceDate=cached["InvoiceDate"].astype("datetime64[ns]"))
            except Exception:  # a damaged cache file is just read again
                cache_file.unlink(missing_ok=True)

    raw = read_raw(path, options.sheet, options.mapping)
    frame = standardise_columns(raw, options.mapping, source=name, dayfirst=options.dayfirst)
    if cache_file is not None:
        write_parquet_atomically(frame, cache_file)
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
    raw = find_header(raw.rename(columns=lambda c: str(c).strip()), columns)
    duplicated = raw.columns[raw.columns.duplicated()].unique().tolist()
    # pandas renames a repeated header 'Quantity' to 'Quantity.1' when reading CSV and Excel.
    names = set(raw.columns)
    duplicated += sorted({m.group(1) for c in raw.columns if (m := re.match(r"^(.+)\.\d+$", c)) and m.group(1) in names})
    if duplicated:
        raise SegkitDataError(
            f"'{source}' has the column name(s) {', '.join(duplicated)} more than once; "
            "rename them so each column header is unique."
        )
    layout, mapping = _resolve(raw, dict(columns or {}), source)
    if raw.shape[0] == 0:
        raise SegkitDataError(f"'{source}' has a header but no rows; export the transactions again.")
    fx = (columns or {}).get(FX_KEY)
    currency_column = mapping.get("currency") or next(
        (c for c in raw.columns if c.strip().lower() in CURRENCY_COLUMN_NAMES), None)
    code = check_one_currency(raw[currency_column], currency_column, source, fx) \
        if currency_column is not None else None

    out = pd.DataFrame(index=raw.index)
    out["InvoiceNo"] = as_text(raw[mapping["invoice"]]) if "invoice" in mapping else pd.NA
    out["StockCode"] = as_text(raw[mapping["product"]]) if "product" in mapping else UNKNOWN_PRODUCT
    out["Description"] = (
        raw[mapping["description"]].astype("string") if "description" in mapping else pd.NA
    )
    out["InvoiceDate"] = as_dates(raw[mapping["date"]], mapping["date"], source, dayfirst)

    # Prices show the file's decimal mark most often; an ambiguous quantity column
    # ('1.000') follows it.
    money_role = "price" if "price" in mapping else "amount"
    # Without a currency column, the signs in the money column ('£1.67', '€1.20') say the currency.
    signs = currency_signs(raw[mapping[money_role]]) if currency_column is None else None
    signed = signs is not None and bool(signs.notna().any())
    money, locale = read_numbers(raw[mapping[money_role]], mapping[money_role], source,
                                 mixed_currencies=signed and bool(fx))
    if signed:
        unsigned = signs.isna() & raw[mapping[money_role]].notna()
        if fx and unsigned.any():
            raise SegkitDataError(
                f"'{source}' shows prices in {', '.join(sorted(signs.dropna().unique()))} in column "
                f"'{mapping[money_role]}', but {int(unsigned.sum()):,} lines show no currency sign (for example "
                f"'{raw.loc[unsigned, mapping[money_role]].iloc[0]}'); give every price its sign, or add a Currency column."
            )
        code = check_one_currency(signs, mapping[money_role], source, fx)
    quantity = (
        as_numbers(raw[mapping["quantity"]], mapping["quantity"], source, locale_hint=locale)
        if "quantity" in mapping else pd.Series(1.0, index=raw.index)
    )
    line_value = money if money_role == "amount" else money * quantity  # in the file's currency
    converted: dict[str, int] = {}
    if fx and (currency_column is not None or signed):
        money, converted = convert_to_base(money, raw[currency_column] if currency_column is not None else signs, fx)
    if money_role == "price":
        price = money
    else:
        price = money / quantity.where(quantity != 0)
        price = price.mask(price.isna() & money.notna(), 0.0)  # a blank amount stays missing
    out["Quantity"] = quantity
    out["UnitPrice"] = price
    out["CustomerID"] = customer_ids(raw[mapping["customer"]])
    out["Country"] = raw[mapping["country"]].astype("string") if "country" in mapping else UNKNOWN_COUNTRY
    order_fields = ORDER_FIELDS
    if "financial_status" in mapping:
        out[_STATUS] = raw[mapping["financial_status"]].astype("string").str.strip().replace("", pd.NA)
        order_fields += (_STATUS,)
    if "refunded_amount" in mapping:
        refunded = as_numbers(raw[mapping["refunded_amount"]], mapping["refunded_amount"], source, locale_hint=locale)
        if layout == WOOCOMMERCE and "refunded_amount" not in (columns or {}) and "invoice" in mapping:
            # its refunded_total holds shipping and tax too: the items' own refund instead
            extra = {role: as_numbers(raw[name], name, source, locale_hint=locale)
                     for role, name in WOOCOMMERCE_REFUND_COLUMNS.items() if name in raw.columns}
            refunded = items_refund(out["InvoiceNo"], line_value, refunded, extra.get("item_refunded"),
                                    extra.get("order_total"), source)
        out[_REFUNDED] = convert_to_base(refunded, raw[currency_column] if currency_column is not None else signs,
                                         fx)[0] if converted else refunded
        order_fields += (_REFUNDED,)

    if "invoice" not in mapping:
        # Without an invoice number each distinct customer + timestamp is one purchase.
        stamp = out["InvoiceDate"].dt.strftime(MADE_UP_INVOICE_TIME).astype("string")
        out["InvoiceNo"] = (out["CustomerID"].fillna(MADE_UP_INVOICE_NO_CUSTOMER) + MADE_UP_INVOICE_SEPARATOR
                            + stamp).astype("string")
    for col in TEXT_COLUMNS:
        out[col] = out[col].astype("string")
    if np.issubdtype(out["Quantity"].dtype, np.floating) and out["Quantity"].dropna().mod(1).eq(0).all():
        out["Quantity"] = out["Quantity"].astype("int64") if out["Quantity"].notna().all() else out["Quantity"]
    filled = fill_down_within_orders(out, order_fields) if "invoice" in mapping else 0
    settled: dict[str, list] = {}
    if _STATUS in out.columns or _REFUNDED in out.columns:
        out, settled = settle_orders(out, out.get(_STATUS), out.get(_REFUNDED), mapping, source)
    out = out[CANONICAL_COLUMNS].reset_index(drop=True)
    if filled:
        out.attrs[FILLED_DOWN] = filled
    if settled:
        out.attrs[SETTLED_ORDERS] = settled
    if layout is not None and layout not in LAYOUT_PRESETS["uci"]:
        out.attrs[LAYOUT_READ] = layout
    if code is not None:
        out.attrs[LOG_CURRENCY] = code
    if converted:
        out.attrs[CONVERTED] = converted
    return out


#: ``DataFrame.attrs`` key of a loaded log: the currency code of its money (from its currency
#: column; the base currency when ``--fx`` rates converted it); absent when the log names none.
LOG_CURRENCY = "currency"


#: ``DataFrame.attrs`` key of a loaded log: lines converted to the base currency, by the
#: currency they were in (``segkit.ingest.currency.convert_to_base``).
CONVERTED = "converted_to_base"


#: ``DataFrame.attrs`` key of a loaded log: the name of the shop layout it was read as
#: (``segkit.schema.KNOWN_LAYOUTS``; absent for the UCI layouts and a mapping of one's own).
LAYOUT_READ = "layout_read"


#: Columns an order's financial status and refunded amount are held in while loading.
_STATUS, _REFUNDED = "_FinancialStatus", "_RefundedAmount"


#: ``DataFrame.attrs`` key of a loaded log: lines whose blank customer, date or country
#: were taken from the other lines of their order (``fill_down_within_orders``).
FILLED_DOWN = "filled_down_within_orders"


#: Order-level fields: one value per order, which shop exports (Shopify's orders export)
#: write on an order's first line only (so are an order's financial status and refund).
ORDER_FIELDS = ("CustomerID", "InvoiceDate", "Country")


def fill_down_within_orders(lines: pd.DataFrame, fields: tuple[str, ...] = ORDER_FIELDS) -> int:
    """Fill blank ``fields`` of a line from the other lines of its order (same
    ``InvoiceNo``), in place, where those lines agree on one value; returns how many lines
    got a value. An order whose lines disagree, or that has no value at all, is left as it
    is (the cleaning rules then drop what still has no customer or date)."""
    orders = lines["InvoiceNo"]
    in_order = orders.notna()
    if not in_order.any():
        return 0
    filled = pd.Series(False, index=lines.index)
    for column in fields:
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


def resolve_mapping(raw: pd.DataFrame, mapping: dict[str, str], source: str) -> dict[str, str]:
    """Role -> column of ``raw``: the known layout whose columns it has most of (among the
    preset under ``LAYOUT_KEY``, if any), overridden by the roles ``mapping`` names; refused
    in one sentence when a required role has no column."""
    return _resolve(raw, mapping, source)[1]


def _resolve(raw: pd.DataFrame, mapping: dict[str, str], source: str) -> tuple[str | None, dict[str, str]]:
    """``resolve_mapping``, and the name of the known layout it started from."""
    found = list(raw.columns)
    mapping = dict(mapping)
    preset = mapping.pop(LAYOUT_KEY, None)
    mapping.pop(FX_KEY, None)
    unknown_roles = [r for r in mapping if r not in ROLES]
    if unknown_roles:
        raise SegkitDataError(f"Unknown column role(s) {', '.join(unknown_roles)}; known roles: {', '.join(ROLES)}.")
    # Start from the known layout that matches best, then apply the user's mapping.
    layout, best = best_layout(raw.columns, preset)
    resolved = {**best, **mapping}
    if "price" in mapping and "amount" not in mapping:
        resolved.pop("amount", None)
    if "amount" in mapping and "price" not in mapping:
        resolved.pop("price", None)

    missing_named = [f"{role}={col}" for role, col in resolved.items() if col not in raw.columns]
    if missing_named:
        raise ColumnsNotRecognised(
            f"'{source}' has no column {', '.join(missing_named)} named in the column mapping; "
            f"found: {short_list(found)}. Fix the names in --columns.",
            found,
        )
    missing_roles = [r for r in REQUIRED_ROLES if r not in resolved]
    if "price" not in resolved and "amount" not in resolved:
        missing_roles.append("price (or amount)")
    values = values_in_header(found) if missing_roles else []
    if values:  # not ColumnsNotRecognised: its names are data, no column to choose from
        raise SegkitDataError(
            f"'{source}' has no header row: its first line holds values ({short_list(values, 4)}), not column "
            "names; add a first line naming the columns (e.g. InvoiceNo, StockCode, Description, Quantity, "
            "InvoiceDate, UnitPrice, CustomerID, Country) and load the file again."
        )
    if missing_roles and preset:
        raise ColumnsNotRecognised(
            f"'{source}' is not a {' or '.join(LAYOUT_PRESETS[preset])} (--layout {preset}): it has no column for "
            f"{', '.join(missing_roles)}; found: {short_list(found)}{header_hint(raw)}. Leave --layout out, or pass "
            "--columns ROLE=COLUMN for the missing roles.",
            found,
        )
    if missing_roles:
        expected = ", ".join(
            f"{r.split()[0]}=<column>" for r in missing_roles
        )
        raise ColumnsNotRecognised(
            f"'{source}' has no column for {', '.join(missing_roles)}; found: {short_list(found)}"
            f"{header_hint(raw)}. "
            f"Rename the columns to the UCI layout (InvoiceNo, StockCode, Description, Quantity, "
            f"InvoiceDate, UnitPrice, CustomerID, Country) or pass --columns {expected}.",
            found,
        )
    if not mapping and "quantity" not in resolved and "price" in resolved:
        raise ColumnsNotRecognised(
            f"'{source}' has no Quantity column; add one, or pass --columns with the roles of its columns "
            f"(e.g. --columns customer={resolved.get('customer', 'CustomerID')},date={resolved.get('date', 'InvoiceDate')},"
            f"price={resolved['price']}) to declare that every line is one unit.",
            found,
        )
    return layout, resolved


