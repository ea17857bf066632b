"""Orders' financial status and refunds (shop exports): what counts as a purchase, and for how much.

``settle_orders`` applies the ``financial_status`` and ``refunded_amount`` roles to loaded
lines, before the cleaning rules: refunded, voided (cancelled, failed) and unpaid
(pending, authorized, on hold) orders are not purchases and are dropped; a partly
refunded order counts net, its refunded amount taken off its lines pro rata to their
value (each line's ``UnitPrice`` times ``1 - refunded / order value``, quantities unchanged),
so the order's spend is exactly its value minus the refund. Each step is a row of the
cleaning report (``SETTLED_ORDERS``; ``segkit.pipeline.workflow.with_settled_orders``).
"""
from __future__ import annotations

import pandas as pd

from segkit.errors import SegkitDataError
from segkit.ingest.values import short_list
from segkit.schema import ORDER_STATUSES

__all__ = ["SETTLED_ORDERS", "SETTLED_RULES", "WOOCOMMERCE", "WOOCOMMERCE_REFUND_COLUMNS", "items_refund", "order_status_kinds", "settle_orders"]


#: ``DataFrame.attrs`` key of a loaded log: ``{rule: [lines, revenue]}`` for each step of
#: ``settle_orders`` that removed lines or revenue.
SETTLED_ORDERS = "settled_orders"


#: The cleaning report's rows, by what a status means (``segkit.schema.ORDER_STATUSES``).
SETTLED_RULES = {
    "refunded": "refunded orders",
    "voided": "voided or cancelled orders",
    "unpaid": "unpaid orders (pending, authorized)",
    "partly_refunded": "partial refunds (netted)",
}


#: The known layout whose order refund (``refunded_total``) holds shipping and tax too.
WOOCOMMERCE = "WooCommerce orders export"


#: WooCommerce's columns that split an order's refund: each item's own refund (tax excluded,
#: on its line) and the order's total (items, shipping, fees and tax).
WOOCOMMERCE_REFUND_COLUMNS = {"item_refunded": "item_refunded", "order_total": "order_total"}


def items_refund(orders: pd.Series, line_value: pd.Series, refunded_total: pd.Series,
                 item_refunded: pd.Series | None, order_total: pd.Series | None, source: str) -> pd.Series:
    """The refund of each line's order that comes off its items, on each line, from a
    WooCommerce export whose ``refunded_total`` (what the order got back in all) includes
    shipping and tax: the sum of its lines' ``item_refunded`` when the export has them; the
    whole ``refunded_total`` when the order holds nothing but its items (its ``order_total``
    is its items' value); an order refunded in full (``refunded_total`` at least its
    ``order_total``) as refunded whole. A partial refund of an order with shipping or tax and
    no ``item_refunded`` is refused: its items' part is not known.
    ``line_value``: each line's amount; all in the file's currency."""
    refund = refunded_total.fillna(0.0).clip(lower=0.0)
    items = line_value.fillna(0.0).groupby(orders).transform("sum")
    in_full = (refund > 0) & (refund >= order_total - 0.005) if order_total is not None \
        else pd.Series(False, index=orders.index)
    if item_refunded is not None:
        own = item_refunded.fillna(0.0).abs().groupby(orders).transform("sum")
    else:
        only_items = (order_total - items).abs() <= 0.005 if order_total is not None \
            else pd.Series(False, index=orders.index)
        own = refund.where(only_items | (refund == 0))
        unknown = own.isna() & ~in_full
        if unknown.any():
            first = unknown.idxmax()
            total = "" if order_total is None else f" of an order total of {order_total[first]:.2f}"
            raise SegkitDataError(
                f"'{source}' has partly refunded orders (e.g. {orders[first]}: {refund[first]:.2f} refunded{total}, "
                f"items {items[first]:.2f}) whose refunded_total includes shipping and tax, so the items' part is "
                "not known; export the item_refunded column too (WooCommerce's one row per item format), or map the "
                "items' refund with --columns refunded_amount=<name>."
            )
    return own.where(~in_full, items.clip(lower=0.0) + refund).astype("float64")


def order_status_kinds(status: pd.Series, column: str, source: str) -> pd.Series:
    """What each line's financial status means (``ORDER_STATUSES``: purchase,
    partly_refunded, refunded, voided, unpaid); a blank status is a purchase. A status
    outside the list is refused, naming it."""
    text = status.astype("string").str.strip().str.lower()
    key = text.str.replace(r"[\s\-]+", "_", regex=True).str.replace(r"^wc_", "", regex=True)
    kinds = key.map(ORDER_STATUSES)
    unknown = key.notna() & (key != "") & kinds.isna()
    if unknown.any():
        found = sorted(set(status[unknown].astype(str)))
        raise SegkitDataError(
            f"'{source}' has the financial status(es) {short_list(found)} in column '{column}', which segkit does "
            f"not know; known: {', '.join(ORDER_STATUSES)}. Map the right column with --columns "
            "financial_status=<name>, or correct the statuses."
        )
    return kinds.fillna("purchase").astype(object)


def settle_orders(lines: pd.DataFrame, status: pd.Series | None, refunded: pd.Series | None,
                  columns: dict[str, str], source: str) -> tuple[pd.DataFrame, dict[str, list]]:
    """``lines`` (canonical, with ``InvoiceNo``) without refunded, voided and unpaid orders and
    with partial refunds netted, and the report's rows ``{rule: [lines, revenue]}``.

    ``status`` and ``refunded`` are the lines' financial status and their order's refunded
    amount (currency; the order's total, on each of its lines or filled down), either
    ``None`` when the log has no such column; ``columns`` names the columns, for messages.
    An order refunded for its whole value or more counts as refunded; a partly refunded
    order without a refunded amount is refused (its net spend is not known).
    """
    value = lines["Quantity"] * lines["UnitPrice"]
    kinds = order_status_kinds(status, columns["financial_status"], source) if status is not None \
        else pd.Series("purchase", index=lines.index, dtype=object)
    rows: dict[str, list] = {}
    if refunded is not None:
        orders = lines["InvoiceNo"]
        disagree = refunded.groupby(orders).transform("nunique") > 1
        if disagree.any():
            order = orders[disagree].iloc[0]
            raise SegkitDataError(
                f"'{source}' gives order {order} different refunded amounts on its lines (column "
                f"'{columns['refunded_amount']}'); the refunded_amount role is an order's whole refund, on its first "
                "line or on every line alike: map the order's refund column."
            )
        order_value = value.groupby(orders).transform("sum")
        refund = refunded.fillna(0.0).clip(lower=0.0)
        whole = (refund > 0) & (refund >= order_value - 0.005) & kinds.isin(["purchase", "partly_refunded"])
        kinds = kinds.mask(whole, "refunded")
    partly = kinds == "partly_refunded"
    unknown_net = partly & (refunded.fillna(0) <= 0) if refunded is not None else partly
    if unknown_net.any():
        order = lines.loc[unknown_net, "InvoiceNo"].iloc[0]
        where = "" if refunded is None else f" in column '{columns['refunded_amount']}'"
        raise SegkitDataError(
            f"'{source}' has partly refunded orders (e.g. {order}) without a refunded amount (blank or 0){where}; their net spend "
            "is not known: map the order's refunded amount with --columns refunded_amount=<name>."
        )
    for kind in ("refunded", "voided", "unpaid"):
        dropped = kinds == kind
        if dropped.any():
            rows[SETTLED_RULES[kind]] = [int(dropped.sum()), _revenue(lines, dropped)]
    kept = kinds.isin(["purchase", "partly_refunded"])
    lines = lines.loc[kept].copy()
    if refunded is not None:
        netted = kept & (refund > 0)
        if netted.any():
            factor = (1.0 - refund[netted] / order_value[netted]).astype("float64")
            before = _revenue(lines, netted[kept])
            lines.loc[netted[kept], "UnitPrice"] = lines.loc[netted[kept], "UnitPrice"].astype("float64") * factor
            rows[SETTLED_RULES["partly_refunded"]] = [0, round(before - _revenue(lines, netted[kept]), 2)]
    return lines, rows


def _revenue(lines: pd.DataFrame, mask: pd.Series) -> float:
    """Gross sales of the masked lines, as the cleaning report counts them (positive quantities)."""
    chosen = lines.loc[mask]
    positive = chosen["Quantity"] > 0
    return round(float((chosen.loc[positive, "Quantity"] * chosen.loc[positive, "UnitPrice"]).sum()), 2)
