"""Follow a folder of transaction files: incremental refresh, and one snapshot shared by pages.

``FolderScan`` lists the files of a log (``segkit.ingest.logs.log_files``) with their content hash,
and holds back files still being written. ``LiveLog`` keeps the loaded lines, the clean
lines, the customers and their segments in memory and brings them up to date with the
folder: only new and changed files are read; the customers they touch (and those of
removed files) are cleaned again from *all* their lines, so a cancellation in a new file
nets against older purchases; everyone is scored again with the saved model, which is
never retrained. ``LiveFeed`` is what a page holds: one refresh per folder state is
computed by one kernel, written as a snapshot in the cache folder under a file lock, and
read by every other kernel; when the page refresher (``segkit.live.refresher``)
follows the log, it computes every snapshot and names the newest in its heartbeat
(``LiveFeed.publish``), and pages only read (``LiveFeed.follower``).

How a page uses it::

    feed = LiveFeed(default_data_path(), load_artifacts(artifacts_dir()))
    feed.check()                       # first call: the whole log (from a snapshot if one exists)
    ...                                # every refresh_seconds():
    update = feed.check()              # None when nothing changed
    if update:
        table = feed.customers         # scored customers, the page's data
        header = update.header()       # "data up to 9 Dec 2011 12:50, updated 14:03"
        notice = update.summary()      # new lines, new customers, moves that matter first
        update.moves                   # CustomerID -> From, To, Matters (filter the table to them)

Snapshot date: Recency (and every windowed count) is measured from the day after the
last purchase in the data. When a file brings a later day, every customer's Recency
changes: Recency is recomputed for all customers from ``LastPurchase`` (a subtraction),
and for a model with an observation window (``--window-days``) every customer's features
are recomputed, since lines leave the window. Everybody is scored again either way;
scoring is fast (0.5 s for 937k customers).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping

import numpy as np
import pandas as pd

from segkit.clean import clean_transactions, date_window
from segkit.config import cache_dir, settle_seconds
from segkit.errors import SegkitDataError
from segkit.features.customers import customer_features
from segkit.files.atomic import replaced_atomically, write_text_atomically
from segkit.files.locks import computed_once, file_lock, modified_time, remove_lock
from segkit.ingest.cache import file_digest, file_digests, prefix_digest
from segkit.ingest.load import load_transactions
from segkit.ingest.logs import (
    drop_repeats_across_files,
    line_hashes,
    log_files,
    read_grown_csv,
    repeated_across_files,
    source_labels,
    with_source_files,
)
from segkit.rules.registry import REGISTERED_FEATURES
from segkit.schema import snapshot_date_for

if TYPE_CHECKING:
    from segkit.modeling.model import SegmentationModel

__all__ = [
    "FileState",
    "FolderScan",
    "LiveUpdate",
    "LiveLog",
    "LiveFeed",
    "describe_changes",
    "order_moves",
    "purchased_since",
    "SEGMENT_COLUMNS",
]

#: Columns ``SegmentationModel.segment`` adds to a customer table.
SEGMENT_COLUMNS = ("Cluster", "Segment", "Recommendation", "Stage", "ValueTier", "DaysToStageChange", "Confidence")
#: A move from a valued segment into a slipping one is listed first.
VALUED_SEGMENTS = ("VIP", "Loyal")
SLIPPING_SEGMENTS = ("At risk", "Lost")
#: Bump when the snapshot's contents change, so old snapshots are not reused.
_SNAPSHOT_VERSION = 5  # 5: DaysToStageChange; 4: the JSON records it ("version"), and "computed_by", "waiting"
#: Snapshots written by another snapshot version (an earlier segkit) are removed once they
#: are this old (a kernel of that version may still be reading a younger one).
OTHER_VERSION_SECONDS = 86400.0
#: Most parts a snapshot's raw lines are kept in before they are written whole again.
RAW_PARTS = 8
#: A page refresher (``segkit.live.refresher``) touches its heartbeat file this often ...
FOLLOWER_BEAT_SECONDS = 2.0
#: ... and is taken for gone (pages compute their refreshes again) when it is older than this.
FOLLOWER_STALE_SECONDS = 10.0


@dataclass(frozen=True)
class FileState:
    """One file of a log as last read: name (``SourceFile``), path, SHA-256 of its bytes,
    size (bytes), modification time (ns) and lines read from it. For a CSV file that grew:
    ``grew_from``, the digest of the version whose lines were kept (only the new lines were
    read), and ``plain``, whether its cells read the same alone as in the whole file
    (``load.plain_cells``; ``None``: not checked)."""

    name: str
    path: str
    digest: str
    size: int
    mtime_ns: int
    lines: int = 0
    grew_from: str = ""
    plain: bool | None = None


class FolderScan:
    """The settled files of a log, by content.

    A file counts once it is settled: its modification time is at least ``settle``
    seconds old (``SEGKIT_SETTLE_SECONDS``, default 10), or its size and time are the same
    as at the previous check. A file still growing is listed in ``waiting`` and read at a
    later check. Names a copy uses while writing (``*.tmp``, ``*.part``, dotfiles) are never
    read; writing under such a name and renaming is the safe way to drop a file in. Hashes
    are kept per (path, size, time), so an unchanged file is not read again.
    """

    def __init__(self, source: str | Path, settle: float | None = None) -> None:
        self.source = source
        self.settle = settle_seconds() if settle is None else float(settle)
        self._seen: dict[str, tuple[int, int]] = {}
        self._digests: dict[tuple[str, int, int], str] = {}
        self._hashed: dict[str, int] = {}  # path -> size of the version last hashed
        #: (path, size, time, earlier size) -> digest of the earlier size's bytes, taken while hashing a
        #: file that grew (``prefix``): its earlier bytes are not read a second time to check them.
        self._prefixes: dict[tuple[str, int, int, int], str] = {}

    def check(self, now: float | None = None) -> tuple[dict[str, FileState], list[str]]:
        """``(ready, waiting)``: settled files by name, and names of files still being written."""
        now = time.time() if now is None else now
        try:
            paths = log_files(self.source)
        except SegkitDataError:
            if Path(str(self.source)).expanduser().exists() or any(c in str(self.source) for c in "*?["):
                return {}, []  # an empty folder: no files yet
            raise
        labels = source_labels(paths)
        ready: dict[str, FileState] = {}
        waiting: list[str] = []
        seen: dict[str, tuple[int, int]] = {}
        for path in paths:
            try:
                stat = path.stat()
            except OSError:  # removed between listing and stat
                continue
            stamp = (stat.st_size, stat.st_mtime_ns)
            seen[str(path)] = stamp
            settled = (now - stat.st_mtime >= self.settle) or self._seen.get(str(path)) == stamp
            if not settled or stat.st_size == 0:
                waiting.append(labels[path])
                continue
            key = (str(path), *stamp)
            if key not in self._digests:
                earlier = self._hashed.get(str(path), 0)
                if 0 < earlier < stat.st_size:
                    self._prefixes[(*key, earlier)], self._digests[key] = file_digests(path, earlier)
                else:
                    self._digests[key] = file_digest(path)
                self._hashed[str(path)] = stat.st_size
            ready[labels[path]] = FileState(labels[path], str(path), self._digests[key], *stamp)
        self._seen = seen
        current = {(s.path, s.size, s.mtime_ns) for s in ready.values()}
        self._prefixes = {k: v for k, v in self._prefixes.items() if k[:3] in current}
        return ready, waiting

    def prefix(self, state: FileState, size: int) -> str:
        """SHA-256 of the first ``size`` bytes of ``state``'s file: taken while hashing it when
        this scan hashed that file at ``size`` before (a file that grew), else read now."""
        known = self._prefixes.get((state.path, state.size, state.mtime_ns, size))
        return known if known is not None else prefix_digest(Path(state.path), size)


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
    moves: pd.DataFrame = field(default_factory=lambda: _empty_moves())
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
            parts.append(f"{self.new_lines:,} new lines from {_names(files)}.")
        if self.removed_files:
            one = len(self.removed_files) == 1
            parts.append(f"{_names(self.removed_files)} {'is' if one else 'are'} no longer in the folder: "
                         f"{'its' if one else 'their'} {self.removed_lines:,} lines were dropped.")
        if self.new_customers:
            n = len(self.new_customers)
            parts.append(f"{n:,} new customer{'s' if n != 1 else ''}.")
        if self.gone_customers:
            n = len(self.gone_customers)
            parts.append(f"{n:,} customer{'s' if n != 1 else ''} no longer in the data.")
        if len(self.moves):
            n, matters = len(self.moves), int(self.moves["Matters"].sum())
            parts.append(f"{n:,} customer{'s' if n != 1 else ''} moved segment"
                         + (f", {matters:,} from {' or '.join(VALUED_SEGMENTS)} to At risk or Lost" if matters else "")
                         + moves_ending + ".")
        if self.waiting_files:
            parts.append(f"{_names(self.waiting_files)} still being written; read at a later check.")
        return parts + list(self.notices)

    def summary(self) -> str:
        """The notice as one paragraph, the first moves named (a pipeline's log line)."""
        head = ", ".join(f"{c} {r.From} -> {r.To}" for c, r in self.moves.head(3).iterrows())
        ending = f" ({head}{', ...' if len(self.moves) > 3 else ''})" if len(self.moves) else ""
        return " ".join(self.sentences(ending)) or "No change."


def _names(names: list[str], limit: int = 3) -> str:
    shown = ", ".join(f"'{n}'" for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _empty_moves() -> pd.DataFrame:
    return pd.DataFrame({"From": pd.Series(dtype="string"), "To": pd.Series(dtype="string"),
                         "Matters": pd.Series(dtype=bool), "TotalSpend": pd.Series(dtype="float64")},
                        index=pd.Index([], dtype="string", name="CustomerID"))


def order_moves(old: pd.Series, new: pd.Series, spend: pd.Series | None = None) -> pd.DataFrame:
    """Customers whose segment differs between ``old`` and ``new`` (Series of segment
    names by CustomerID; customers in only one are not moves), the moves that matter first:
    VIP or Loyal to At risk or Lost; then other moves into At risk or Lost; then moves out
    of them (won back); then the rest; within each, the largest ``spend`` first."""
    common = old.index.intersection(new.index)
    before, after = old.reindex(common).astype("string"), new.reindex(common).astype("string")
    moved = (before != after).fillna(True).to_numpy(dtype=bool)
    if not moved.any():
        return _empty_moves()
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
    moves = _empty_moves() if old_customers is None else order_moves(
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


class LiveLog:
    """A log kept up to date with its folder, in memory (one kernel).

    ``refresh()`` reads new and changed files, drops removed ones, cleans again the
    customers they touch from all of their lines (``clean_transactions``), recomputes their
    features (``customer_features``, with the model's observation window and registered
    features, as ``segkit.pipeline.workflow.customers_for_scoring`` does), and scores every customer
    with ``model.segment``; the model is never refitted. A log covering fewer days than the
    model's window is refused as ``customers_for_scoring`` refuses it, or with
    ``allow_short_window`` scored with a notice.

    State: ``files`` (``FileState`` by name), ``transactions`` (lines as read, with
    ``SourceFile``), ``lines`` (clean lines), ``features`` and ``customers`` (scored).
    ``report`` is the cleaning report of the whole log (computed when asked for after an
    incremental refresh).
    """

    def __init__(
        self,
        source: str | Path,
        model: "SegmentationModel",
        columns: Mapping[str, str] | None = None,
        rules: str = "default",
        sheet: str | int | None = None,
        dayfirst: bool | None = None,
        allow_short_window: bool = False,
        settle: float | None = None,
    ) -> None:
        from segkit.pipeline.workflow import scoring_window

        self.source = source
        self.model = model
        self.columns = dict(columns or {})
        self.rules = rules
        self.sheet = sheet
        self.dayfirst = dayfirst
        self.allow_short_window = allow_short_window
        self.scan = FolderScan(source, settle)
        self.window_days, self.required_days = scoring_window(model)
        self.extra_features = [f for f in model.input_columns_ if f in REGISTERED_FEATURES]
        self.files: dict[str, FileState] = {}
        self.transactions: pd.DataFrame = with_source_files([], [])
        self.lines: pd.DataFrame | None = None
        self.features: pd.DataFrame | None = None
        self.customers: pd.DataFrame | None = None
        self._report: pd.DataFrame | None = None
        self.date_bounds: tuple[pd.Timestamp, pd.Timestamp] | None = None
        self.snapshot_date: pd.Timestamp | None = None
        self._twins: dict[str, str] = {}  # files skipped as copies of another, told once
        self._broken: dict[str, str] = {}  # files refused by the loader (name -> digest), told once
        self._hashes: np.ndarray | None = None  # ``line_hashes`` of ``transactions``, kept across refreshes
        self._sorted_hashes: np.ndarray | None = None  # the same, sorted (is a new line's hash an old one's?)
        self._repeated: np.ndarray | None = None  # ``load.repeated_across_files`` of ``transactions``
        #: Snapshot files (``LiveFeed``) holding the first ``_raw_rows`` lines of ``transactions``, in
        #: order; a refresh that only adds files leaves them valid, one that drops lines empties the list.
        self._raw_parts: list[str] = []
        self._raw_rows = 0

    @property
    def report(self) -> pd.DataFrame | None:
        """The cleaning report of the whole log as it is now (``clean_transactions``).
        An incremental refresh cleans only the customers it touches, so after one the
        report is computed again when asked for (a full clean), then kept."""
        if self._report is None and len(self.transactions):
            self._report = clean_transactions(_distinct(self.transactions, self._hashes), rules=self.rules).report
        return self._report

    @report.setter
    def report(self, value: pd.DataFrame | None) -> None:
        self._report = value

    @property
    def last_purchase(self) -> pd.Timestamp | None:
        if self.lines is None or self.lines.empty:
            return None
        return pd.Timestamp(self.lines["InvoiceDate"].max())

    def refresh(self, now: float | None = None) -> LiveUpdate:
        """Check the folder and apply what changed (see the class docstring)."""
        ready, waiting = self.scan.check(now)
        return self.apply(ready, waiting)

    def apply(self, ready: Mapping[str, FileState], waiting: list[str] | None = None,
              scan: FolderScan | None = None) -> LiveUpdate:
        """Bring the state to the settled files ``ready`` (from ``FolderScan.check``; ``scan``:
        the scan that listed them, default this log's own).

        A file that changed after the scan (its size or time differ once it is read) is left
        for the next check, its earlier version kept: the lines kept for a file are always
        those of the bytes its digest and size describe, so a CSV file that grows later is
        read on from the end of a whole line (not from inside a quoted field that the writer
        finished meanwhile)."""
        scan = scan or self.scan
        waiting = list(waiting or [])
        if not ready and not self.files:
            raise SegkitDataError(f"'{self.source}' holds no settled transaction file yet; put .xlsx, .csv or "
                                  ".parquet files there" + (f" ({_names(waiting)} still being written)." if waiting else "."))
        notices: list[str] = []
        by_digest = {s.digest: n for n, s in self.files.items()}
        incoming: dict[str, tuple[FileState, pd.DataFrame]] = {}
        grown: set[str] = set()  # files of which only the new lines were read
        meanwhile: list[str] = []  # files written to between the scan and their reading
        target: dict[str, FileState] = {}
        for name, state in ready.items():
            known = self.files.get(name)
            if known is not None and known.digest == state.digest:
                target[name] = known
                continue
            appended = self._appended_lines(known, state, scan) if known is not None else None
            if appended is not None and not _unchanged_since(state):
                waiting.append(name)
                meanwhile.append(name)
                target[name] = known
                continue
            if appended is not None:
                incoming[name], target[name] = appended, appended[0]
                grown.add(name)
                by_digest[state.digest] = name
                continue
            twin = by_digest.get(state.digest)
            if twin is not None and twin != name and twin in ready and ready[twin].digest == state.digest:
                if self._twins.get(name) != state.digest:
                    notices.append(f"'{name}' has the same contents as '{twin}'; it was read once.")
                    self._twins[name] = state.digest
                continue
            if self._broken.get(name) == state.digest:  # refused before and unchanged since
                if known is not None:
                    target[name] = known
                continue
            try:
                frame = load_transactions(state.path, columns=self.columns, sheet=self.sheet, dayfirst=self.dayfirst)
                if not _unchanged_since(state):  # written to meanwhile: read at a later check
                    waiting.append(name)
                    meanwhile.append(name)
                    if known is not None:
                        target[name] = known
                    continue
            except SegkitDataError as exc:
                notices.append(f"{exc} (Skipped; it is read again once it changes"
                               + (", and its earlier version is kept meanwhile.)" if known is not None else ".)"))
                self._broken[name] = state.digest
                if known is not None:
                    target[name] = known  # keep the version read before
                continue
            by_digest[state.digest] = name
            incoming[name] = (FileState(*[getattr(state, f) for f in ("name", "path", "digest", "size", "mtime_ns")],
                                        lines=len(frame)), frame)
            target[name] = incoming[name][0]
        # A file being rewritten stays as it was read until it settles.
        for name in waiting:
            if name in self.files and name not in target:
                target[name] = self.files[name]
        removed = [n for n in self.files if n not in target]
        if not target and self.customers is None and meanwhile:  # every file changed while it was read
            raise SegkitDataError(f"'{self.source}' holds no settled transaction file yet ({_names(meanwhile)} still "
                                  "being written); it is read at the next check.")
        if not incoming and not removed and self.customers is not None:
            return describe_changes(self.files, self.files, self.customers, self.customers, waiting, notices, "incremental")

        old_files, old_customers = dict(self.files), self.customers
        dropped = set(removed) | {n for n in incoming if n in self.files and n not in grown}
        how = self._update(dropped, incoming)
        self.files = {n: target[n] for n in sorted(target)}
        notices.extend(self._window_notice())
        return describe_changes(old_files, self.files, old_customers, self.customers, waiting, notices, how)

    # ------------------------------------------------------------------ internals

    def _appended_lines(self, known: FileState, state: FileState, scan: FolderScan
                        ) -> tuple[FileState, pd.DataFrame] | None:
        """A CSV file that only grew since it was read (its earlier bytes unchanged: same
        size-long prefix hash, ``scan.prefix``): its new lines alone (``load.read_grown_csv``),
        else ``None``."""
        if Path(state.path).suffix.lower() != ".csv" or state.size <= known.size or known.size <= 0:
            return None
        try:
            if scan.prefix(state, known.size) != known.digest:
                return None
            read = read_grown_csv(state.path, known.size, known.plain, self.columns, self.dayfirst,
                                  new_size=state.size, old_lines=known.lines)
        except OSError:
            return None
        if read is None:
            return None
        frame, plain = read
        grown = FileState(state.name, state.path, state.digest, state.size, state.mtime_ns,
                          lines=known.lines + len(frame), grew_from=known.digest, plain=plain)
        return grown, frame

    def _update(self, dropped: set[str], incoming: Mapping[str, tuple[FileState, pd.DataFrame]]) -> str:
        old = self.transactions
        leaving = old["SourceFile"].isin(list(dropped)).to_numpy(dtype=bool)
        touched = pd.Index(old.loc[leaving, "CustomerID"].dropna().unique())
        for _, frame in incoming.values():
            touched = touched.union(pd.Index(frame["CustomerID"].dropna().unique()))
        # Computed into locals and kept only at the end: a refused refresh changes nothing.
        raw = _stack(old if not leaving.any() else old.loc[~leaving], [f for _, f in incoming.values()], list(incoming))
        report = None  # after an incremental clean, computed when asked for (``report``)
        hashes, sorted_hashes, repeated = self._repeats(raw, old, leaving, len(incoming))
        distinct = (raw if not repeated.any() else raw.loc[~repeated].reset_index(drop=True)).drop(columns="SourceFile")
        # The outlier-date bounds of the whole log, as the full cleaning takes them (lines with a
        # customer and a date, each line in several files once): given to the cleaning of the
        # touched customers, whose every later rule is per customer, so their lines come out as
        # in a full clean.
        dates = distinct["InvoiceDate"][distinct["CustomerID"].notna().to_numpy(dtype=bool)]
        bounds = date_window(dates)
        full = self.lines is None or self._bounds_moved(dates, bounds)
        if full:
            lines, report = clean_transactions(distinct, rules=self.rules, window=bounds)
        else:
            mine = distinct["CustomerID"].isin(touched).to_numpy(dtype=bool)
            with _one_duckdb_thread():
                part = clean_transactions(distinct.loc[mine], rules=self.rules, window=bounds).lines
            keep = ~self.lines["CustomerID"].isin(touched).to_numpy(dtype=bool)
            lines = pd.concat([self.lines.loc[keep] if not keep.all() else self.lines, part], ignore_index=True)
        if lines.empty:
            raise SegkitDataError(f"'{self.source}' has no usable lines after cleaning; check the customer, "
                                  "quantity and price columns of its files.")
        snapshot = snapshot_date_for(lines["InvoiceDate"].max())
        everyone = full or self.features is None or (self.window_days is not None and snapshot != self.snapshot_date)
        if everyone:
            features = self._features(lines, snapshot)
        else:
            mine = part  # the touched customers' lines (an incremental clean: ``everyone`` follows ``full``)
            with _one_duckdb_thread():
                part_features = self._features(mine, snapshot) if len(mine) else self.features.iloc[0:0]
            rest = self.features[~self.features.index.isin(touched)]
            features = pd.concat([rest, part_features]).sort_index()
            if snapshot != self.snapshot_date:
                features["Recency"] = (snapshot - features["LastPurchase"]).dt.days.astype("int64")
        self._check_window(features, snapshot)
        customers = self.model.segment(features)
        self.transactions, self.lines, self._report, self.date_bounds = raw, lines, report, bounds
        self._hashes, self._sorted_hashes, self._repeated = hashes, sorted_hashes, repeated
        if leaving.any():
            self._raw_parts, self._raw_rows = [], 0
        self.features, self.snapshot_date, self.customers = features, snapshot, customers
        return "full" if everyone and full else "incremental"

    def _repeats(self, raw: pd.DataFrame, old: pd.DataFrame, leaving: np.ndarray, files: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(hashes, sorted hashes, repeated)`` of ``raw`` (``load.line_hashes``, and which
        lines ``load.drop_repeats_across_files`` drops). When files were only added (``raw``:
        the old lines, then the new) and no new line's hash is an old line's, the old lines'
        answer stands and only the new lines are hashed and compared among themselves."""
        kept = len(old) - int(leaving.sum())
        if (self._hashes is None or self._sorted_hashes is None or self._repeated is None
                or len(self._hashes) != len(old) or leaving.any()):
            hashes = line_hashes(raw)
            return hashes, np.sort(hashes), repeated_across_files(raw, hashes)
        new = line_hashes(raw.iloc[kept:])
        hashes = np.concatenate([self._hashes, new])
        new_sorted = np.sort(new)
        at = np.searchsorted(self._sorted_hashes, new_sorted)
        seen = (at < len(self._sorted_hashes)) & (self._sorted_hashes[np.minimum(at, len(self._sorted_hashes) - 1)]
                                                 == new_sorted) if len(self._sorted_hashes) else np.zeros(len(new), bool)
        sorted_hashes = np.insert(self._sorted_hashes, at, new_sorted)
        if seen.any():  # a new line equal to an old one: the whole log decides which copy stays
            return hashes, sorted_hashes, repeated_across_files(raw, hashes)
        among_new = repeated_across_files(raw.iloc[kept:], new) if files > 1 else np.zeros(len(new), dtype=bool)
        return hashes, sorted_hashes, np.concatenate([self._repeated, among_new])

    def _features(self, lines: pd.DataFrame, snapshot: pd.Timestamp) -> pd.DataFrame:
        return customer_features(lines, snapshot_date=snapshot, window_days=self.window_days,
                                 extra_features=self.extra_features)

    def _bounds_moved(self, dates: pd.Series, bounds: tuple[pd.Timestamp, pd.Timestamp]) -> bool:
        """True when the new outlier-date bounds keep or drop some line differently."""
        if self.date_bounds is None:
            return True
        if bounds == self.date_bounds:
            return False
        return bool((dates.between(*bounds) != dates.between(*self.date_bounds)).any())

    def _covered_days(self, features: pd.DataFrame, snapshot: pd.Timestamp) -> int:
        return int((snapshot - features["FirstPurchase"].min().normalize()).days)

    def _check_window(self, features: pd.DataFrame, snapshot: pd.Timestamp) -> None:
        note = self._shortfall(features, snapshot)
        if note and not self.allow_short_window:
            raise SegkitDataError(note + " Wait for a log that covers the window, train a model on a window this "
                                  "log covers (segkit train --window-days N), or allow a short window to score anyway.")

    def _shortfall(self, features: pd.DataFrame, snapshot: pd.Timestamp) -> str:
        from segkit.pipeline.workflow import CustomerData, window_shortfall

        data = CustomerData(str(self.source), False, self.rules, None, None, None, features, self.window_days)
        return window_shortfall(data, self.required_days, self.window_days)

    def _window_notice(self) -> list[str]:
        note = self._shortfall(self.features, self.snapshot_date)
        return [note + " Scored anyway: read Recency-based segments with care."] if note else []


def _unchanged_since(state: FileState) -> bool:
    """True when ``state``'s file still has the size and modification time the scan saw."""
    try:
        stat = os.stat(state.path)
    except OSError:
        return False
    return (stat.st_size, stat.st_mtime_ns) == (state.size, state.mtime_ns)


@contextlib.contextmanager
def _one_duckdb_thread() -> Iterator[None]:
    """The process's DuckDB engine on one thread meanwhile: the touched customers' lines are
    few, and on them parallel workers cost more CPU than they save."""
    from segkit.engines.duckdb import local_engine

    with local_engine() as engine:  # holds the engine's lock: no other query runs meanwhile
        before = int(engine.con.raw_sql("SELECT current_setting('threads')").fetchone()[0])
        engine.con.raw_sql("SET threads = 1")
        try:
            yield
        finally:
            engine.con.raw_sql(f"SET threads = {before}")


def _distinct(raw: pd.DataFrame, hashes: np.ndarray | None = None) -> pd.DataFrame:
    """Lines as ``load_log`` gives them to the cleaning: each line in several files once,
    without ``SourceFile`` (the duplicate rule compares lines across files); ``hashes``:
    ``line_hashes(raw)`` when known."""
    return drop_repeats_across_files(raw, hashes)[0].drop(columns="SourceFile")


def _stack(kept: pd.DataFrame, frames: list[pd.DataFrame], names: list[str]) -> pd.DataFrame:
    """``kept`` (with ``SourceFile``) and new canonical frames tagged with their names."""
    if len(kept) == 0:
        return _few_chunks(with_source_files(frames, names))
    if not frames:
        out = kept.copy()
        out["SourceFile"] = out["SourceFile"].cat.remove_unused_categories()
        return out
    new = with_source_files(frames, names)
    categories = pd.Index(list(dict.fromkeys([*kept["SourceFile"].cat.categories, *names])), dtype="string")
    kept = kept.assign(SourceFile=kept["SourceFile"].cat.set_categories(categories))
    new = new.assign(SourceFile=new["SourceFile"].cat.set_categories(categories))
    out = pd.concat([kept, new], ignore_index=True) if len(kept) else new
    out["SourceFile"] = out["SourceFile"].cat.remove_unused_categories()
    return _few_chunks(out)


def _few_chunks(frame: pd.DataFrame, most: int = 32) -> pd.DataFrame:
    """``frame`` with each text column held in one piece once it is in more than ``most``
    (each file, each refresh adds one): taking the touched customers' lines out of a
    column in hundreds of pieces costs four times as much."""
    for column in frame.columns:
        values = frame[column].array
        if isinstance(frame[column].dtype, pd.StringDtype) and hasattr(values, "__arrow_array__"):
            pieces = values.__arrow_array__()
            if getattr(pieces, "num_chunks", 0) > most:
                frame[column] = pd.array(pieces.combine_chunks(), dtype=frame[column].dtype)
    return frame


# --------------------------------------------------------------------------- shared snapshots


def snapshot_folder() -> Path:
    """Where live snapshots are written: ``live/`` in the cache folder (``SEGKIT_CACHE``)."""
    return cache_dir() / "live"


class LiveFeed:
    """What an open page holds: the log's scored customers, refreshed from a snapshot
    shared by every kernel (see the module docstring for the calls).

    ``check()`` lists the settled files (``FolderScan``); their names and hashes, the
    model version and the reading options make the snapshot key. When a snapshot with
    that key exists in ``snapshot_folder()`` it is read (customers, and the clean lines
    with ``with_lines``); otherwise this kernel takes the key's file lock, and computes it
    (from its own ``LiveLog``, else from the newest snapshot's state, else from scratch)
    and writes it: its parts (``_write_part``) and a JSON written last, each under a temporary name
    moved into place, so a reader never sees half a snapshot. Other kernels waiting on the
    lock then read it.

    The lines as read (``raw``, what a kernel without state needs to compute the next
    snapshot) are written as a chain: a refresh that only adds files writes only their lines,
    and the snapshot lists the parts that make its log (at most ``RAW_PARTS``; then one
    whole part again). Of each log (folder, model and options) the ``keep`` newest
    snapshots are kept; older ones are removed under the log's lock, with the raw parts no
    kept snapshot lists (see ``_prune``).
    """

    def __init__(
        self,
        source: str | Path,
        model: "SegmentationModel",
        columns: Mapping[str, str] | None = None,
        rules: str = "default",
        sheet: str | int | None = None,
        dayfirst: bool | None = None,
        allow_short_window: bool = False,
        settle: float | None = None,
        folder: str | Path | None = None,
        with_lines: bool = True,
        with_report: bool = False,
        keep: int = 3,
        follower: bool = False,
    ) -> None:
        self._options = dict(columns=columns, rules=rules, sheet=sheet, dayfirst=dayfirst,
                             allow_short_window=allow_short_window, settle=settle)
        self.source = source
        self.model = model
        self.scan = FolderScan(source, settle)
        self.folder = Path(folder) if folder is not None else snapshot_folder()
        self.with_lines = with_lines
        self.with_report = with_report
        self.keep = keep
        self.key: str | None = None
        self.files: dict[str, FileState] = {}
        self.customers: pd.DataFrame | None = None
        self.lines: pd.DataFrame | None = None
        #: The cleaning report of the log as the snapshot holds it (rule, rows and revenue removed and
        #: left): always after a full clean, after an incremental one only when the computing kernel
        #: has ``with_report`` (a full clean: 0.5 s CPU more on the real data), else ``None``.
        self.report: pd.DataFrame | None = None
        self.computed = 0  # snapshots this kernel computed (the rest it read)
        #: This feed is the page refresher's (``segkit.live.refresher``): it computes every
        #: refresh itself and publishes it (``publish``); other feeds of the same log read it.
        self.is_follower = follower
        self._follower_error = ""  # the refresher's failure this feed last reported
        self._live: LiveLog | None = None
        self._live_key: str | None = None  # the snapshot ``_live`` is at

    @property
    def model_version(self) -> str:
        version = getattr(self.model, "version_", None)
        return str(version) if version else f"unsaved-{os.getpid()}-{id(self.model)}"

    def snapshot_key(self, files: Mapping[str, FileState]) -> str:
        """Hash of the log (its folder or glob, as an absolute path), the files' names and
        contents, the model version and the reading options. The log is part of the key: a
        snapshot also holds files still being written as they were read before, which another
        folder with the same settled files does not have."""
        options = {k: v for k, v in self._options.items() if k != "settle"}
        log = os.path.abspath(os.path.expanduser(str(self.source)))
        text = json.dumps([_SNAPSHOT_VERSION, log, self.model_version, options,
                           sorted((n, s.digest) for n, s in files.items())], sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def check(self, now: float | None = None, wait: float = 0.0) -> LiveUpdate | None:
        """Bring ``customers`` (and ``lines``) up to the folder; ``None`` when nothing changed.

        When a page refresher follows this log (``follower``), its newest snapshot is read
        and the folder is not even listed; ``wait``: seconds to wait for its first one (a
        page opening while the refresher reads the log). Without one (or when it stops
        answering), this kernel lists the folder and computes what no other kernel has."""
        beat = self.follower()
        if beat is not None:
            update, answered = self._check_from_follower(beat, wait)
            if answered:
                return update
        ready, waiting = self.scan.check(now)
        key = self.snapshot_key(ready)
        if key == self.key:
            return None
        how = "snapshot"

        def compute() -> dict:
            nonlocal how
            live = self._state_to_compute()
            update = live.apply(ready, waiting, self.scan)
            meta = self._write(key, live, update.notices, waiting)
            self._live, self._live_key, self.computed, how = live, key, self.computed + 1, update.how
            return meta

        for attempt in range(3):
            meta = computed_once(self.folder / f"{key}.lock", lambda: self._read_meta(key), compute)
            if how != "snapshot":
                return self._take(key, meta, self._live.customers, self._live.lines, waiting, how)
            try:
                customers, lines = self._read_parts(key)
                return self._take(key, meta, customers, lines, waiting, how)
            except OSError:  # removed (``_prune``) between its JSON and its parts: read again, or compute it
                if attempt == 2:
                    return None
        return None

    def _read_parts(self, key: str) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        customers = _read_part(self.folder / f"{key}.customers.arrow")
        lines = _read_part(self.folder / f"{key}.lines.arrow") if self.with_lines else None
        return customers, lines

    def _take(self, key: str, meta: dict, customers: pd.DataFrame, lines: pd.DataFrame | None,
              waiting: list[str], how: str) -> LiveUpdate:
        files = {n: FileState(**s) for n, s in meta["files"].items()}
        update = describe_changes(self.files, files, self.customers, customers, waiting, meta.get("notices"), how)
        self.key, self.files, self.customers, self.lines = key, files, customers, lines
        self.report = pd.DataFrame(meta["report"]) if meta.get("report") else None
        return update

    # ------------------------------------------------------------------ the page refresher

    def follower_path(self) -> Path:
        """The heartbeat of the page refresher following this log with this model and
        options: JSON ``{"pid", "host", "key", "error"}`` (``key``: its newest snapshot;
        ``error``: why its last check failed), touched every ``FOLLOWER_BEAT_SECONDS``."""
        return self.folder / f"{self.snapshot_key({})}.follower.json"

    def follower(self) -> dict[str, Any] | None:
        """The page refresher's heartbeat when one follows this log and is alive (touched
        within ``FOLLOWER_STALE_SECONDS``, its process running when on this machine), else
        ``None``; always ``None`` for the refresher's own feed."""
        if self.is_follower:
            return None
        path = self.follower_path()
        try:
            if time.time() - path.stat().st_mtime > FOLLOWER_STALE_SECONDS:
                return None
            beat = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        if beat.get("host") == socket.gethostname() and not _pid_alive(beat.get("pid")):
            return None
        return beat

    def has_news(self) -> bool:
        """True when the page refresher has a snapshot this feed has not read, or a failure
        it has not reported: cheap (one small file read), for a page to poll often."""
        beat = self.follower()
        return beat is not None and (beat.get("key") not in (None, self.key)
                                     or (beat.get("error") or "") != self._follower_error)

    def publish(self, error: str = "", pid: int | None = None) -> None:
        """The refresher's word to the pages: its newest snapshot (this feed's) and, with
        ``error``, why its last check failed; ``pid``: the refresher's process (default this
        one; a page that starts a refresher publishes for it until it takes over). Written
        whole under a temporary name."""
        self.folder.mkdir(parents=True, exist_ok=True)
        _write_text(json.dumps({"pid": pid or os.getpid(), "host": socket.gethostname(), "key": self.key,
                                "error": error or None, "written": time.time()}), self.follower_path())

    def _check_from_follower(self, beat: dict[str, Any], wait: float) -> tuple[LiveUpdate | None, bool]:
        """``(update, answered)`` from the refresher's heartbeat ``beat``; ``answered`` is
        False when this kernel should compute after all (the refresher stopped, or it had
        nothing to give a page that has nothing yet within ``wait`` seconds)."""
        deadline = time.monotonic() + wait
        while True:
            key, error = beat.get("key"), beat.get("error") or ""
            if key and key != self.key:
                meta = self._read_meta(key)
                if meta is not None:
                    try:
                        customers, lines = self._read_parts(key)
                        self._follower_error = ""  # a failure since that snapshot is told at the next check
                        return self._take(key, meta, customers, lines, list(meta.get("waiting") or []),
                                          "snapshot"), True
                    except OSError:
                        pass  # pruned meanwhile: the refresher has a newer one
            elif error:
                self._follower_error = error
                raise SegkitDataError(error)
            elif key and key == self.key:
                self._follower_error = ""
                return None, True
            if time.monotonic() >= deadline:
                return None, self.key is not None
            time.sleep(0.2)
            beat = self.follower()
            if beat is None:
                return None, False

    def prepare(self) -> None:
        """Get this kernel ready to compute a refresh, ahead of the day it has to: a kernel
        that has only read snapshots has not yet started its DuckDB engine (importing ibis's
        DuckDB backend and connecting, once per process) nor run the
        model's pipeline, and would pay both on top of its first refresh. A page calls this
        once when it opens from a snapshot (a pre-heated kernel: before its visitor comes)."""
        from segkit.engines.duckdb import local_engine

        with local_engine():
            pass
        if self.customers is not None and len(self.customers):
            self.model.segment(self.customers.drop(columns=[c for c in SEGMENT_COLUMNS if c in self.customers]).head(2))

    # ------------------------------------------------------------------ internals

    def _read_meta(self, key: str) -> dict[str, Any] | None:
        path = self.folder / f"{key}.json"
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None

    def _state_to_compute(self) -> LiveLog:
        """The state to refresh from: this kernel's ``LiveLog`` when it is at the snapshot
        the page shows; else one rebuilt from that snapshot, or from the newest one of the
        same model and options; else an empty one (the refresh then reads every file)."""
        if self._live is not None and self._live_key == self.key:
            return self._live
        family = self.snapshot_key({})  # the log, model and options
        candidates = [self.folder / f"{self.key}.json"] if self.key else []
        if self.folder.is_dir():
            candidates += sorted(self.folder.glob("*.json"), key=modified_time, reverse=True)
        for path in candidates:
            try:
                meta = json.loads(path.read_text())
                if meta.get("family") != family:
                    continue
                return self._live_from(meta)
            except (OSError, ValueError, KeyError):
                continue
        return LiveLog(self.source, self.model, **self._options)

    def _live_from(self, meta: dict[str, Any]) -> LiveLog:
        key = meta["key"]
        live = LiveLog(self.source, self.model, **self._options)
        parts = list(meta.get("raw_parts") or [key])
        live.transactions = _stacked_parts([_read_part(self.folder / f"{part}.raw.parquet") for part in parts])
        live._raw_parts, live._raw_rows = parts, len(live.transactions)
        # The clean lines and customers this feed read at that snapshot are the same frames: not read again.
        held = key == self.key and self.customers is not None
        live.lines = self.lines if held and self.lines is not None else _read_part(self.folder / f"{key}.lines.arrow")
        live.customers = self.customers if held else _read_part(self.folder / f"{key}.customers.arrow")
        live.features = live.customers.drop(columns=[c for c in SEGMENT_COLUMNS if c in live.customers])
        live.files = {n: FileState(**s) for n, s in meta["files"].items()}
        live.date_bounds = tuple(pd.Timestamp(t) for t in meta["date_bounds"])
        live.snapshot_date = pd.Timestamp(meta["snapshot_date"])
        live.report = pd.DataFrame(meta["report"]) if meta.get("report") else None
        live._twins = dict(meta.get("twins") or {})
        live._broken = dict(meta.get("broken") or {})
        try:  # the lines' hashes, so the next refresh hashes only the new lines
            with np.load(self.folder / f"{key}.hashes.npz") as saved:
                if len(saved["hashes"]) == len(live.transactions):
                    live._hashes, live._sorted_hashes, live._repeated = (saved["hashes"], saved["sorted"],
                                                                         saved["repeated"])
        except (OSError, ValueError, KeyError):
            pass
        return live

    def _write(self, key: str, live: LiveLog, notices: list[str], waiting: list[str] | None = None) -> dict[str, Any]:
        self.folder.mkdir(parents=True, exist_ok=True)
        report = live.report if self.with_report else live._report  # the whole log's report costs a full clean
        if (live._raw_parts and len(live._raw_parts) < RAW_PARTS
                and all((self.folder / f"{part}.raw.parquet").is_file() for part in live._raw_parts)):
            # only the lines added since the last part
            parts, raw = [*live._raw_parts, key], live.transactions.iloc[live._raw_rows:]
        else:
            parts, raw = [key], live.transactions
        for name, frame in (("raw.parquet", raw), ("lines.arrow", live.lines), ("customers.arrow", live.customers)):
            _write_part(frame, self.folder / f"{key}.{name}")
        if live._hashes is not None and live._sorted_hashes is not None and live._repeated is not None:
            _write_arrays(self.folder / f"{key}.hashes.npz", hashes=live._hashes, sorted=live._sorted_hashes,
                          repeated=live._repeated)
        live._raw_parts, live._raw_rows = parts, len(live.transactions)
        meta = {
            "key": key, "family": self.snapshot_key({}), "version": _SNAPSHOT_VERSION,
            "model_version": self.model_version,
            "files": {n: s.__dict__ for n, s in live.files.items()},
            "date_bounds": [str(t) for t in live.date_bounds], "snapshot_date": str(live.snapshot_date),
            "last_purchase": str(live.last_purchase), "notices": notices,
            "report": None if report is None else report.to_dict("records"), "twins": live._twins,
            "broken": live._broken, "raw_parts": parts, "waiting": list(waiting or []),
            "computed_by": {"pid": os.getpid(), "refresher": self.is_follower},
            "written": pd.Timestamp.now(tz="UTC").isoformat(),
        }
        _write_text(json.dumps(meta, default=str), self.folder / f"{key}.json")
        self._prune(key)
        return meta

    def _prune(self, current: str) -> None:
        """Remove this log's snapshots but the ``keep`` newest (and ``current``), under the
        log's lock. The JSON goes first, so a snapshot is gone before its parts; a raw part
        stays while a snapshot lists it. A page that read a snapshot holds what it read;
        one caught between the JSON and the parts of a removed snapshot reads again
        (``check``); a kernel rebuilding its state from one falls back to an older one or
        to the files."""
        family = self.snapshot_key({})
        with file_lock(self.folder / f"{family}.prune.lock"):
            metas = []
            for path in sorted(self.folder.glob("*.json"), key=modified_time, reverse=True):
                try:
                    meta = json.loads(path.read_text())
                except (OSError, ValueError):
                    continue
                if meta.get("family") == family:
                    metas.append(meta)
            kept = [m for i, m in enumerate(metas) if i < self.keep or m.get("key") == current]
            gone = [m for m in metas if m not in kept] + self._other_versions()
            for meta in gone:
                (self.folder / f"{meta['key']}.json").unlink(missing_ok=True)
                for part in ("lines.arrow", "customers.arrow", "hashes.npz"):
                    (self.folder / f"{meta['key']}.{part}").unlink(missing_ok=True)
            # Raw parts, once no snapshot (of any log) lists them.
            listed = set()
            for path in self.folder.glob("*.json"):
                try:
                    meta = json.loads(path.read_text())
                    listed.update(meta.get("raw_parts") or [meta["key"]])
                except (OSError, ValueError, KeyError):
                    continue
            for path in self.folder.glob("*.raw.parquet"):
                key = path.name.split(".")[0]
                if key not in listed and not (self.folder / f"{key}.json").exists():
                    path.unlink(missing_ok=True)
            for meta in gone:
                remove_lock(self.folder / f"{meta['key']}.lock")

    def _other_versions(self) -> list[dict[str, Any]]:
        """The snapshots (of any log) that another snapshot version wrote, over
        ``OTHER_VERSION_SECONDS`` old: an earlier segkit's, which no kernel of this one reads."""
        old = []
        for path in self.folder.glob("*.json"):
            if path.name.endswith(".follower.json") or time.time() - modified_time(path) < OTHER_VERSION_SECONDS:
                continue
            try:
                meta = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if isinstance(meta, dict) and meta.get("key") == path.stem and meta.get("version") != _SNAPSHOT_VERSION:
                old.append(meta)
        return old


def _pid_alive(pid: Any) -> bool:
    """True when a process ``pid`` runs on this machine (or it cannot be told)."""
    try:
        os.kill(int(pid), 0)
    except (TypeError, ValueError, ProcessLookupError):
        return False
    except OSError:  # another user's process
        return True
    return True


def _stacked_parts(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Raw parts (``LiveFeed``'s chain) as one frame of lines as read, in order."""
    if len(parts) == 1:
        return parts[0]
    categories = pd.Index(list(dict.fromkeys(c for p in parts for c in p["SourceFile"].cat.categories)),
                          dtype=parts[0]["SourceFile"].cat.categories.dtype)
    out = pd.concat([p.assign(SourceFile=p["SourceFile"].cat.set_categories(categories)) for p in parts],
                    ignore_index=True)
    out["SourceFile"] = out["SourceFile"].cat.remove_unused_categories()
    return out


def _read_part(path: Path) -> pd.DataFrame:
    """A snapshot part (parquet, or Arrow IPC for ``.arrow``) with segkit's text dtype
    (``"string"``, missing as NA) restored."""
    if path.suffix == ".arrow":
        import pyarrow.feather as feather

        frame = feather.read_table(path).to_pandas()
    else:
        # One thread: a kernel's first threaded read of the raw lines costs 0.3 s of CPU (most of it the
        # system's, starting the reading threads), against 0.05-0.07 s in one; later reads gain nothing.
        frame = pd.read_parquet(path, use_threads=False)
    for column in frame.columns:
        if pd.api.types.is_string_dtype(frame[column].dtype) and not isinstance(frame[column].dtype, pd.CategoricalDtype):
            frame[column] = frame[column].astype("string")
    if pd.api.types.is_string_dtype(frame.index.dtype):
        frame.index = frame.index.astype("string")
    return frame


def _write_part(frame: pd.DataFrame, target: Path) -> None:
    """Write a snapshot part under a temporary name, then move it into place. The clean lines
    and the customers, written at every refresh and read by every page, go as uncompressed
    Arrow IPC (``.arrow``): on the real data 0.02 s to write and 0.01 s to read, against 0.07 s
    and 0.04 s as parquet, for 16 times the disk (48 MB of lines); the lines as read, written
    whole once in ``RAW_PARTS`` refreshes and read only by a kernel without state, as parquet."""
    with replaced_atomically(target) as tmp:
        if target.suffix == ".arrow":
            import pyarrow as pa
            import pyarrow.feather as feather

            feather.write_feather(pa.Table.from_pandas(frame), tmp, compression="uncompressed")
        else:
            frame.to_parquet(tmp)


def _write_arrays(target: Path, **arrays: np.ndarray) -> None:
    """NumPy arrays in one uncompressed ``.npz``, under a temporary name moved into place."""
    with replaced_atomically(target, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)


def _write_text(text: str, target: Path) -> None:
    write_text_atomically(text, target)
