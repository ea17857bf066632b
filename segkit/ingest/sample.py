"""A deterministic, realistic transaction log in the UCI Online Retail layout.

Used whenever no data set is given, and by the fast tests. It imitates what makes the
real file hard: a UK-heavy customer base, a small top tier of wholesale buyers (about
6 %, spending a few thousand to six figures each, far above the next tier), one-off
and lapsed customers, new customers in the last months, a November peak, cancellations
(including one giant order cancelled the same day), lines without a CustomerID,
postage and manual-adjustment lines, and exact duplicate lines.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

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

    >>> log = generate_sample_transactions(n_customers=300, seed=1)
    >>> list(log.columns)
    ['InvoiceNo', 'StockCode', 'Description', 'Quantity', 'InvoiceDate', 'UnitPrice', 'CustomerID', 'Country']
    >>> log.equals(generate_sample_transactions(n_customers=300, seed=1))
    True
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
                      size=n_customers, p=[0.06, 0.17, 0.28, 0.25, 0.15, 0.09])
    countries = rng.choice(list(_COUNTRIES), size=n_customers, p=_normalised(list(_COUNTRIES.values())))
    mean_orders = {"wholesale": 18, "loyal": 9, "regular": 3.5, "occasional": 1.3, "lapsed": 2.5, "new": 1.6}
    lines_per_order = {"wholesale": 12, "loyal": 8, "regular": 7, "occasional": 6, "lapsed": 6, "new": 6}
    units = {"wholesale": 16, "loyal": 10, "regular": 8, "occasional": 6, "lapsed": 7, "new": 6}
    n_orders = rng.poisson([mean_orders[k] for k in kind])
    # Wholesale buyers: a heavy tail of extra orders (capped: no lone giant far beyond the rest).
    n_orders = np.maximum(1, n_orders + (kind == "wholesale") * np.minimum(rng.pareto(1.5, n_customers).astype(int) * 3, 60))

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
    # Wholesale baskets vary widely from buyer to buyer, so their spend runs from a few
    # thousand to six figures, one continuous top tier as in the real file.
    basket = np.where(kind == "wholesale", rng.lognormal(0.0, 0.6, n_customers), 1.0)
    order_basket = np.where(orders["cust"].to_numpy() >= 0, basket[orders["cust"].clip(lower=0)], 1.0)
    base_units = np.maximum(1.0, np.array([units.get(k, 6) for k in order_kind]) * order_basket)[line_order]
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


# --------------------------------------------------------------------------- large logs

__all__ += ["customers_for_lines", "write_large_log"]

_KINDS = ("wholesale", "loyal", "regular", "occasional", "lapsed", "new")
_KIND_SHARE = (0.04, 0.14, 0.30, 0.24, 0.18, 0.10)
_KIND_ORDERS = np.array([25, 9, 3.5, 1.3, 2.5, 1.6])   # relative order frequency
_KIND_LINES = np.array([16, 8, 7, 6, 6, 6])             # mean lines per order
_KIND_UNITS = np.array([48, 10, 8, 6, 7, 6])            # mean units per line
_GUEST_LINES, _GUEST_UNITS, _GUEST_SHARE = 25, 6, 0.08


def customers_for_lines(n_lines: int) -> int:
    """Default customer count: ~300k for 10M lines, ~1M for 100M (a power law between)."""
    return max(50, int(round(300_000 * (n_lines / 1e7) ** 0.5229)))


def write_large_log(path, n_lines: int, n_customers: int | None = None, seed: int = 0,
                    chunk_lines: int = 1_000_000) -> "Path":
    """Write a synthetic log of exactly ``n_lines`` lines to a parquet file, chunk by chunk.

    Same layout and traps as ``generate_sample_transactions`` (UK-heavy, heavy-tailed
    wholesale buyers, lapsed and new customers, November peak, ~2% of orders partly
    cancelled two days later by a ``C`` invoice, guest orders without CustomerID, POST and
    M lines, ~1% exact duplicate lines, one giant order cancelled the same day), for
    ``n_customers`` customers (default ``customers_for_lines(n_lines)``; a few of the
    rarest buyers may end up with no order). Each chunk of ``chunk_lines`` lines is drawn
    from its own slice of the year, sorted by date and written as one row group, so memory
    stays at one chunk whatever ``n_lines`` is. The same arguments give the same file.
    Timestamps are stored in microseconds, which Spark reads (it refuses nanoseconds).
    Returns the path.
    """
    path = Path(path)
    if n_lines < 1 or chunk_lines < 1:
        raise ValueError("n_lines and chunk_lines must be positive")
    n_customers = customers_for_lines(n_lines) if n_customers is None else int(n_customers)
    pop = _large_population(np.random.default_rng([seed, 0]), n_customers)
    schema = pa.schema([
        ("InvoiceNo", pa.string()), ("StockCode", pa.string()), ("Description", pa.string()),
        ("Quantity", pa.int64()), ("InvoiceDate", pa.timestamp("us")), ("UnitPrice", pa.float64()),
        ("CustomerID", pa.float64()), ("Country", pa.string()),
    ])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    next_invoice = 536365
    with pq.ParquetWriter(tmp, schema, compression="snappy") as writer:
        for start in range(0, n_lines, chunk_lines):
            size = min(chunk_lines, n_lines - start)
            rng = np.random.default_rng([seed, 1, start // chunk_lines])
            chunk, next_invoice = _large_chunk(
                rng, pop, size, (start / n_lines, (start + size) / n_lines), next_invoice,
                giant=start + size == n_lines,
            )
            writer.write_table(pa.table(chunk, schema=schema), row_group_size=size)
    tmp.replace(path)
    return path


def _large_population(rng, n_customers: int) -> dict:
    days = pd.date_range("2010-12-01", "2011-12-09", freq="D")
    day_weight = np.array([_MONTH_WEIGHT[d.month] for d in days]) * np.where(days.day_of_week == 5, 0.0, 1.0)
    kind = rng.choice(len(_KINDS), size=n_customers, p=_KIND_SHARE)
    orders = _KIND_ORDERS[kind] * rng.lognormal(-0.125, 0.5, n_customers)
    orders += np.where(kind == 0, rng.pareto(1.5, n_customers) * 3, 0.0)
    n_days = len(days)
    active_from = np.where(kind == 5, rng.integers(n_days - 75, n_days - 5, n_customers), 0)
    active_to = np.where(kind == 4, rng.integers(30, 200, n_customers), n_days)
    # Customers with a short window (lapsed, new) buy more often while active.
    day_cdf = np.cumsum(day_weight) / day_weight.sum()
    window = day_cdf[active_to - 1] - np.where(active_from > 0, day_cdf[np.maximum(active_from - 1, 0)], 0.0)
    names = [f"{a} {n}" for n in _NOUNS for a in _ADJECTIVES]
    n_products = 3000
    sizes = ["", " SMALL", " LARGE", " MINI", " XL", " SET", " PACK OF 6", " GIANT"]
    descriptions = [names[i % len(names)] + sizes[(i // len(names)) % len(sizes)] for i in rng.permutation(n_products)]
    codes = [f"{20000 + i * 3}{'' if i % 5 else 'B'}" for i in range(n_products)]
    prices = np.round(np.exp(rng.normal(0.9, 0.8, n_products)), 2).clip(0.19, 60)
    # Three extra "products": postage, manual adjustment and the giant order's product.
    codes += ["POST", "M", "23843"]
    descriptions += ["POSTAGE", "Manual", "PAPER CRAFT , LITTLE BIRDIE"]
    prices = np.concatenate([prices, [18.0, 2.5, 2.08]])
    return {
        "ids": (12346 + rng.permutation(int(n_customers * 2.2))[:n_customers]).astype("float64"),
        "kind": kind,
        "activity": orders / np.maximum(window, 1e-3),
        "country": rng.choice(len(_COUNTRIES), size=n_customers, p=_normalised(list(_COUNTRIES.values()))),
        "active_from": active_from,
        "active_to": active_to,
        "days": days.values.astype("datetime64[ns]"),
        "day_cdf": day_cdf,
        "n_products": n_products,
        "popularity_cdf": np.cumsum(_normalised(1 / np.arange(1, n_products + 1) ** 0.8)),
        "codes": codes, "descriptions": descriptions, "prices": prices,
        "countries": list(_COUNTRIES),
    }


def _large_chunk(rng, pop: dict, size: int, share: tuple[float, float], next_invoice: int, giant: bool):
    """One chunk of exactly ``size`` lines from the slice ``share`` of the year's orders."""
    target = int(size * 0.965)  # the rest: postage, manual, cancellation and duplicate lines
    mean_lines = float(np.dot(_KIND_SHARE, _KIND_LINES)) * (1 - _GUEST_SHARE) + _GUEST_LINES * _GUEST_SHARE
    n_orders = int(target / mean_lines * 1.3) + 10
    # Orders: a day from this chunk's slice of the year, then a customer active that day.
    u = rng.uniform(share[0], share[1], n_orders)
    order_day = np.minimum(np.searchsorted(pop["day_cdf"], u), len(pop["days"]) - 1)
    order_cust = np.full(n_orders, -1)
    guest = rng.random(n_orders) < _GUEST_SHARE
    for day in np.unique(order_day):
        at = np.flatnonzero((order_day == day) & ~guest)
        active = np.flatnonzero((pop["active_from"] <= day) & (day < pop["active_to"]))
        weight = pop["activity"][active]
        order_cust[at] = active[np.searchsorted(np.cumsum(weight) / weight.sum(), rng.random(len(at)))]
    seconds = rng.integers(8 * 3600, 19 * 3600, n_orders) // 60 * 60
    order_time = pop["days"][order_day] + seconds.astype("timedelta64[s]")
    order_kind = np.where(order_cust >= 0, pop["kind"][np.maximum(order_cust, 0)], -1)
    mean_lines_per_order = np.where(order_kind >= 0, _KIND_LINES[np.maximum(order_kind, 0)], _GUEST_LINES)
    lines_per_order = np.maximum(1, rng.poisson(mean_lines_per_order))
    # Keep the orders that fill the target (a random subset: ``u`` is unsorted), cutting the
    # last one short.
    ends = np.cumsum(lines_per_order)
    n_keep = min(int(np.searchsorted(ends, target)) + 1, n_orders)
    order_time, order_cust, order_kind = order_time[:n_keep], order_cust[:n_keep], order_kind[:n_keep]
    lines_per_order = lines_per_order[:n_keep]
    lines_per_order[-1] -= int(ends[n_keep - 1] - target)
    order_of = np.argsort(order_time, kind="stable")
    order_time, order_cust, order_kind = order_time[order_of], order_cust[order_of], order_kind[order_of]
    lines_per_order = lines_per_order[order_of]
    invoice = next_invoice + np.arange(n_keep)

    line_order = np.repeat(np.arange(n_keep), lines_per_order)
    n = len(line_order)
    product = np.minimum(np.searchsorted(pop["popularity_cdf"], rng.random(n)), pop["n_products"] - 1)
    units = np.where(order_kind >= 0, _KIND_UNITS[np.maximum(order_kind, 0)], _GUEST_UNITS)[line_order]
    quantity = np.maximum(1, rng.geometric(1 / units)).astype(np.int64)
    pack = rng.choice([1, 1, 1, 2, 3, 4, 6, 12], size=n)
    quantity = np.where(units > 20, quantity // pack * pack + pack, quantity)
    cust = order_cust[line_order]
    cols = {"invoice": invoice[line_order], "cancel": np.zeros(n, bool), "product": product,
            "quantity": quantity, "date": order_time[line_order], "cust": cust}

    # Foreign customer orders carry a POST line; every 97th order a manual 'M' line.
    first_line = np.concatenate([[0], np.cumsum(lines_per_order)[:-1]])
    cust_country = np.where(order_cust >= 0, pop["country"][np.maximum(order_cust, 0)], 0)
    post = first_line[(order_cust >= 0) & (cust_country != 0)]
    manual = first_line[::97]
    extras = [_take(cols, post, product=pop["n_products"], quantity=1),
              _take(cols, manual, product=pop["n_products"] + 1, quantity=1)]
    # ~2% of customer orders: up to two lines cancelled (fully or partly) two days later.
    customer_orders = np.flatnonzero(order_cust >= 0)
    cancelled = rng.choice(customer_orders, size=int(len(customer_orders) * 0.02), replace=False)
    picked = np.concatenate([first_line[cancelled], (first_line + 1)[cancelled[lines_per_order[cancelled] > 1]]])
    part = np.maximum(1, np.ceil(quantity[picked] * rng.uniform(0.3, 1.0, len(picked)))).astype(np.int64)
    extras.append(_take(cols, picked, cancel=True, quantity=-np.minimum(part, quantity[picked]),
                        date=cols["date"][picked] + np.timedelta64(2, "D")))
    if giant:  # the UCI trap: a huge order cancelled five minutes later (581483 / C581484)
        when = pop["days"][-1] + np.timedelta64(9 * 60 + 15, "m")
        extras.append({"invoice": np.array([invoice[-1] + 1] * 2), "cancel": np.array([False, True]),
                       "product": np.array([pop["n_products"] + 2] * 2), "quantity": np.array([80995, -80995]),
                       "date": np.array([when, when + np.timedelta64(5, "m")]), "cust": np.array([0, 0])})
    cols = {k: np.concatenate([cols[k]] + [e[k] for e in extras]) for k in cols}
    total = len(cols["invoice"])
    n_fixed = 2 if giant else 0
    # Exact duplicates (~1%), then as many more or fewer lines as make exactly ``size``.
    n_dup = max(0, size - total)
    if n_dup < int(size * 0.01):
        keep = np.sort(rng.choice(total - n_fixed, size=size - n_fixed - int(size * 0.01), replace=False))
        keep = np.concatenate([keep, np.arange(total - n_fixed, total)])
        cols = {k: v[keep] for k, v in cols.items()}
        n_dup = int(size * 0.01)
    dup = rng.integers(0, len(cols["invoice"]), n_dup)
    cols = {k: np.concatenate([v, v[dup]]) for k, v in cols.items()}
    order = np.lexsort((cols["invoice"], cols["date"]))
    cols = {k: v[order] for k, v in cols.items()}

    c = cols["cust"]
    invoice_text = cols["invoice"].astype(str).astype(object)
    invoice_text[cols["cancel"]] = "C" + invoice_text[cols["cancel"]]
    product_idx = pa.array(cols["product"])
    country = np.where(c >= 0, pop["country"][np.maximum(c, 0)], 0)
    table = {
        "InvoiceNo": pa.array(invoice_text, pa.string()),
        "StockCode": pa.array(pop["codes"], pa.string()).take(product_idx),
        "Description": pa.array(pop["descriptions"], pa.string()).take(product_idx),
        "Quantity": pa.array(cols["quantity"], pa.int64()),
        "InvoiceDate": pa.array(cols["date"], pa.timestamp("ns")).cast(pa.timestamp("us")),  # Spark reads us
        "UnitPrice": pa.array(pop["prices"][cols["product"]], pa.float64()),
        "CustomerID": pa.array(pop["ids"][np.maximum(c, 0)], pa.float64(), mask=c < 0),
        "Country": pa.array(pop["countries"], pa.string()).take(pa.array(country)),
    }
    return table, int(invoice[-1]) + 2


def _take(cols: dict, rows: np.ndarray, **override) -> dict:
    out = {k: v[rows] for k, v in cols.items()}
    for key, value in override.items():
        out[key] = np.broadcast_to(value, len(rows)).copy() if np.ndim(value) == 0 else value
    return out
