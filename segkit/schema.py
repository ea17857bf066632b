"""What a transaction log is, for every reader and engine: columns, roles, known layouts,
the rules for ids and missing values, and the date arithmetic of snapshot dates and observation windows.

A leaf: it imports nothing from segkit, so every layer above (ingest, rules, engines,
features, the page) takes these definitions from one place.
"""
from __future__ import annotations

import pandas as pd

__all__ = ["UNKNOWN_PRODUCT", "UNKNOWN_COUNTRY", "MADE_UP_INVOICE_SEPARATOR", "MADE_UP_INVOICE_NO_CUSTOMER", "MADE_UP_INVOICE_TIME", "OUT_OF_CORE_LINES", "tomorrow", "to_utc_naive", "snapshot_date_for", "window_start", "CANONICAL_COLUMNS", "ROLES", "REQUIRED_ROLES", "ORDER_STATUS_ROLES", "KNOWN_LAYOUTS", "LAYOUT_PRESETS", "LAYOUT_KEY", "FX_KEY", "ORDER_STATUSES", "SHOP_LAYOUT_SIGNATURE", "best_layout", "layout_columns", "MISSING_MARKERS", "WHOLE_NUMBER_ID", "MISSING_ID_TEXTS", "ID_SPACE", "ID_SPACE_CHARACTERS", "LINE_NUMBER", "LINE_COLUMNS", "TEXT_COLUMNS", "midnight_after"]


def to_utc_naive(dates: pd.Series | pd.Timestamp) -> pd.Series | pd.Timestamp:
    """Zoned timestamps (a column or one) as UTC wall time without a zone; naive ones unchanged."""
    if isinstance(dates, pd.Timestamp):
        return dates.tz_convert("UTC").tz_localize(None) if dates.tzinfo is not None else dates
    if getattr(dates.dt, "tz", None) is not None:
        return dates.dt.tz_convert("UTC").dt.tz_localize(None)
    return dates


def midnight_after(moment) -> pd.Timestamp:
    """Midnight ending the day of ``moment``: the exclusive end of a whole day (a date filter's
    last day, ``--until``)."""
    return pd.Timestamp(moment).normalize() + pd.Timedelta(days=1)


def snapshot_date_for(last_invoice: pd.Timestamp) -> pd.Timestamp:
    """The default snapshot date: midnight of the day after the last invoice."""
    return midnight_after(last_invoice)


def window_start(snapshot_date: pd.Timestamp, window_days: int | None) -> pd.Timestamp | None:
    """First moment of an observation window of ``window_days`` days ending at the snapshot date."""
    return None if window_days is None else pd.Timestamp(snapshot_date) - pd.Timedelta(days=int(window_days))


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
    "currency": "Currency",  # checked (one currency per log), not kept
    # applied when the log is read (``segkit.ingest.orders``), not kept: refunded, voided and
    # unpaid orders are dropped, partly refunded ones counted net
    "financial_status": "FinancialStatus",
    "refunded_amount": "RefundedAmount",
}


#: Roles only the pandas loader applies; the other engines refuse a log that has them.
ORDER_STATUS_ROLES = ("financial_status", "refunded_amount")


REQUIRED_ROLES = ("customer", "date")


#: Known layouts by name: role -> column name, or a tuple of names where the first one the
#: file has is taken (Shopify's "Paid at", else "Created at"). The layout whose columns a
#: file has most of is taken (``best_layout``).
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
    # Shopify admin, Orders > Export (one row per line item; order fields on the first line)
    "Shopify orders export": {
        "invoice": "Name", "customer": "Email", "date": ("Paid at", "Created at"),
        "quantity": "Lineitem quantity", "price": "Lineitem price", "product": "Lineitem sku",
        "description": "Lineitem name", "country": "Billing Country", "currency": "Currency",
        "financial_status": "Financial Status", "refunded_amount": "Refunded Amount",
    },
    # WooCommerce Customer / Order / Coupon Export, "one row per item" CSV format
    "WooCommerce orders export": {
        "invoice": "order_id", "customer": "billing_email", "date": ("order_date", "date_created"),
        "quantity": "item_quantity", "amount": "item_total", "product": "item_sku",
        "description": "item_name", "country": "billing_country", "currency": "order_currency",
        "financial_status": "status", "refunded_amount": "refunded_total",
    },
}


#: ``--layout NAME``: the known layouts each name stands for.
LAYOUT_PRESETS = {
    "uci": ("UCI Online Retail", "UCI Online Retail II"),
    "shopify": ("Shopify orders export",),
    "woocommerce": ("WooCommerce orders export",),
}


#: Key of a column mapping that names a preset (``--layout NAME``) instead of a role.
LAYOUT_KEY = "layout"


#: Key of a column mapping that carries exchange rates (``--fx FILE``) instead of a role:
#: the pandas loader converts every amount to their base currency (``segkit.ingest.currency``).
FX_KEY = "fx"


#: Roles a shop layout's columns must all be there for to be recognised without ``--layout``
#: (a file with only an "Email" and a "Name" column is not a Shopify export).
SHOP_LAYOUT_SIGNATURE = ("invoice", "customer", "date", "quantity", "price", "amount")


def best_layout(names, layout: str | None = None) -> tuple[str | None, dict[str, str]]:
    """The known layout (among ``LAYOUT_PRESETS[layout]``, or all) whose columns ``names``
    holds most of, as its name and role -> column for the columns present; ``(None, {})``
    when none has any. Without ``layout`` a shop layout counts only when ``names`` holds all
    its ``SHOP_LAYOUT_SIGNATURE`` columns. An unknown ``layout`` raises ``KeyError``."""
    names = set(names)
    candidates = LAYOUT_PRESETS[layout] if layout else tuple(KNOWN_LAYOUTS)
    best_name, best = None, {}
    for name in candidates:
        present = {}
        for role, spec in KNOWN_LAYOUTS[name].items():
            column = next((c for c in ((spec,) if isinstance(spec, str) else spec) if c in names), None)
            if column is not None:
                present[role] = column
        signature = [r for r in SHOP_LAYOUT_SIGNATURE if r in KNOWN_LAYOUTS[name]]
        if not layout and name not in LAYOUT_PRESETS["uci"] and any(r not in present for r in signature):
            continue
        if len(present) > len(best):
            best_name, best = name, present
    return best_name, best


def layout_columns(layout: str, role: str) -> tuple[str, ...]:
    """Every column name ``KNOWN_LAYOUTS[layout]`` accepts for ``role`` (none: ``()``)."""
    spec = KNOWN_LAYOUTS[layout].get(role, ())
    return (spec,) if isinstance(spec, str) else tuple(spec)


#: What an order's financial status means (lower case, spaces and hyphens as '_', a
#: WooCommerce 'wc-' prefix dropped): ``purchase`` counts; ``partly_refunded`` counts net
#: of its refunded amount; ``refunded``, ``voided`` (cancelled, failed) and ``unpaid``
#: (pending, authorized, on hold: no money taken yet) are not purchases. A blank status counts.
ORDER_STATUSES = {
    "paid": "purchase", "partially_paid": "purchase", "completed": "purchase", "processing": "purchase",
    "partially_refunded": "partly_refunded",
    "refunded": "refunded",
    "voided": "voided", "cancelled": "voided", "canceled": "voided", "failed": "voided",
    "pending": "unpaid", "authorized": "unpaid", "on_hold": "unpaid", "pending_payment": "unpaid",
    "expired": "unpaid", "checkout_draft": "unpaid", "draft": "unpaid", "unpaid": "unpaid",
}


#: Cell texts that mean "no value" in spreadsheet exports.
MISSING_MARKERS = ("", "#N/A", "#NA", "N/A", "NA", "nan", "NaN", "NAN", "null", "NULL", "None", "NaT")


#: Ids (customer, invoice, product) as text, one rule on every engine (this loader,
#: ``segkit.engines.base.canonical_table``, ``segkit.engines.outofcore``): trimmed, a whole number
#: with a decimal tail is its digits (``WHOLE_NUMBER_ID``: '17850.0' -> '17850'), and
#: these texts are missing (``MISSING_ID_TEXTS``: the same ``MISSING_MARKERS`` as every other
#: cell, so "NA" or "#N/A" is a blank id in a transaction log and in a customer table alike).
WHOLE_NUMBER_ID = r"^([0-9]+)\.0+$"  # ASCII digits: Python's \d also takes other scripts' digits, RE2's and Java's do not


MISSING_ID_TEXTS = MISSING_MARKERS


#: The characters trimmed from ids: what Python's ``str.strip`` removes (Unicode spaces,
#: no-break spaces, ASCII controls 0x1c-0x1f, U+0085), as one regular-expression class
#: that DuckDB (RE2) and Spark (Java) read alike (their own ``trim`` removes less).
ID_SPACE = r"[\s\v\p{Z}\x{85}\x{1c}-\x{1f}]"


#: The same characters one by one (``str.isspace``): for engines whose regular expressions
#: have no ``\p{Z}`` or ``\x{..}`` (PostgreSQL; ``segkit.engines.dialects``).
ID_SPACE_CHARACTERS = ("\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
                       "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")


#: Position of a line in its file (0, 1, ...): the tie-break of the cancellation netting.
LINE_NUMBER = "line_no"


#: The columns of a clean line: the canonical columns.
LINE_COLUMNS = CANONICAL_COLUMNS

#: The canonical columns held as text (the others are numbers and the date).
TEXT_COLUMNS = ("InvoiceNo", "StockCode", "Description", "CustomerID", "Country")



#: What a line gets for a column its log does not have.
UNKNOWN_PRODUCT = "UNKNOWN"
UNKNOWN_COUNTRY = "Unknown"
#: A log without invoice numbers: each distinct customer + moment is one purchase, named
#: ``<customer>@<YYYYmmddHHMMSS>`` ('?' for a missing customer), on every reader and engine.
MADE_UP_INVOICE_SEPARATOR = "@"
MADE_UP_INVOICE_NO_CUSTOMER = "?"
MADE_UP_INVOICE_TIME = "%Y%m%d%H%M%S"
#: A parquet log of more lines than this is aggregated out of core (DuckDB over the file),
#: by the command line and the page alike; the page's ``SEGKIT_LARGE_LOG_LINES`` overrides it.
OUT_OF_CORE_LINES = 3_000_000


def tomorrow(now: pd.Timestamp | None = None) -> pd.Timestamp:
    """``now`` (default: the current UTC time, without zone) plus one day: no valid line is dated later."""
    return (pd.Timestamp.now(tz="UTC").tz_localize(None) if now is None else pd.Timestamp(now)) + pd.Timedelta(days=1)
