"""segkit.live.refresh_changes: the segment moves a refresh brings, in order, and the customers
who bought since a date."""
from __future__ import annotations

import pandas as pd
import pytest

from segkit.live.refresh_changes import order_moves, purchased_since


def test_moves_that_matter_come_first():
    old = pd.Series({"a": "Regular", "b": "VIP", "c": "Lost", "d": "Budget", "e": "Loyal", "f": "New"})
    new = pd.Series({"a": "At risk", "b": "Lost", "c": "Regular", "d": "Regular", "e": "At risk", "g": "New"})
    spend = pd.Series({"a": 10.0, "b": 5.0, "c": 1.0, "d": 99.0, "e": 50.0})
    moves = order_moves(old, new, spend)
    assert list(moves.index) == ["e", "b", "a", "c", "d"]
    assert list(moves["Matters"]) == [True, True, False, False, False]


def test_moves_into_the_measured_silent_names_are_slipping_too():
    """Issue 21: a fitted model calls its silent groups "Quiet" and "Lapsed"; a VIP moving
    there matters as much as one moving to "At risk" or "Lost"."""
    old = pd.Series({"a": "VIP", "b": "Loyal", "c": "Regular", "d": "Budget"})
    new = pd.Series({"a": "Lapsed", "b": "Quiet", "c": "Quiet", "d": "Regular"})
    moves = order_moves(old, new, pd.Series({"a": 1.0, "b": 2.0, "c": 50.0, "d": 99.0}))
    assert list(moves.index) == ["b", "a", "c", "d"]
    assert list(moves["Matters"]) == [True, True, False, False]


def test_purchased_since_needs_purchase_dates():
    from segkit.errors import SegkitDataError

    with pytest.raises(SegkitDataError, match="without LastPurchase"):
        purchased_since(pd.DataFrame({"Recency": [1]}), "2011-01-01", "customers.csv")
