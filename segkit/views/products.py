"""What each segment buys more than other customers do: its products by lift.

For a segment S and a product P (its ``StockCode``), over the clean lines:

    lift = (S's spend on P / S's spend on everything) / (others' spend on P / others' spend on everything)

"Others" are the customers of every other segment. A lift of 2.8 means S gives P 2.8 times
the share of its spend that other customers give it. Only products bought by at least
``min_buyers(members)`` of S's customers count (5, or 3 % of its members when that is
more), so a product one or two members happen to love does not top the list. A product no
other customer bought has an infinite lift ("only this segment buys it").
"""
from __future__ import annotations

import html
import math

import numpy as np
import pandas as pd

from segkit.views.wording import money

__all__ = ["TOP_PRODUCTS", "MIN_BUYERS", "MIN_BUYER_SHARE", "PRODUCT_COLUMNS", "min_buyers", "top_products",
           "lift_words", "rule_words", "top_products_html"]

#: Products shown per segment.
TOP_PRODUCTS = 5
#: A product counts for a segment when at least this many of its customers bought it ...
MIN_BUYERS = 5
#: ... or this share of its members, whichever is more.
MIN_BUYER_SHARE = 0.03
#: Columns of ``top_products``.
PRODUCT_COLUMNS = ["Segment", "Rank", "StockCode", "Description", "Buyers", "Members", "MinBuyers", "Spend",
                   "Share", "OthersShare", "Lift"]


def min_buyers(members: int, at_least: int = MIN_BUYERS, share: float = MIN_BUYER_SHARE) -> int:
    """Buyers a product needs among a segment's ``members`` to count: ``at_least``, or
    ``share`` of the members (rounded up) when that is more."""
    return max(int(at_least), math.ceil(share * int(members)))


def _descriptions(lines: pd.DataFrame) -> pd.Series:
    """Each StockCode's most frequent description (ties: alphabetical first)."""
    text = lines[["StockCode", "Description"]].astype("string").fillna("")
    counts = text.groupby(["StockCode", "Description"], observed=True).size().rename("n").reset_index()
    counts = counts.sort_values(["StockCode", "n", "Description"], ascending=[True, False, True], kind="stable")
    return counts.drop_duplicates("StockCode").set_index("StockCode")["Description"]


def top_products(lines: pd.DataFrame, segments: pd.Series, n: int = TOP_PRODUCTS, at_least: int = MIN_BUYERS,
                 share: float = MIN_BUYER_SHARE) -> pd.DataFrame:
    """The ``n`` products of highest lift per segment (see the module's docstring).

    ``lines``: clean lines with ``CustomerID``, ``StockCode``, ``Description`` and
    ``TotalPrice`` (currency); ``segments``: each customer's segment, indexed by CustomerID
    (compared as text). Returns one row per (segment, product) shown, ``PRODUCT_COLUMNS``:
    ``Buyers`` (the segment's customers who bought it), ``Members`` (the segment's
    customers), ``MinBuyers`` (``min_buyers(Members)``), ``Spend`` (the segment's spend on
    it), ``Share`` and ``OthersShare`` (shares of spend, 0-1) and ``Lift``; sorted by
    segment, then lift and spend (highest first). Segments with no product that qualifies
    have no row.
    """
    labels = pd.Series(segments.astype("string").to_numpy(), index=segments.index.astype("string"))
    members = labels.value_counts()
    segment = lines["CustomerID"].astype("string").map(labels)
    keep = segment.notna().to_numpy()
    frame = pd.DataFrame({"Segment": segment[keep].to_numpy(),
                          "CustomerID": lines["CustomerID"].astype("string")[keep].to_numpy(),
                          "StockCode": lines["StockCode"].astype("string")[keep].to_numpy(),
                          "TotalPrice": lines["TotalPrice"].to_numpy(dtype=float)[keep]})
    if frame.empty:
        return pd.DataFrame(columns=PRODUCT_COLUMNS)
    grouped = frame.groupby(["Segment", "StockCode"], observed=True, sort=False)
    table = pd.DataFrame({"Spend": grouped["TotalPrice"].sum(), "Buyers": grouped["CustomerID"].nunique()})
    table = table.reset_index()
    segment_total = frame.groupby("Segment", observed=True)["TotalPrice"].sum()
    product_total = frame.groupby("StockCode", observed=True)["TotalPrice"].sum()
    everything = float(frame["TotalPrice"].sum())
    own_total = table["Segment"].map(segment_total).to_numpy(dtype=float)
    others_on_product = table["StockCode"].map(product_total).to_numpy(dtype=float) - table["Spend"].to_numpy()
    others_total = everything - own_total
    table["Share"] = table["Spend"].to_numpy() / own_total
    with np.errstate(divide="ignore", invalid="ignore"):
        table["OthersShare"] = np.where(others_total > 0, np.clip(others_on_product, 0, None) / others_total, 0.0)
        table["Lift"] = np.where(table["OthersShare"] > 0, table["Share"] / table["OthersShare"], np.inf)
    table["Members"] = table["Segment"].map(members).astype("int64")
    table["MinBuyers"] = [min_buyers(m, at_least, share) for m in table["Members"]]
    table = table[(table["Buyers"] >= table["MinBuyers"]) & (table["Spend"] > 0)]
    table = table.sort_values(["Segment", "Lift", "Spend", "StockCode"], ascending=[True, False, False, True],
                              kind="stable")
    table = table.groupby("Segment", observed=True, sort=False).head(n).copy()
    table["Rank"] = table.groupby("Segment", observed=True).cumcount() + 1
    table["Description"] = table["StockCode"].map(_descriptions(lines)).fillna("")
    table["Spend"] = table["Spend"].round(2)
    return table[PRODUCT_COLUMNS].reset_index(drop=True)


def lift_words(lift: float) -> str:
    """A lift in words: "2.8 times as much as other customers", "35 % more than other
    customers", "only this segment buys it"."""
    if not np.isfinite(lift):
        return "only this segment buys it"
    if lift >= 1.95:
        return f"{lift:,.1f} times as much as other customers"
    if lift >= 1:
        return f"{(lift - 1) * 100:,.0f} % more than other customers"
    return f"{(1 - lift) * 100:,.0f} % less than other customers"


def rule_words(at_least: int = MIN_BUYERS, share: float = MIN_BUYER_SHARE) -> str:
    """How the products are chosen, one short paragraph."""
    return (f"Per segment, the {TOP_PRODUCTS} products with the highest lift: the share of the segment's spend "
            "that goes to the product, divided by the share of other customers' spend that goes to it (2 = twice "
            f"as much). Only products bought by at least {at_least} of the segment's customers, or "
            f"{share * 100:g} % of them when that is more, count. Over the whole period and every customer: the filters "
            "do not change it.")


def top_products_html(table: pd.DataFrame, order: list[str], currency: str = "£") -> str:
    """One small table per segment of ``order`` (product, buyers, the segment's spend on
    it, lift in words), with the rule above them; a segment with no product that
    qualifies says why."""
    # optional: dashboard (segkit.views.plots draws with plotly)
    from segkit.views import plots

    colours = plots.segment_colour_map(list(order))
    blocks = []
    for name in order:
        rows = table[table["Segment"].astype(str) == str(name)]
        title = (f'<caption><span class="seg-swatch" style="background:{colours[str(name)]}"></span>'
                 f"{html.escape(str(name))}</caption>")
        if rows.empty:
            body = ('<tr><td colspan="4" class="seg-note">No product was bought by enough of its customers to '
                    "compare.</td></tr>")
            members = ""
        else:
            first = rows.iloc[0]
            members = (f'<div class="seg-meta">{int(first["Members"]):,} customers; a product needs '
                       f'{int(first["MinBuyers"]):,} buyers among them.</div>')
            body = "".join(
                f'<tr><td>{html.escape(str(r.Description) or str(r.StockCode))} '
                f'<span class="seg-meta">({html.escape(str(r.StockCode))})</span></td>'
                f'<td class="seg-number">{int(r.Buyers):,}</td><td class="seg-number">{money(r.Spend, currency)}</td>'
                f'<td class="seg-lift">{html.escape(lift_words(r.Lift))}</td></tr>'
                for r in rows.itertuples())
        blocks.append(
            f'<div class="seg-top-products-segment" data-segment="{html.escape(str(name))}">'
            f'<table class="seg-table seg-top-products-table">{title}<thead><tr><th>Product</th><th>Buyers</th>'
            f"<th>Segment's spend ({html.escape(currency)})</th><th>Buys it</th></tr></thead><tbody>{body}</tbody>"
            f"</table>{members}</div>")
    return (f'<div class="seg-top-products"><p class="seg-meta seg-top-products-rule">{html.escape(rule_words())}</p>'
            f'<div class="seg-top-products-grid">{"".join(blocks)}</div></div>')
