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

The jobs live in modules of their own: ``folder_scan`` (which files are settled),
``live_log`` (the in-memory state and its incremental refresh), ``changes`` (what a refresh
brought, in words), ``snapshot_store`` (snapshots on disk and their key), ``snapshot_pruning``
(removing old ones) and ``heartbeat`` (the page refresher's word to the pages); ``LiveFeed``
ties them together.

Snapshot date: Recency (and every windowed count) is measured from the day after the
last purchase in the data. When a file brings a later day, every customer's Recency
changes: Recency is recomputed for all customers from ``LastPurchase`` (a subtraction),
and for a model with an observation window (``--window-days``) every customer's features
are recomputed, since lines leave the window. Everybody is scored again either way;
scoring is fast (0.5 s for 937k customers).
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import pandas as pd

from segkit.engines.duckdb import local_engine
from segkit.errors import SegkitDataError
from segkit.files.locks import computed_once, modified_time
from segkit.ingest.options import ReadOptions
from segkit.live import snapshot_store
from segkit.live.folder_scan import FileState, FolderScan
from segkit.live.heartbeat import read_heartbeat, write_heartbeat
from segkit.live.live_log import SEGMENT_COLUMNS, LiveLog
from segkit.live.refresh_changes import LiveUpdate, describe_changes
from segkit.live.snapshot_pruning import prune_snapshots
from segkit.live.snapshot_store import (
    SNAPSHOT_VERSION,
    live_log_from,
    read_meta,
    snapshot_folder,
    snapshot_key,
    write_snapshot,
)

if TYPE_CHECKING:
    from segkit.modeling.model import SegmentationModel

__all__ = ["LiveFeed"]


class LiveFeed:
    """What an open page holds: the log's scored customers, refreshed from a snapshot
    shared by every kernel (see the module docstring for the calls).

    ``check()`` lists the settled files (``FolderScan``); their names and hashes, the
    model version and the reading options make the snapshot key. When a snapshot with
    that key exists in ``snapshot_folder()`` it is read (customers, and the clean lines
    with ``with_lines``); otherwise this kernel takes the key's file lock, and computes it
    (from its own ``LiveLog``, else from the newest snapshot's state, else from scratch)
    and writes it (``snapshot_store.write_snapshot``): its parts and a JSON written last, each under
    a temporary name moved into place, so a reader never sees half a snapshot. Other kernels waiting on the
    lock then read it.

    The lines as read (``raw``, what a kernel without state needs to compute the next
    snapshot) are written as a chain: a refresh that only adds files writes only their lines,
    and the snapshot lists the parts that make its log (at most ``RAW_PARTS``; then one
    whole part again). Of each log (folder, model and options) the ``keep`` newest
    snapshots are kept; older ones are removed under the log's lock, with the raw parts no
    kept snapshot lists (``snapshot_pruning.prune_snapshots``).
    """

    def __init__(
        self,
        source: str | Path,
        model: "SegmentationModel",
        options: ReadOptions | None = None,
        rules: str = "default",
        allow_short_window: bool = False,
        settle: float | None = None,
        folder: str | Path | None = None,
        with_lines: bool = True,
        with_report: bool = False,
        keep: int = 3,
        follower: bool = False,
    ) -> None:
        #: ``LiveLog``'s arguments, for the logs this feed computes from.
        self._options = dict(options=options or ReadOptions(), rules=rules, allow_short_window=allow_short_window,
                             settle=settle)
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
        """The key of the snapshot of ``files`` for this log, model and reading options
        (``snapshot_store.snapshot_key``)."""
        options = {**self._options["options"].as_kwargs(), "rules": self._options["rules"],
                   "allow_short_window": self._options["allow_short_window"]}
        return snapshot_key(self.source, self.model_version, options, files)

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
            except OSError:  # removed (pruned) between its JSON and its parts: read again, or compute it
                if attempt == 2:
                    return None
        return None

    def _read_parts(self, key: str) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        return snapshot_store.read_parts(self.folder, key, self.with_lines)

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
        """The page refresher's heartbeat when one follows this log and is alive
        (``heartbeat.read_heartbeat``), else ``None``; always ``None`` for the refresher's own feed."""
        return None if self.is_follower else read_heartbeat(self.follower_path())

    def has_news(self) -> bool:
        """True when the page refresher has a snapshot this feed has not read, or a failure
        it has not reported: cheap (one small file read), for a page to poll often."""
        beat = self.follower()
        return beat is not None and (beat.get("key") not in (None, self.key)
                                     or (beat.get("error") or "") != self._follower_error)

    def publish(self, error: str = "", pid: int | None = None) -> None:
        """The refresher's word to the pages: its newest snapshot (this feed's) and, with
        ``error``, why its last check failed; ``pid``: the refresher's process (default this
        one; a page that starts a refresher publishes for it until it takes over)."""
        write_heartbeat(self.follower_path(), self.key, error, pid)

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
        with local_engine():
            pass
        if self.customers is not None and len(self.customers):
            self.model.segment(self.customers.drop(columns=[c for c in SEGMENT_COLUMNS if c in self.customers]).head(2))

    # ------------------------------------------------------------------ internals

    def _read_meta(self, key: str) -> dict[str, Any] | None:
        return read_meta(self.folder, key)

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
        # The clean lines and customers this feed read at that snapshot are the same frames: not read again.
        held = meta["key"] == self.key and self.customers is not None
        return live_log_from(self.folder, meta, LiveLog(self.source, self.model, **self._options),
                             self.lines if held else None, self.customers if held else None)

    def _write(self, key: str, live: LiveLog, notices: list[str], waiting: list[str] | None = None) -> dict[str, Any]:
        report = live.report if self.with_report else live.report_if_known  # the whole log's report: a full clean
        meta = write_snapshot(self.folder, key, self.snapshot_key({}), self.model_version, live, notices, waiting,
                              report, self.is_follower)
        prune_snapshots(self.folder, self.snapshot_key({}), key, self.keep, SNAPSHOT_VERSION)
        return meta
