"""What changed: segment sizes month by month, and who moved segment lately.

DataFrame in, DataFrame out; ``segment_of`` maps a customer table
(``customer_features``) to segment names (a saved model's ``segment(...)["Segment"]``),
so the same saved model and rules score every date.

- ``monthly_segment_sizes``: at each month's end, the customers scored with only the lines
  up to then (the model's own observation window ending there; a model of whole logs sees
  every purchase up to then), and how many are in each segment. For a model of whole
  logs the customer tables of all months come from one pass over the lines
  (``customer_features_as_of``).
- ``recent_moves``: each customer's segment as of ``days`` before the day after the log's
  last purchase and now, both over windows of the same length
  (``movement.equal_window_segments``), so a move is a change in what the customer did and
  never only more history; ``move_counts`` counts them per from -> to.
"""
from __future__ import annotations

import pandas as pd

from segkit.features.customers import customer_features, customer_features_as_of
from segkit.modeling.label import segment_order
from segkit.schema import snapshot_date_for
from segkit.value.movement import equal_window_segments, migration_window

__all__ = ["month_ends", "monthly_segment_sizes", "recent_moves", "move_counts", "moves_window", "RECENT_DAYS"]

#: The spans of "moves of the last N days" the page offers.
RECENT_DAYS = (7, 30)


def month_ends(lines: pd.DataFrame) -> pd.DataFrame:
    """One row per calendar month of ``lines``: ``Month`` (its first day), ``AsOf`` (midnight
    after its last day, or after the log's last purchase day for the last month) and
    ``Partial`` (the log covers only part of the month: a first month starting after the
    1st, a last month ending before its last day)."""
    first, last = lines["InvoiceDate"].min(), lines["InvoiceDate"].max()
    months = pd.period_range(first.to_period("M"), last.to_period("M"), freq="M")
    rows = []
    for month in months:
        start, next_start = month.start_time, (month + 1).start_time
        as_of = min(next_start, snapshot_date_for(last))
        partial = (month == months[0] and first.normalize() > start) or as_of < next_start
        rows.append({"Month": start, "AsOf": as_of, "Partial": bool(partial)})
    return pd.DataFrame(rows, columns=["Month", "AsOf", "Partial"])


def monthly_segment_sizes(segment_of, lines: pd.DataFrame, window_days: int | None = None,
                          extra_features=()) -> pd.DataFrame:
    """Customers per segment at each month's end (``month_ends``).

    At each ``AsOf`` the customers who had bought by then are scored with only the lines
    before it: ``customer_features(lines before AsOf, snapshot_date=AsOf, window_days)``,
    then ``segment_of``. Returns ``Month``, ``AsOf``, ``Partial``, ``Segment``,
    ``Customers`` (how many), ``Share`` (of the month's customers, 0-1), sorted by month and
    segment order; a segment with no customer in a month has a row with 0.
    """
    columns = ["Month", "AsOf", "Partial", "Segment", "Customers", "Share"]
    if lines.empty:
        return pd.DataFrame(columns=columns)
    ends = month_ends(lines)
    months = dict(zip(ends["AsOf"], ends["Month"]))
    if window_days is None and not extra_features:  # one pass over the lines for every month
        tables = customer_features_as_of(lines, ends["AsOf"])
    else:
        dates = lines["InvoiceDate"]
        tables = {as_of: customer_features(lines[dates < as_of], snapshot_date=as_of, window_days=window_days,
                                           extra_features=list(extra_features))
                  for as_of in ends["AsOf"] if (dates < as_of).any()}
    counts = {months[as_of]: pd.Series(segment_of(customers)).astype(str).value_counts()
              for as_of, customers in tables.items()}
    table = pd.DataFrame(counts).fillna(0).astype("int64")  # segments x months
    order = segment_order(table.index)
    long = table.loc[order].T.rename_axis("Month").reset_index().melt(
        id_vars="Month", var_name="Segment", value_name="Customers")
    long = long.merge(ends, on="Month")
    long["Share"] = long["Customers"] / long.groupby("Month")["Customers"].transform("sum")
    rank = {name: i for i, name in enumerate(order)}
    long = long.sort_values(["Month", "Segment"], key=lambda s: s.map(rank) if s.name == "Segment" else s,
                            ignore_index=True)
    return long[columns]


def moves_window(lines: pd.DataFrame, days: int, window_days: int | None = None) -> tuple[pd.Timestamp, pd.Timestamp, int]:
    """``(then, now, counted)``: the two dates ``recent_moves`` compares (midnights) and the
    days each side counts."""
    now = snapshot_date_for(lines["InvoiceDate"].max())
    then = now - pd.Timedelta(days=int(days))
    return then, now, migration_window(lines, then, window_days)


def recent_moves(segment_of, lines: pd.DataFrame, days: int, window_days: int | None = None,
                 extra_features=()) -> pd.DataFrame:
    """Customers whose segment changed in the last ``days`` days.

    Compares each customer's segment as of ``days`` before the day after the log's last
    purchase (``then``) with now, both counted over the same number of days
    (``equal_window_segments``: the model's window, or for a model of whole logs all the
    days before ``then``). Returns one row per customer known at both dates whose segment
    differs: ``CustomerID`` (text), ``From``, ``To``, sorted by move and id. Customers who
    first bought after ``then`` are not moves (``attrs["new"]`` counts them;
    ``attrs["known"]`` counts the customers compared).
    """
    then, _now, counted = moves_window(lines, days, window_days)
    before, after = equal_window_segments(segment_of, lines, then, counted, extra_features)
    both = before.index.intersection(after.index)
    frame = pd.DataFrame({"From": before.reindex(both).astype(str), "To": after.reindex(both).astype(str)})
    frame.index.name = "CustomerID"
    moved = frame[frame["From"] != frame["To"]].reset_index()
    rank = {name: i for i, name in enumerate(segment_order(set(frame["From"]) | set(frame["To"])))}
    moved = moved.sort_values(["From", "To", "CustomerID"],
                              key=lambda s: s.map(rank) if s.name in ("From", "To") else s, ignore_index=True)
    moved.attrs.update(new=int(len(after.index.difference(before.index))), known=int(len(both)),
                       then=then, counted=counted)
    return moved


def move_counts(moves: pd.DataFrame) -> pd.DataFrame:
    """``recent_moves`` counted per move: ``From``, ``To``, ``Customers``, largest first."""
    if moves.empty:
        return pd.DataFrame(columns=["From", "To", "Customers"])
    counts = moves.groupby(["From", "To"], sort=False).size().rename("Customers").reset_index()
    return counts.sort_values("Customers", ascending=False, kind="stable", ignore_index=True)
