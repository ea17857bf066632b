"""What a refresh of a followed log brought, in the words a page shows: ``LiveUpdate``, the
segment moves ordered by what matters (``order_moves``) and ``describe_changes``, which
compares two states of a log."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from segkit.errors import SegkitDataError
from segkit.live.folder_scan import FileState

__all__ = ["LiveUpdate", "order_moves", "describe_changes", "purchased_since", "quoted_names", "empty_moves",
           "VALUED_SEGMENTS", "SLIPPING_SEGMENTS"]

#: A move from a valued segment into a slipping one is listed first.
VALUED_SEGMENTS = ("VIP", "Loyal")
#: The lifecycle's silent stages under every name a model gives them: the fixed names, and
#: the measured ones of ``segkit train`` ("Quiet" for an At-risk group that is not earned,
#: "Lapsed" for a long-silent group not measured as gone; segkit.pipeline.thresholds/backtest).
SLIPPING_SEGMENTS = ("At risk", "Lost", "Quiet", "Lapsed")


@dataclass
class LiveUpdate:
    """What one refresh brought, in the words a page shows.

    ``moves``: customers present before and after whose segment changed, indexed by
    ``CustomerID`` with ``From``, ``To``, ``Matters`` (a VIP or Loyal customer now At risk
    or Lost) and ``TotalSpend``, ordered by ``order_moves``. ``new_lines`` counts the lines
    of new and changed files, ``removed_lines`` those of removed files and of the earlier
    versions of changed files (lines as read, before cleaning).
    """

    added_files: list[str] = field(default_factory=list)
    changed_files: list[str] = field(default_factory=list)
    removed_files: list[str] = field(default_factory=list)
    waiting_files: list[str] = field(default_factory=list)
    new_lines: int = 0
    removed_lines: int = 0
    new_customers: list[str] = field(default_factory=list)
    gone_customers: list[str] = field(default_factory=list)
    moves: pd.DataFrame = field(default_factory=lambda: empty_moves())
    last_purchase: pd.Timestamp | None = None
    updated: pd.Timestamp | None = None
    notices: list[str] = field(default_factory=list)
    #: "full" (everything computed), "incremental", or "snapshot" (read, computed elsewhere).
    how: str = "full"

    @property
    def changed(self) -> bool:
        return bool(self.added_files or self.changed_files or self.removed_files)

    def header(self) -> str:
        """``data up to 9 Dec 2011 12:50, updated 14:03`` (times as in the data; update time UTC)."""
        last = ("no purchases yet" if self.last_purchase is None
                else f"data up to {self.last_purchase.day} {self.last_purchase:%b %Y %H:%M}")
        return last + ("" if self.updated is None else f", updated {self.updated:%H:%M} UTC")

    def sentences(self, moves_ending: str = "") -> list[str]:
        """What the update brought, one plain sentence each (files, customers, the moves
        with those that matter counted, files still being written, notices);
        ``moves_ending`` finishes the moves sentence (the page points to its buttons)."""
        parts: list[str] = []
        files = self.added_files + self.changed_files
        if files:
            parts.append(f"{self.new_lines:,} new lines from {quoted_names(files)}.")
        if self.removed_files:
            one = len(self.removed_files) == 1
            parts.append(f"{quoted_names(self.removed_files)} {'is' if one else 'are'} no longer in the folder: "
                         f"{'its' if one else 'their'} {self.removed_lines:,} lines were dropped.")
        if self.new_customers:
            n = len(self.new_customers)
            parts.append(f"{n:,} new customer{'s' if n != 1 else ''}.")
        if self.gone_customers:
            n = len(self.gone_customers)
            parts.append(f"{n:,} customer{'s' if n != 1 else ''} no longer in the data.")
        if len(self.moves):
            n, matters = len(self.moves), int(self.moves["Matters"].sum())
            silent = [name for name in SLIPPING_SEGMENTS if name in set(self.moves.loc[self.moves["Matters"], "To"])]
            parts.append(f"{n:,} customer{'s' if n != 1 else ''} moved segment"
                         + (f", {matters:,} from {' or '.join(VALUED_SEGMENTS)} to {' or '.join(silent)}" if matters else "")
                         + moves_ending + ".")
        if self.waiting_files:
            parts.append(f"{quoted_names(self.waiting_files)} still being written; read at a later check.")
        return parts + list(self.notices)

    def summary(self) -> str:
        """The notice as one paragraph, the first moves named (a pipeline's log line)."""
        head = ", ".join(f"{c} {r.From} -> {r.To}" for c, r in self.moves.head(3).iterrows())
        ending = f" ({head}{', ...' if len(self.moves) > 3 else ''})" if len(self.moves) else ""
        return " ".join(self.sentences(ending)) or "No change."


def quoted_names(names: list[str], limit: int = 3) -> str:
    """``'a', 'b', 'c' and 2 more``: file names as a notice lists them."""
    shown = ", ".join(f"'{n}'" for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def empty_moves() -> pd.DataFrame:
    """No moves, with the columns and types of ``order_moves``."""
    return pd.DataFrame({"From": pd.Series(dtype="string"), "To": pd.Series(dtype="string"),
                         "Matters": pd.Series(dtype=bool), "TotalSpend": pd.Series(dtype="float64")},
                        index=pd.Index([], dtype="string", name="CustomerID"))


def order_moves(old: pd.Series, new: pd.Series, spend: pd.Series | None = None) -> pd.DataFrame:
    """Customers whose segment differs between ``old`` and ``new`` (Series of segment
    names by CustomerID; customers in only one are not moves), the moves that matter first:
    VIP or Loyal to a silent segment (SLIPPING_SEGMENTS); then other moves into a silent one; then moves out
    of them (won back); then the rest; within each, the largest ``spend`` first."""
    common = old.index.intersection(new.index)
    before, after = old.reindex(common).astype("string"), new.reindex(common).astype("string")
    moved = (before != after).fillna(True).to_numpy(dtype=bool)
    if not moved.any():
        return empty_moves()
    frame = pd.DataFrame({"From": before[moved], "To": after[moved]})
    frame.index.name = "CustomerID"
    frame["Matters"] = frame["From"].isin(VALUED_SEGMENTS) & frame["To"].isin(SLIPPING_SEGMENTS)
    frame["TotalSpend"] = (spend.reindex(frame.index) if spend is not None else pd.Series(0.0, index=frame.index)).astype("float64")
    rank = np.select([frame["Matters"], frame["To"].isin(SLIPPING_SEGMENTS), frame["From"].isin(SLIPPING_SEGMENTS)],
                     [0, 1, 2], default=3)
    return (frame.assign(_rank=rank, _spend=-frame["TotalSpend"].fillna(0))
            .sort_values(["_rank", "_spend"], kind="stable").drop(columns=["_rank", "_spend"]))


def describe_changes(
    old_files: Mapping[str, FileState],
    new_files: Mapping[str, FileState],
    old_customers: pd.DataFrame | None,
    new_customers: pd.DataFrame,
    waiting: list[str] | None = None,
    notices: list[str] | None = None,
    how: str = "full",
) -> LiveUpdate:
    """A ``LiveUpdate`` from two states of a log: its files (``FileState`` by name, with
    line counts) and its scored customers (``SegmentationModel.segment`` output)."""
    added = [n for n in new_files if n not in old_files]
    changed = [n for n in new_files if n in old_files and new_files[n].digest != old_files[n].digest]
    removed = [n for n in old_files if n not in new_files]
    grown = [n for n in changed if new_files[n].grew_from == old_files[n].digest]  # earlier lines kept
    old_ids = pd.Index([], dtype="string") if old_customers is None else old_customers.index
    moves = empty_moves() if old_customers is None else order_moves(
        old_customers["Segment"], new_customers["Segment"], new_customers.get("TotalSpend"))
    last = new_customers["LastPurchase"].max() if len(new_customers) else None
    return LiveUpdate(
        added_files=added, changed_files=changed, removed_files=removed, waiting_files=list(waiting or []),
        new_lines=sum(new_files[n].lines for n in added + changed) - sum(old_files[n].lines for n in grown),
        removed_lines=sum(old_files[n].lines for n in removed + changed if n not in grown),
        new_customers=[str(c) for c in new_customers.index.difference(old_ids)] if old_customers is not None else [],
        gone_customers=[str(c) for c in old_ids.difference(new_customers.index)],
        moves=moves, last_purchase=None if last is None or pd.isna(last) else pd.Timestamp(last),
        updated=pd.Timestamp.now(tz="UTC").tz_localize(None), notices=list(notices or []), how=how,
    )


def purchased_since(scored: pd.DataFrame, since: pd.Timestamp | str, source: str | Path = "the data") -> pd.DataFrame:
    """The customers of ``scored`` whose last purchase is on or after ``since`` (a day:
    its midnight). Their features and segments still come from their whole history."""
    if "LastPurchase" not in scored.columns:
        raise SegkitDataError(f"'{source}' is a customer table without LastPurchase, so purchases since a date "
                              "are unknown; score the transaction log instead, or drop --since.")
    return scored[scored["LastPurchase"] >= pd.Timestamp(since).normalize()]
