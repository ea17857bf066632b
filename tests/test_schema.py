"""The leaf every reader and engine takes its definitions from: snapshot dates, windows,
time zones and layout recognition. A slip here moves every customer's Recency or reads a
shop's columns wrong."""
from __future__ import annotations

import pandas as pd

from segkit.schema import SHOP_LAYOUT_SIGNATURE, best_layout, snapshot_date_for, to_utc_naive, window_start


def test_recency_is_measured_from_midnight_after_the_last_purchase():
    snapshot = snapshot_date_for(pd.Timestamp("2011-12-09 12:50"))
    assert snapshot == pd.Timestamp("2011-12-10 00:00")
    assert window_start(snapshot, 365) == pd.Timestamp("2010-12-10") and window_start(snapshot, None) is None


def test_zoned_times_become_utc_wall_time_and_naive_ones_stay():
    zoned = pd.Series(pd.to_datetime(["2011-06-01 10:00+02:00", "2011-12-01 10:00-05:00"], utc=True)).dt.tz_convert("Europe/Berlin")
    assert list(to_utc_naive(zoned)) == [pd.Timestamp("2011-06-01 08:00"), pd.Timestamp("2011-12-01 15:00")]
    naive = pd.Series(pd.to_datetime(["2011-06-01 10:00"]))
    assert to_utc_naive(naive).equals(naive)


def test_uci_columns_are_recognised_and_a_shop_layout_needs_its_whole_signature():
    name, roles = best_layout(["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
                               "CustomerID", "Country"])
    assert roles["customer"] == "CustomerID" and roles["date"] == "InvoiceDate" and roles["price"] == "UnitPrice"
    assert best_layout(["Kunde", "Datum"]) == (None, {})
    shopify_name, shopify = best_layout(["Name", "Email", "Paid at", "Lineitem quantity", "Lineitem price"],
                                        layout="shopify")
    assert shopify_name is not None and shopify.get("customer") == "Email"
    assert "customer" in SHOP_LAYOUT_SIGNATURE
