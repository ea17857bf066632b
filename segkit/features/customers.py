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

The features are defined once, in ``segkit.rules.lines.customer_table``; this module runs
them in process with DuckDB (a path to a parquet file is read out of core) and gives the
table segkit's index and types (``finish_customers``).

Time zones: time-zone-aware timestamps are converted to UTC and the zone dropped
(``to_utc_naive``) on every path - the loader and every engine of ``segkit.engines``
(session time zone UTC) - so Recency and Tenure never depend on the machine's zone.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from segkit.rules.registry import compute_features, feature_functions, with_features
from segkit.schema import snapshot_date_for, to_utc_naive, window_start

__all__ = ["NUMERIC_FEATURES", "FEATURE_COLUMNS", "add_registered_features", "customer_features",
           "customer_features_as_of", "finish_customers", "data_fingerprint"]


NUMERIC_FEATURES = [
    "NumPurchases", "TotalQuantity", "TotalSpend", "Recency", "Tenure",
    "AvgOrderValue", "DistinctProducts",
]


FEATURE_COLUMNS = NUMERIC_FEATURES + ["Country", "FirstPurchase", "LastPurchase"]


def add_registered_features(customers: pd.DataFrame, lines: pd.DataFrame, names) -> pd.DataFrame:
    """``customers`` with the registered features ``names`` computed from ``lines``
    (``segkit.rules.registry``: the same on every engine)."""
    functions = feature_functions(names)
    return with_features(customers, compute_features(lines, functions), list(functions))


def customer_features(
    lines: pd.DataFrame | str | Path,
    snapshot_date: pd.Timestamp | str | None = None,
    engine="pandas",
    window_days: int | None = None,
    extra_features=(),
) -> pd.DataFrame:
    """Aggregate clean lines into one row per customer.

    The features are ``segkit.rules.lines.customer_table``: NumPurchases, TotalQuantity,
    TotalSpend, Recency, Tenure, AvgOrderValue, DistinctProducts, Country, FirstPurchase
    and LastPurchase (see the module docstring for their definitions).

    Parameters
    ----------
    lines : pandas.DataFrame, str or Path
        Clean lines (``segkit.clean.clean_transactions``) with ``CustomerID, InvoiceNo,
        StockCode, Quantity, UnitPrice, InvoiceDate, Country``, or the path of a parquet
        file of such lines.
    snapshot_date : pandas.Timestamp or str, optional
        The day Recency counts to; default the day after the last purchase in ``lines``.
    engine : {"pandas", "duckdb"} or Engine, default "pandas"
        Both names run the expressions in process with DuckDB; a
        ``segkit.engines.base.Engine`` passed in runs them on that engine.
    window_days : int, optional
        Observation window: count purchases and money over the last ``window_days`` days
        before the snapshot date only (dates still come from the whole history). ``None``:
        the whole log.
    extra_features : sequence of str
        Names of registered features (``segkit.rules.registry.register_feature``) to add
        as columns.

    Returns
    -------
    pandas.DataFrame
        One row per customer, indexed by ``CustomerID`` (text).

    Examples
    --------
    >>> from segkit.clean import clean_transactions
    >>> from segkit.ingest.sample import generate_sample_transactions
    >>> lines, _ = clean_transactions(generate_sample_transactions(n_customers=200))
    >>> customers = customer_features(lines, extra_features=["ChristmasShare"])
    >>> customers.index.name, len(customers)
    ('CustomerID', 200)
    >>> list(customers.columns[:5])
    ['NumPurchases', 'TotalQuantity', 'TotalSpend', 'Recency', 'Tenure']
    """
    # start-up: ibis and DuckDB load on first use, not on import (0.4 s, measured)
    from segkit.engines.base import Engine
    from segkit.engines.duckdb import local_engine

    # start-up: ibis and DuckDB load on first use, not on import (0.4 s, measured)
    from segkit.rules.lines import customer_table

    if not isinstance(engine, Engine) and engine not in ("pandas", "duckdb"):
        raise ValueError(f"engine must be 'pandas', 'duckdb' or a segkit.engines.base.Engine, not {engine!r}")
    if window_days is not None or extra_features:
        if not isinstance(lines, pd.DataFrame):
            lines = pd.read_parquet(lines)
        lines = lines.assign(InvoiceDate=to_utc_naive(lines["InvoiceDate"]))
        snapshot_date = snapshot_date_for(lines["InvoiceDate"].max()) if snapshot_date is None \
            else pd.Timestamp(snapshot_date)
        if window_days is not None:
            return _windowed_features(lines, snapshot_date, int(window_days), extra_features)
        table = customer_features(lines, snapshot_date, engine)
        return add_registered_features(table, lines, list(extra_features))
    snapshot_date = None if snapshot_date is None else pd.Timestamp(snapshot_date)
    if isinstance(engine, Engine):
        return finish_customers(engine.to_pandas(customer_table(engine.lines(lines), snapshot_date)))
    with local_engine() as local:
        return finish_customers(local.to_pandas(customer_table(local.lines(lines), snapshot_date)))


def customer_features_as_of(lines: pd.DataFrame, dates, window_days: int | None = None) -> dict[pd.Timestamp, pd.DataFrame]:
    """``customer_features`` at several dates in one pass: for each date ``d`` of ``dates``,
    the table ``customer_features(lines[InvoiceDate < d], snapshot_date=d, window_days=...)``
    would give, as ``{d: table}``; dates before the first purchase are left out. With
    ``window_days`` the counts and money of each date come from a second pass over the
    lines of its window (dates, recency and country over the whole history, as
    ``customer_features`` does).

    Each line is counted from the first date after it on: sums and the lines per country
    are cumulative sums over the dates, distinct invoices and products count each pair
    from its first date, the last purchase is a running maximum. Money is rounded to the
    cent as ``customer_features`` does.
    """
    dates = sorted({pd.Timestamp(d) for d in dates})
    if window_days is not None:
        history = customer_features_as_of(lines, dates)
        when = to_utc_naive(lines["InvoiceDate"])
        out = {}
        for date, table in history.items():
            inside = lines[(when >= window_start(date, window_days)).to_numpy()]
            counted = customer_features_as_of(inside, [date]).get(date, table.iloc[0:0])
            for column in ("NumPurchases", "TotalQuantity", "TotalSpend", "AvgOrderValue", "DistinctProducts"):
                table[column] = counted[column].reindex(table.index).fillna(0).astype(table[column].dtype)
            out[date] = table
        return out
    when = to_utc_naive(lines["InvoiceDate"])
    step = np.searchsorted(np.array(dates, dtype="datetime64[ns]"), when.to_numpy(dtype="datetime64[ns]"),
                           side="right")  # the first date this line counts at
    keep = step < len(dates)
    # integer codes: grouping on them is several times faster than on text
    customer_code, customer_ids = pd.factorize(lines["CustomerID"].astype("string").to_numpy()[keep])
    country_code, countries = pd.factorize(lines["Country"].astype("string").to_numpy()[keep], use_na_sentinel=True)
    frame = pd.DataFrame({"customer": customer_code, "step": step[keep],
                          "invoice": pd.factorize(lines["InvoiceNo"].to_numpy()[keep])[0],
                          "product": pd.factorize(lines["StockCode"].to_numpy()[keep])[0],
                          "Quantity": lines["Quantity"].to_numpy(dtype="float64")[keep],
                          "Spend": (lines["Quantity"].to_numpy(dtype="float64")
                                    * lines["UnitPrice"].to_numpy(dtype="float64"))[keep],
                          "country": country_code, "date": when.to_numpy(dtype="datetime64[ns]").astype("int64")[keep]})
    steps = range(len(dates))

    def running(per_step: pd.Series) -> pd.DataFrame:  # (customer, step) -> customers x steps, summed so far
        return per_step.unstack("step").reindex(columns=steps).fillna(0).cumsum(axis=1)

    def first_counted(column: str) -> pd.DataFrame:  # distinct values (not missing), each from its first step
        seen = frame[frame[column] >= 0]
        first = seen.groupby(["customer", column])["step"].min().reset_index()
        return running(first.groupby(["customer", "step"]).size())

    by_step = frame.groupby(["customer", "step"])
    quantity, spend = running(by_step["Quantity"].sum()), running(by_step["Spend"].sum())
    invoices, products = first_counted("invoice"), first_counted("product")
    wide = by_step["date"].max().unstack("step").reindex(columns=steps)
    latest = np.maximum.accumulate(wide.fillna(-1).to_numpy(dtype="int64"), axis=1)  # -1: no purchase yet
    known_at = latest >= 0
    first = frame.groupby("customer")["date"].min().reindex(wide.index).to_numpy()
    per_country = running(frame.groupby(["customer", "country", "step"]).size())  # country -1: missing
    out = {}
    for i, date in enumerate(dates):
        codes = wide.index.to_numpy()[known_at[:, i]]
        if not len(codes):
            continue
        counts = per_country[i][per_country[i] > 0].rename("n").reset_index()
        counts["missing"] = counts["country"] < 0
        counts["name"] = np.where(counts["missing"], "", np.asarray(countries, dtype=object)[counts["country"]])
        # most lines first, known countries before a missing one, ties by name
        top = (counts.sort_values(["customer", "missing", "n", "name"], ascending=[True, True, False, True])
               .drop_duplicates("customer").set_index("customer"))
        country = pd.Series(top["name"].where(~top["missing"]), index=top.index).reindex(codes)
        last = pd.to_datetime(latest[known_at[:, i], i])
        start = pd.to_datetime(first[known_at[:, i]])
        raw = pd.DataFrame({"CustomerID": customer_ids[codes],
                            "NumPurchases": invoices[i].reindex(codes).fillna(0).to_numpy(),
                            "TotalQuantity": quantity[i].reindex(codes).to_numpy(),
                            "TotalSpend": spend[i].reindex(codes).to_numpy(),
                            "FirstPurchase": start, "LastPurchase": last,
                            "DistinctProducts": products[i].reindex(codes).fillna(0).to_numpy(),
                            "Country": country.to_numpy(dtype=object),
                            "Recency": (date - last).days, "Tenure": (last - start).days})
        raw["AvgOrderValue"] = 0.0  # _tidy computes it from the rounded spend
        out[date] = finish_customers(raw)
    return out


def finish_customers(raw: pd.DataFrame) -> pd.DataFrame:
    """An engine's customer table (``segkit.rules.lines.customer_table``) with segkit's index,
    column order and types: ids as text, money rounded to the cent, whole days."""
    table = raw.set_index("CustomerID")
    table.index = table.index.astype("string")
    table.index.name = "CustomerID"
    for col in ("FirstPurchase", "LastPurchase"):
        table[col] = to_utc_naive(pd.to_datetime(table[col]))
    return _tidy(table)


def _windowed_features(lines: pd.DataFrame, snapshot_date: pd.Timestamp, window_days: int,
                       extra_features) -> pd.DataFrame:
    """Counts and money over the window; dates (First/LastPurchase, Recency, Tenure) and
    country over the whole history, since lifecycle facts are facts of the calendar.
    Customers with no purchase in the window keep their row with zero purchases and spend."""
    history = customer_features(lines, snapshot_date=snapshot_date)
    inside = lines[lines["InvoiceDate"] >= window_start(snapshot_date, window_days)]
    counted = customer_features(inside, snapshot_date=snapshot_date) if len(inside) else history.iloc[0:0]
    table = history.copy()
    for column in ("NumPurchases", "TotalQuantity", "TotalSpend", "AvgOrderValue", "DistinctProducts"):
        table[column] = counted[column].reindex(table.index).fillna(0).astype(history[column].dtype)
    table = table[(table["FirstPurchase"] < snapshot_date)]
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

