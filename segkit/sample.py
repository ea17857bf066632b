"""A deterministic, realistic transaction log in the UCI Online Retail layout.

Used whenever no data set is given, and by the fast tests. It imitates what makes the
real file hard: a UK-heavy customer base, a few heavy-tailed wholesale buyers, one-off
and lapsed customers, new customers in the last months, a November peak, cancellations
(including one giant order cancelled the same day), lines without a CustomerID,
postage and manual-adjustment lines, and exact duplicate lines.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["SAMPLE_LABEL", "generate_sample_transactions"]

SAMPLE_LABEL = "built-in sample data (synthetic, not a real retailer)"

_COUNTRIES = {
    "United Kingdom": 0.86, "Germany": 0.03, "France": 0.025, "EIRE": 0.02, "Spain": 0.01,
    "Netherlands": 0.01, "Belgium": 0.008, "Switzerland": 0.007, "Portugal": 0.006,
    "Australia": 0.005, "Norway": 0.005, "Italy": 0.004,
}
_ADJECTIVES = ["WHITE", "RED", "PINK", "BLUE", "VINTAGE", "RETRO", "REGENCY", "JUMBO", "SMALL",
               "SET OF 3", "ASSORTED", "PAPER", "GLASS", "ENAMEL", "FELTCRAFT", "SPOTTY"]
_NOUNS = ["HANGING HEART T-LIGHT HOLDER", "CHRISTMAS BAUBLE", "LUNCH BAG", "TEA CUP AND SAUCER",
          "CAKE STAND", "PARTY BUNTING", "NIGHT LIGHT", "SHOPPER BAG", "ALARM CLOCK", "WALL SIGN",
          "GIFT WRAP", "GREETING CARD", "DOLLY GIRL LUNCH BOX", "CANDLE", "PHOTO FRAME",
          "CUSHION COVER", "DOORMAT", "WATERING CAN", "BIRD ORNAMENT", "NOTEBOOK", "TOY TIDY",
          "ADVENT CALENDAR", "JAM JAR", "BAKING SET", "STORAGE TIN"]

# Months Dec 2010 .. Dec 2011: autumn ramp and a November peak, as in the real file.
_MONTH_WEIGHT = {12: 1.0, 1: 0.75, 2: 0.7, 3: 0.9, 4: 0.8, 5: 0.95, 6: 0.95, 7: 0.95,
                 8: 0.95, 9: 1.35, 10: 1.5, 11: 2.0}


def generate_sample_transactions(n_customers: int = 2000, seed: int = 7) -> pd.DataFrame:
    """Return a synthetic log (UCI columns, CustomerID as float with NaN like the UCI file).

    The same ``n_customers`` and ``seed`` always give the same rows.
    """
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2010-12-01")
    days = pd.date_range(start, "2011-12-09", freq="D")
    day_weight = np.array([_MONTH_WEIGHT[d.month] for d in days]) * np.where(days.day_of_week == 5, 0.0, 1.0)
    day_weight = day_weight / day_weight.sum()

    products = _products(rng)

    # Customers: kind decides how often, how much and when they buy.
    ids = 12346 + rng.permutation(int(n_customers * 2.2))[:n_customers]
    kind = rng.choice(["wholesale", "loyal", "regular", "occasional", "lapsed", "new"],
                      size=n_customers, p=[0.04, 0.14, 0.30, 0.24, 0.18, 0.10])
    countries = rng.choice(list(_COUNTRIES), size=n_customers, p=_normalised(list(_COUNTRIES.values())))
    mean_orders = {"wholesale": 25, "loyal": 9, "regular": 3.5, "occasional": 1.3, "lapsed": 2.5, "new": 1.6}
    lines_per_order = {"wholesale": 16, "loyal": 8, "regular": 7, "occasional": 6, "lapsed": 6, "new": 6}
    units = {"wholesale": 48, "loyal": 10, "regular": 8, "occasional": 6, "lapsed": 7, "new": 6}
    n_orders = np.maximum(1, rng.poisson([mean_orders[k] for k in kind]) + (kind == "wholesale") * rng.pareto(1.5, n_customers).astype(int) * 3)

    # When each customer's orders fall: lapsed ones stop early, new ones start late.
    active_from = np.where(kind == "new", rng.integers(len(days) - 75, len(days) - 5, n_customers), 0)
    active_to = np.where(kind == "lapsed", rng.integers(30, 200, n_customers), len(days))
    order_customer = np.repeat(np.arange(n_customers), n_orders)
    order_day = _draw_days(rng, day_weight, active_from[order_customer], active_to[order_customer])
    order_seconds = rng.integers(8 * 3600, 19 * 3600, len(order_customer)) // 60 * 60
    order_time = days.values[order_day] + order_seconds.astype("timedelta64[s]")

    orders = pd.DataFrame({"cust": order_customer, "InvoiceDate": order_time})
    # A few guest checkouts: orders without a CustomerID, as in the real file.
    n_guest = int(len(orders) * 0.08)
    guests = pd.DataFrame({"cust": -1, "InvoiceDate": days.values[_draw_days(rng, day_weight, np.zeros(n_guest, int), np.full(n_guest, len(days)))]
                           + rng.integers(8 * 3600, 19 * 3600, n_guest).astype("timedelta64[s]")})
    orders = pd.concat([orders, guests], ignore_index=True).sort_values("InvoiceDate", kind="stable").reset_index(drop=True)
    orders["InvoiceNo"] = (536365 + np.arange(len(orders))).astype(str)
    order_kind = np.where(orders["cust"].to_numpy() >= 0, kind[orders["cust"].clip(lower=0)], "guest")

    n_lines = np.maximum(1, rng.poisson([lines_per_order.get(k, 25) for k in order_kind]))
    line_order = np.repeat(np.arange(len(orders)), n_lines)
    popularity = _normalised(1 / np.arange(1, len(products) + 1) ** 0.8)
    line_product = rng.choice(len(products), size=len(line_order), p=popularity)
    base_units = np.array([units.get(k, 6) for k in order_kind])[line_order]
    quantity = np.maximum(1, rng.geometric(1 / base_units)).astype(np.int64)
    pack = rng.choice([1, 1, 1, 2, 3, 4, 6, 12], size=len(line_order))
    quantity = np.where(base_units > 20, quantity // pack * pack + pack, quantity)

    cust_of_line = orders["cust"].to_numpy()[line_order]
    lines = pd.DataFrame({
        "InvoiceNo": orders["InvoiceNo"].to_numpy()[line_order],
        "StockCode": products["StockCode"].to_numpy()[line_product],
        "Description": products["Description"].to_numpy()[line_product],
        "Quantity": quantity,
        "InvoiceDate": orders["InvoiceDate"].to_numpy()[line_order],
        "UnitPrice": products["UnitPrice"].to_numpy()[line_product],
        "CustomerID": np.where(cust_of_line >= 0, ids[np.maximum(cust_of_line, 0)], np.nan),
        "Country": np.where(cust_of_line >= 0, countries[np.maximum(cust_of_line, 0)], "United Kingdom"),
    })
    lines = pd.concat([lines, _postage(orders, lines), _cancellations(rng, lines), _giant_cancelled_order(lines, ids)],
                      ignore_index=True)
    duplicated = lines.sample(frac=0.01, random_state=seed)
    lines = pd.concat([lines, duplicated]).sort_values(["InvoiceDate", "InvoiceNo"], kind="stable").reset_index(drop=True)
    lines["Description"] = lines["Description"].astype("string")
    lines["Country"] = lines["Country"].astype("string")
    lines["InvoiceNo"] = lines["InvoiceNo"].astype("string")
    lines["StockCode"] = lines["StockCode"].astype("string")
    lines["InvoiceDate"] = lines["InvoiceDate"].astype("datetime64[ns]")
    return lines


def _normalised(weights) -> np.ndarray:
    weights = np.asarray(weights, dtype=float)
    return weights / weights.sum()


def _draw_days(rng, weight: np.ndarray, low, high) -> np.ndarray:
    """Draw a day index per order from ``weight`` restricted to [low, high)."""
    low, high = np.asarray(low), np.asarray(high)
    cdf = np.cumsum(weight)
    lo_mass = np.where(low > 0, cdf[np.maximum(low - 1, 0)], 0.0)
    hi_mass = cdf[np.minimum(high, len(cdf)) - 1]
    u = lo_mass + rng.random(low.shape) * (hi_mass - lo_mass)
    return np.minimum(np.searchsorted(cdf, u), len(cdf) - 1)


def _products(rng) -> pd.DataFrame:
    names = [f"{a} {n}" for n in _NOUNS for a in _ADJECTIVES]
    chosen = rng.choice(len(names), size=300, replace=False)
    codes = [f"{21000 + i * 7}{'' if i % 4 else 'A'}" for i in range(300)]
    price = np.round(np.exp(rng.normal(0.9, 0.8, 300)), 2).clip(0.19, 60)
    return pd.DataFrame({"StockCode": codes, "Description": [names[i] for i in chosen], "UnitPrice": price})


def _postage(orders: pd.DataFrame, lines: pd.DataFrame) -> pd.DataFrame:
    """Foreign orders carry a POST line; some orders get a manual 'M' adjustment."""
    first = lines.drop_duplicates("InvoiceNo")
    foreign = first[first["Country"] != "United Kingdom"]
    post = foreign.assign(StockCode="POST", Description="POSTAGE", Quantity=1, UnitPrice=18.0)
    manual = first.iloc[::97].assign(StockCode="M", Description="Manual", Quantity=1, UnitPrice=2.5)
    return pd.concat([post, manual])


def _cancellations(rng, lines: pd.DataFrame) -> pd.DataFrame:
    """About 2% of customer orders are partly cancelled a few days later (C invoices)."""
    known = lines[lines["CustomerID"].notna()]
    invoices = known["InvoiceNo"].unique()
    cancelled = rng.choice(invoices, size=max(1, int(len(invoices) * 0.02)), replace=False)
    picked = known[known["InvoiceNo"].isin(cancelled)].groupby("InvoiceNo").head(2)
    return picked.assign(
        InvoiceNo="C" + picked["InvoiceNo"],
        Quantity=-picked["Quantity"],
        InvoiceDate=picked["InvoiceDate"] + pd.Timedelta(days=2),
    )


def _giant_cancelled_order(lines: pd.DataFrame, ids: np.ndarray) -> pd.DataFrame:
    """The UCI trap: a huge order cancelled the same day (like 581483 / C581484)."""
    when = lines["InvoiceDate"].max() - pd.Timedelta(hours=2)
    order = pd.DataFrame([{
        "InvoiceNo": "581483", "StockCode": "23843", "Description": "PAPER CRAFT , LITTLE BIRDIE",
        "Quantity": 80995, "InvoiceDate": when, "UnitPrice": 2.08, "CustomerID": float(ids[0]),
        "Country": "United Kingdom",
    }])
    cancel = order.assign(InvoiceNo="C581484", Quantity=-80995, InvoiceDate=when + pd.Timedelta(minutes=5))
    return pd.concat([order, cancel])
