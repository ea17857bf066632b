"""ReadOptions: the column mapping, sheet and date order travel as one value, and each of
them is part of the read cache's key (a log cached with one date order is never served for
the other)."""
from __future__ import annotations

import pandas as pd

from segkit.ingest.load import load_transactions
from segkit.ingest.options import ReadOptions


def test_the_date_order_and_mapping_are_part_of_the_cache_key(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGKIT_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "shop.csv"
    pd.DataFrame({"Order": ["1", "2"], "Item": ["A", "B"], "Qty": [1, 2], "Day": ["05/01/2011 10:00", "06/02/2011 11:00"],
                  "Price": [2.5, 3.0], "Client": ["c1", "c2"], "Country": ["France", "France"]}).to_csv(path, index=False)
    options = ReadOptions.given({"invoice": "Order", "product": "Item", "quantity": "Qty", "date": "Day",
                                 "price": "Price", "customer": "Client"}, dayfirst=True)
    assert options.key() != ReadOptions.given(options.columns, dayfirst=False).key()
    assert options.key() != ReadOptions.given({**options.mapping, "customer": "Order"}, dayfirst=True).key()
    day_first = load_transactions(path, **options.as_kwargs())
    month_first = load_transactions(path, **ReadOptions.given(options.columns, dayfirst=False).as_kwargs())
    assert list(day_first["InvoiceDate"].dt.month) == [1, 2] and list(day_first["InvoiceDate"].dt.day) == [5, 6]
    assert list(month_first["InvoiceDate"].dt.month) == [5, 6] and list(month_first["InvoiceDate"].dt.day) == [1, 2]
    again = load_transactions(path, **options.as_kwargs())  # from the cache now
    pd.testing.assert_frame_equal(again.reset_index(drop=True), day_first.reset_index(drop=True))


def test_a_layout_folds_into_the_mapping_and_an_empty_one_is_none():
    assert ReadOptions.given({}).columns is None and ReadOptions.given().key() == [[], "None", None]
    shopify = ReadOptions.given(layout="shopify")
    assert shopify.columns and shopify.mapping == dict(shopify.columns)
    assert shopify.key() != ReadOptions.given().key()
