"""segkit.value.segment_history: segment sizes month by month and recent moves, against pandas."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segkit.value.segment_history import month_ends, monthly_segment_sizes, move_counts, moves_window, recent_moves


def _big_or_small(customers: pd.DataFrame) -> pd.Series:
    """A rule a reader can redo by hand: spend of 100 or more in the window is "Big"."""
    return pd.Series(np.where(customers["TotalSpend"] >= 100, "Big", "Small"), index=customers.index)


def _log(rows) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["CustomerID", "InvoiceDate", "Quantity", "UnitPrice"])
    frame["InvoiceDate"] = pd.to_datetime(frame["InvoiceDate"])
    frame["InvoiceNo"] = [f"{i}" for i in range(len(frame))]
    frame["StockCode"] = "X"
    frame["Country"] = "United Kingdom"
    return frame


def test_month_ends_mark_a_partial_last_month(sample_data):
    ends = month_ends(sample_data.lines)
    assert len(ends) == 13 and ends["Month"].iloc[0] == pd.Timestamp("2010-12-01")
    assert ends["AsOf"].iloc[-1] == pd.Timestamp("2011-12-10")  # the day after the last purchase, 9 Dec
    assert ends["AsOf"].iloc[0] == pd.Timestamp("2011-01-01")
    assert ends["Partial"].tolist() == [False] * 12 + [True]


def test_monthly_sizes_count_each_month_with_only_the_lines_before_its_end(sample_data):
    """Per month, customers per segment equal a pandas groupby of the lines before that
    month's end through the same rule; the partial month is flagged."""
    lines = sample_data.lines
    sizes = monthly_segment_sizes(_big_or_small, lines)
    assert set(sizes.columns) >= {"Month", "AsOf", "Partial", "Segment", "Customers", "Share"}
    for as_of, month in sizes.groupby("AsOf"):
        before = lines[lines["InvoiceDate"] < as_of]
        spend = (before["Quantity"] * before["UnitPrice"]).groupby(before["CustomerID"].astype("string")).sum()
        expected = pd.Series(np.where(spend.round(2) >= 100, "Big", "Small")).value_counts()
        got = month.set_index("Segment")["Customers"]
        assert got.reindex(expected.index).tolist() == expected.tolist(), as_of
        assert got.sum() == before["CustomerID"].nunique()
        assert month["Share"].sum() == pytest.approx(1.0)
    assert sizes.loc[sizes["Month"] == pd.Timestamp("2011-12-01"), "Partial"].all()
    assert not sizes.loc[sizes["Month"] < pd.Timestamp("2011-12-01"), "Partial"].any()


@pytest.mark.slow
def test_monthly_sizes_with_a_saved_model_and_its_window_match_scoring_at_each_month_end(sample_data):
    """With a model of a 180-day window (the per-date path): the sizes of two months are the
    model's segments of ``customer_features`` of the lines before each month's end."""
    from segkit.features.customers import customer_features
    from segkit.pipeline.workflow import train_model

    model, _ = train_model(sample_data, 4)
    segment_of = lambda customers: model.segment(customers)["Segment"]  # noqa: E731
    lines = sample_data.lines
    for window in (None, 180):
        sizes = monthly_segment_sizes(segment_of, lines, window_days=window)
        for as_of in (pd.Timestamp("2011-06-01"), pd.Timestamp("2011-12-10")):
            customers = customer_features(lines[lines["InvoiceDate"] < as_of], snapshot_date=as_of, window_days=window)
            expected = model.segment(customers)["Segment"].astype(str).value_counts()
            got = sizes[sizes["AsOf"] == as_of].set_index("Segment")["Customers"]
            assert got[got > 0].sort_index().to_dict() == expected.sort_index().to_dict(), (window, as_of)


def test_recent_moves_compare_equal_windows_so_more_history_is_no_upgrade():
    """B bought £60 on the first day and £60 in the last week: with all history "then" against
    all history "now" B would look upgraded (Small -> Big); counted over equal windows the
    old purchase leaves the window as the new one enters it, so B did not move. C bought £60
    mid-year and £60 in the last week: a real move. D bought £150 a year ago only and
    stays Big in the window that still holds it... until it leaves: Big -> Small."""
    log = _log([
        ("A", "2011-01-01 10:00", 1, 10.0), ("A", "2011-12-09 10:00", 1, 10.0),   # the log's first and last day
        ("B", "2011-01-03 10:00", 1, 60.0), ("B", "2011-12-05 10:00", 1, 60.0),
        ("C", "2011-06-01 10:00", 1, 60.0), ("C", "2011-12-06 10:00", 1, 60.0),
        ("D", "2011-01-05 10:00", 1, 150.0),
    ])
    moves = recent_moves(_big_or_small, log, 7)
    then, now, counted = moves_window(log, 7)
    assert (then, now) == (pd.Timestamp("2011-12-03"), pd.Timestamp("2011-12-10"))
    assert counted == (then - pd.Timestamp("2011-01-01")).days  # all the days before "then"
    assert moves.set_index("CustomerID")[["From", "To"]].to_dict("index") == {
        "C": {"From": "Small", "To": "Big"}, "D": {"From": "Big", "To": "Small"}}
    assert moves.attrs["known"] == 4 and moves.attrs["new"] == 0
    counts = move_counts(moves)
    assert sorted(map(tuple, counts.to_numpy().tolist())) == [("Big", "Small", 1), ("Small", "Big", 1)]


def test_recent_moves_on_the_sample_match_a_pandas_computation_of_both_windows(sample_data):
    """30 days: each side's spend counted by pandas over its own window of equal length."""
    lines = sample_data.lines
    moves = recent_moves(_big_or_small, lines, 30, window_days=90)
    then, now, counted = moves_window(lines, 30, window_days=90)
    assert counted == 90

    def big(end):
        known = lines[lines["InvoiceDate"] < end]
        inside = known[known["InvoiceDate"] >= end - pd.Timedelta(days=counted)]
        spend = (inside["Quantity"] * inside["UnitPrice"]).groupby(inside["CustomerID"].astype("string")).sum()
        spend = spend.round(2).reindex(pd.Index(known["CustomerID"].astype("string").unique())).fillna(0)
        return pd.Series(np.where(spend >= 100, "Big", "Small"), index=spend.index)

    before, after = big(then), big(now)
    both = before.index.intersection(after.index)
    changed = both[before[both] != after[both]]
    assert len(changed) > 20  # the test means something
    got = moves.set_index("CustomerID")
    assert set(got.index) == set(changed)
    assert (got["From"] == before[got.index]).all() and (got["To"] == after[got.index]).all()
    assert moves.attrs["new"] == len(after.index.difference(before.index))
    assert move_counts(moves)["Customers"].sum() == len(changed)
