"""Customer-level features from clean transaction lines.

One row per customer, indexed by ``CustomerID``:

- ``NumPurchases``: distinct invoices.
- ``TotalQuantity``: units bought.
- ``TotalSpend``: sum of ``Quantity * UnitPrice`` (currency units).
- ``Recency``: whole days from the last purchase to the snapshot date (by default the
  day after the last invoice in the data, at midnight).
- ``Tenure``: whole days from the first to the last purchase.
- ``AvgOrderValue``: ``TotalSpend / NumPurchases``.
- ``DistinctProducts``: distinct StockCodes.
- ``Country``: the customer's most frequent country (ties: alphabetical first).
- ``FirstPurchase`` / ``LastPurchase``: timestamps.

The features are defined once, in ``segkit.rules.customer_table``; this module runs
them in process with DuckDB (a path to a parquet file is read out of core) and gives the
table segkit's index and types (``finish_customers``).

Time zones: time-zone-aware timestamps are converted to UTC and the zone dropped
(``to_utc_naive``) on every path - the loader and every engine of ``segkit.engine``
(session time zone UTC) - so Recency and Tenure never depend on the machine's zone.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

__all__ = [
    "register_feature",
    "REGISTERED_FEATURES",
    "FEATURE_TRANSFORMS",
    "add_registered_features",
    "window_start",
    "data_fingerprint",
    "FEATURE_COLUMNS",
    "NUMERIC_FEATURES",
    "PRODUCT_CATEGORIES",
    "customer_features",
    "finish_customers",
    "snapshot_date_for",
    "product_category",
    "to_utc_naive",
]

NUMERIC_FEATURES = [
    "NumPurchases", "TotalQuantity", "TotalSpend", "Recency", "Tenure",
    "AvgOrderValue", "DistinctProducts",
]
FEATURE_COLUMNS = NUMERIC_FEATURES + ["Country", "FirstPurchase", "LastPurchase"]

#: Product category -> words in the description that put a product there (first match wins).
PRODUCT_CATEGORIES: dict[str, tuple[str, ...]] = {
    "Christmas": ("CHRISTMAS", "XMAS", "ADVENT", "SANTA", "REINDEER", "SNOWFLAKE"),
    "Bags": ("BAG", "TOTE", "PURSE", "SHOPPER"),
    "Kitchen": ("MUG", "CUP", "PLATE", "BOWL", "TEA", "CAKE", "LUNCH BOX", "JAR", "BAKING", "SPOON", "NAPKIN", "TRAY", "BOTTLE"),
    "Candles & lights": ("CANDLE", "T-LIGHT", "LANTERN", "LIGHT", "HOLDER", "NIGHT LIGHT"),
    "Home decor": ("HEART", "SIGN", "FRAME", "CLOCK", "CUSHION", "DOORMAT", "HANGING", "MIRROR", "VINTAGE", "WALL", "DECORATION", "BUNTING", "ORNAMENT"),
    "Stationery & gifts": ("CARD", "WRAP", "PAPER", "NOTEBOOK", "PEN", "STICKER", "GIFT", "RIBBON", "BOX", "TISSUE"),
    "Toys & kids": ("TOY", "DOLLY", "CHILDREN", "KIDS", "GAME", "PARTY", "BALLOON", "SPACEBOY", "DOLL", "TEDDY"),
    "Garden": ("GARDEN", "PLANT", "FLOWER", "WATERING", "BIRD"),
}
OTHER_CATEGORY = "Other"


def product_category(descriptions: pd.Series) -> pd.Series:
    """Map product descriptions to a coarse category by keyword (``PRODUCT_CATEGORIES``)."""
    text = descriptions.astype("string").str.upper().fillna("")
    result = pd.Series(OTHER_CATEGORY, index=descriptions.index, dtype="string")
    assigned = pd.Series(False, index=descriptions.index)
    for category, words in PRODUCT_CATEGORIES.items():
        pattern = r"\b(?:" + "|".join(re.escape(w) for w in words) + r")S?\b"
        hit = text.str.contains(pattern, regex=True) & ~assigned
        result[hit] = category
        assigned |= hit
    return result


def to_utc_naive(dates: pd.Series) -> pd.Series:
    """Zoned timestamps as UTC wall time without a zone; naive ones unchanged."""
    if getattr(dates.dt, "tz", None) is not None:
        return dates.dt.tz_convert("UTC").dt.tz_localize(None)
    return dates


def snapshot_date_for(last_invoice: pd.Timestamp) -> pd.Timestamp:
    """The default snapshot: midnight of the day after the last invoice."""
    return pd.Timestamp(last_invoice).normalize() + pd.Timedelta(days=1)


#: A customer feature computed from clean lines: ``func(lines) -> Series`` indexed by
#: CustomerID (customers it leaves out get 0).
CustomerFeature = Callable[[pd.DataFrame], pd.Series]
REGISTERED_FEATURES: dict[str, CustomerFeature] = {}
#: How a registered feature is transformed before scaling: "log1p" (skewed counts and
#: money) or "identity" (shares, scores).
FEATURE_TRANSFORMS: dict[str, str] = {}


def register_feature(name: str, func: CustomerFeature | None = None, transform: str = "log1p"):
    """Register a customer feature by name, so that ``train`` / ``score`` / the CLI's
    ``--feature NAME`` / the page compute it from the clean lines. Use as a decorator::

        @register_feature("WeekendShare")
        def weekend_share(lines):
            spend = lines["Quantity"] * lines["UnitPrice"]
            weekend = spend.where(lines["InvoiceDate"].dt.day_of_week >= 5, 0.0)
            return weekend.groupby(lines["CustomerID"]).sum() / spend.groupby(lines["CustomerID"]).sum()
    """
    def add(function: CustomerFeature) -> CustomerFeature:
        REGISTERED_FEATURES[name] = function
        FEATURE_TRANSFORMS[name] = transform
        return function

    return add(func) if func is not None else add


@register_feature("ChristmasShare", transform="identity")
def christmas_share(lines: pd.DataFrame) -> pd.Series:
    """Share of the customer's spend on Christmas products (``product_category``), 0..1."""
    spend = lines["Quantity"] * lines["UnitPrice"]
    christmas = spend.where(product_category(lines["Description"]) == "Christmas", 0.0) if "Description" in lines \
        else spend * 0.0
    total = spend.groupby(lines["CustomerID"], observed=True).sum()
    return (christmas.groupby(lines["CustomerID"], observed=True).sum() / total.where(total > 0)).fillna(0.0).clip(0, 1)


@register_feature("CategoriesBought")
def categories_bought(lines: pd.DataFrame) -> pd.Series:
    """Number of product categories (``product_category``) the customer bought from."""
    if "Description" not in lines:
        return pd.Series(1, index=pd.unique(lines["CustomerID"]))
    return product_category(lines["Description"]).groupby(lines["CustomerID"], observed=True).nunique()


def add_registered_features(customers: pd.DataFrame, lines: pd.DataFrame, names) -> pd.DataFrame:
    """``customers`` with the registered features ``names`` computed from ``lines``
    (``segkit.extra_features``: the same on every engine)."""
    from .extra_features import compute_features, feature_functions, with_features

    functions = feature_functions(names)
    return with_features(customers, compute_features(lines, functions), list(functions))


def window_start(snapshot: pd.Timestamp, window_days: int | None) -> pd.Timestamp | None:
    """First moment of an observation window of ``window_days`` days ending at the snapshot."""
    return None if window_days is None else pd.Timestamp(snapshot) - pd.Timedelta(days=int(window_days))


def customer_features(
    lines: pd.DataFrame | str | Path,
    snapshot_date: pd.Timestamp | str | None = None,
    engine="pandas",
    window_days: int | None = None,
    extra_features=(),
) -> pd.DataFrame:
    """Aggregate clean lines into one row per customer (see the module docstring).

    ``lines`` needs ``CustomerID, InvoiceNo, StockCode, Quantity, UnitPrice,
    InvoiceDate, Country``; it may also be the path of a parquet file of such lines.
    The features are ``segkit.rules.customer_table``, run in process by DuckDB
    (``engine="pandas"`` or ``"duckdb"``) or by a ``segkit.engine.Engine`` passed in.
    ``window_days``: count only the lines of the last ``window_days`` days before the
    snapshot (the observation window; ``None``: the whole log). ``extra_features``:
    names of registered features (``register_feature``) to add.
    """
    from .engine import Engine, local_engine
    from .rules import customer_table

    if not isinstance(engine, Engine) and engine not in ("pandas", "duckdb"):
        raise ValueError(f"engine must be 'pandas', 'duckdb' or a segkit.engine.Engine, not {engine!r}")
    if window_days is not None or extra_features:
        if not isinstance(lines, pd.DataFrame):
            lines = pd.read_parquet(lines)
        lines = lines.assign(InvoiceDate=to_utc_naive(lines["InvoiceDate"]))
        snapshot = snapshot_date_for(lines["InvoiceDate"].max()) if snapshot_date is None \
            else pd.Timestamp(snapshot_date)
        if window_days is not None:
            return _windowed_features(lines, snapshot, int(window_days), extra_features)
        table = customer_features(lines, snapshot, engine)
        return add_registered_features(table, lines, list(extra_features))
    snapshot = None if snapshot_date is None else pd.Timestamp(snapshot_date)
    if isinstance(engine, Engine):
        return finish_customers(engine.to_pandas(customer_table(engine.lines(lines), snapshot)))
    with local_engine() as local:
        return finish_customers(local.to_pandas(customer_table(local.lines(lines), snapshot)))


def finish_customers(raw: pd.DataFrame) -> pd.DataFrame:
    """An engine's customer table (``segkit.rules.customer_table``) with segkit's index,
    column order and types: ids as text, money rounded to the cent, whole days."""
    table = raw.set_index("CustomerID")
    table.index = table.index.astype("string")
    table.index.name = "CustomerID"
    for col in ("FirstPurchase", "LastPurchase"):
        stamps = pd.to_datetime(table[col])
        if getattr(stamps.dt, "tz", None) is not None:
            stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
        table[col] = stamps
    return _tidy(table)


def _windowed_features(lines: pd.DataFrame, snapshot: pd.Timestamp, window_days: int, extra_features) -> pd.DataFrame:
    """Counts and money over the window; dates (First/LastPurchase, Recency, Tenure) and
    country over the whole history, since lifecycle facts are facts of the calendar.
    Customers with no purchase in the window keep their row with zero purchases and spend."""
    history = customer_features(lines, snapshot_date=snapshot)
    inside = lines[lines["InvoiceDate"] >= window_start(snapshot, window_days)]
    counted = customer_features(inside, snapshot_date=snapshot) if len(inside) else history.iloc[0:0]
    table = history.copy()
    for column in ("NumPurchases", "TotalQuantity", "TotalSpend", "AvgOrderValue", "DistinctProducts"):
        table[column] = counted[column].reindex(table.index).fillna(0).astype(history[column].dtype)
    table = table[(table["FirstPurchase"] < snapshot)]
    return add_registered_features(table, inside, list(extra_features)) if extra_features else table


def _tidy(table: pd.DataFrame) -> pd.DataFrame:
    table = table.reindex(columns=FEATURE_COLUMNS).copy()
    table["TotalSpend"] = table["TotalSpend"].astype("float64").round(2)
    # a customer without purchases in an observation window spends 0 per order
    orders = table["NumPurchases"].where(table["NumPurchases"] > 0)
    table["AvgOrderValue"] = (table["TotalSpend"] / orders).fillna(0.0).round(2)
    for col in ("NumPurchases", "DistinctProducts", "Recency", "Tenure"):
        table[col] = table[col].astype("int64")
    quantity = table["TotalQuantity"].astype("float64")
    table["TotalQuantity"] = quantity.astype("int64") if np.all(np.mod(quantity, 1) == 0) else quantity
    table["Country"] = table["Country"].astype("string")
    for col in ("FirstPurchase", "LastPurchase"):
        table[col] = table[col].astype("datetime64[ns]")
    return table.sort_index()


def data_fingerprint(customers: pd.DataFrame) -> str:
    """A short, stable hash of a customer table (ids and numeric features)."""
    cols = [c for c in NUMERIC_FEATURES if c in customers.columns]
    frame = customers[cols].astype("float64").round(6)
    frame.index = frame.index.astype(str)
    hashed = pd.util.hash_pandas_object(frame, index=True).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()[:16]
