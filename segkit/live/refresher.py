"""The page refresher: one process computes a live page's refreshes for every open page.

Without it, the first open page to notice a new file computes the refresh (cleaning the
touched customers, their features, scoring everyone, the page cache) inside its
kernel, and the others read it. With it, no page kernel computes: ``python -m
segkit.live.refresher`` (started by ``segkit.server.serve`` when the page follows a folder
and a saved model exists) checks the folder five times per ``SEGKIT_REFRESH_SECONDS``
(at most once a second; listing the folder is cheap), computes
each new folder state once (``LiveFeed`` with ``follower=True``), writes the page cache
the pages open from (``segmented_customers``), and only then names the new snapshot in its
heartbeat (``LiveFeed.publish``). Open pages poll that heartbeat every couple of seconds
(``LivePanel``) and read the snapshot; they never list the folder meanwhile. So a new
file reaches every open page within a fifth of the interval, the computing, and the
pages' poll (measured costs: docs/benchmarks.md, "Live data").

Under plain ``voila dashboard.ipynb`` (no ``segkit.server.serve``), the first page kernel that
finds no refresher for its log starts one (``start_for_page``), which then lives as long as
the Voilà server. One refresher per log: each holds the log's lock
(``<cache>/live/<log>.refresher.lock``) while it runs, and a second one exits at once.
``SEGKIT_REFRESHER=0`` turns the refresher off (pages then compute their own refreshes).

It takes a model saved since it started at its next check (pages of the old model, whose
heartbeat is then gone, compute their own refreshes again). A failing check is published
as the reason, which the pages show; the refresher keeps following. It stops when the
process it watches (``--watch-pid``, default its parent: the Voilà server) ends, and
removes its heartbeat; pages whose refresher stopped answering compute again after
``FOLLOWER_STALE_SECONDS``.

Run: ``python -m segkit.live.refresher [--data FOLDER] [--artifacts DIR] [--once]``;
it prints one line when its first snapshot is published (``ready: ...``) or why it does
not follow (``not following: ...``), then logs to standard error.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from segkit.config import (
    PROJECT_ROOT,
    artifacts_dir,
    default_data_path,
    is_multi_file,
    refresh_seconds,
)
from segkit.errors import SegkitError
from segkit.live.heartbeat import FOLLOWER_BEAT_SECONDS, pid_alive

if TYPE_CHECKING:
    from segkit.live.feed import LiveFeed
    from segkit.live.refresh_changes import LiveUpdate

__all__ = ["PageRefresher", "start_for_page", "refresher_wanted", "main", "REFRESHER_ENV"]

log = logging.getLogger(__name__)

#: ``SEGKIT_REFRESHER=0``: no page refresher; every page computes the refreshes it needs.
REFRESHER_ENV = "SEGKIT_REFRESHER"


def refresher_wanted() -> bool:
    """False when ``SEGKIT_REFRESHER`` is 0 (or no, off, false)."""
    return os.environ.get(REFRESHER_ENV, "").strip().lower() not in ("0", "no", "off", "false")


class AnotherRefresher(Exception):
    """Another page refresher holds this log's lock."""


class PageRefresher:
    """Follows ``data`` (a folder or glob; default the page's) with the saved model in
    ``artifacts`` (default the page's) for every page; see the module docstring.

    ``step()`` checks once; ``run()`` checks every ``period`` seconds (a fifth of the
    pages' ``interval``, at least 1 s) until stopped. ``cpu_seconds``: CPU seconds of each
    check that computed a snapshot (newest last).
    """

    def __init__(self, data: str | Path | None = None, artifacts: str | Path | None = None,
                 interval: float | None = None):
        self.source = default_data_path() if data is None else data
        self.artifacts = Path(artifacts) if artifacts is not None else artifacts_dir()
        self.interval = refresh_seconds() if interval is None else float(interval)
        self.period = max(1.0, self.interval / 5)
        self.feed: LiveFeed | None = None
        self.card_checksum: str | None = None
        self.cpu_seconds: list[float] = []
        self.stopped = threading.Event()
        self._published: tuple[str | None, str] | None = None  # (key, error) last published
        self._lock = None  # the open lock file of the log followed (held while this process runs)
        self.duplicate = False  # another refresher follows this log: this one stopped

    def why_not(self) -> str:
        """Why this process cannot follow the page's data ("" when it can)."""
        if not refresher_wanted():
            return f"{REFRESHER_ENV}={os.environ.get(REFRESHER_ENV)} turns the page refresher off"
        if self.source is None or not is_multi_file(self.source):
            return f"the page's data ({self.source or 'the built-in sample'}) is not a folder or glob of files"
        # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
        from segkit.pipeline.artifacts import read_model_card

        try:
            read_model_card(self.artifacts)
        except SegkitError as exc:
            return f"no saved model to score with ({str(exc).rstrip('.')})"
        return ""

    def step(self) -> LiveUpdate | None:
        """Check the folder once: compute and publish what changed; ``None`` when nothing did
        (or the check failed: the reason is published for the pages)."""
        cpu = time.process_time()
        try:
            feed = self._feed()
            update = feed.check()
            if update is not None:
                self._write_page_cache(feed)
        except AnotherRefresher:
            log.info("another page refresher follows %s; stopping", self.source)
            self.duplicate = True
            self.stopped.set()
            return None
        except SegkitError as exc:
            self._publish(str(exc))
            log.warning("check failed: %s", exc)
            return None
        except Exception as exc:  # noqa: BLE001 - the refresher must outlive any one failure
            log.exception("check failed")
            self._publish(f"{type(exc).__name__}: {str(exc)[:200]}")
            return None
        self._publish("")
        if update is not None:
            self.cpu_seconds.append(time.process_time() - cpu)
            log.info("%s (%.2f s CPU)", update.summary(), self.cpu_seconds[-1])
        return update

    def run(self, watch_pid: int | None = None, ready=None) -> None:
        """Check every ``period`` seconds until ``stopped`` is set or ``watch_pid`` ends;
        ``ready(text)`` is called once after the first check."""
        beat = threading.Thread(target=self._beat, args=(watch_pid,), daemon=True)
        beat.start()
        try:
            self.step()
            if ready is not None:
                ready(self._ready_text())
            while not self.stopped.wait(self.period):
                self.step()
        finally:
            self.stopped.set()
            self._release()

    # ------------------------------------------------------------ internals
    def _feed(self) -> LiveFeed:
        """The feed for the saved model; a new one (a fresh start) when another was saved."""
        # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
        from segkit.live.live_page import page_feed
        from segkit.pipeline.artifacts import load_artifacts, read_model_card

        card = read_model_card(self.artifacts)
        checksum = card.get("card_sha256") or card.get("created")
        if self.feed is None or checksum != self.card_checksum:
            model = load_artifacts(self.artifacts)
            feed = page_feed(self.source, model, follower=True)
            self._release()  # the old model's pages compute their own refreshes again
            self._lock = _try_lock(_lock_path(feed))
            if self._lock is None:
                raise AnotherRefresher()
            self.feed, self.card_checksum, self._published = feed, checksum, None
        return self.feed

    def _write_page_cache(self, feed: LiveFeed) -> None:
        """What a page opens from (``segmented_customers``): every customer segmented with
        lifetime value, as ``DashboardState.scored`` of a live page asks for it."""
        # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
        from segkit.live.live_page import live_customer_data
        from segkit.page.page_cache import page_customers, segmented_customers

        data = live_customer_data(feed)
        segmented_customers(data.fingerprint, feed.model.card_, lambda: page_customers(data, feed.model),
                            feed.snapshot_key({}))

    def _publish(self, error: str) -> None:
        """Publish the feed's snapshot and ``error`` when either changed, else touch the
        heartbeat (as the heartbeat thread does meanwhile)."""
        if self.feed is None:
            return
        if (self.feed.key, error) != self._published:
            self.feed.publish(error)
            self._published = (self.feed.key, error)
            return
        try:
            os.utime(self.feed.follower_path())
        except OSError:  # removed (a test, a cleaner): written again
            self.feed.publish(error)

    def _ready_text(self) -> str:
        if self.duplicate:
            return f"not following: another page refresher follows {self.source}"
        feed = self.feed
        if feed is None or feed.customers is None:
            return f"ready: following {self.source}, no snapshot yet"
        return (f"ready: following {self.source} ({len(feed.files)} files, {len(feed.customers):,} customers) "
                f"every {self.period:g} s")

    def _beat(self, watch_pid: int | None) -> None:
        """Touch the heartbeat every ``FOLLOWER_BEAT_SECONDS``; stop when ``watch_pid`` ends."""
        while not self.stopped.wait(FOLLOWER_BEAT_SECONDS):
            if watch_pid is not None and not _running(watch_pid):
                log.info("process %s ended; stopping", watch_pid)
                self.stopped.set()
                return
            if self.feed is not None:
                try:
                    os.utime(self.feed.follower_path())
                except OSError:
                    pass  # not published yet

    def _release(self) -> None:
        """Remove the heartbeat and release the log's lock (only when this process holds it)."""
        if self.feed is not None and self._lock is not None:
            self.feed.follower_path().unlink(missing_ok=True)
            self._lock.close()  # closing the file releases the lock
            self._lock = None


def _lock_path(feed: LiveFeed) -> Path:
    return feed.folder / f"{feed.snapshot_key({})}.refresher.lock"


def _try_lock(path: Path):
    """The open file of ``path`` locked for this process, or ``None`` when another holds it."""
    # optional: fcntl, absent on Windows
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+b")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def start_for_page(feed: LiveFeed, artifacts: str | Path) -> bool:
    """Start a page refresher for ``feed``'s log from a page in a Voilà kernel when none
    follows it (no fresh heartbeat, nobody holds the log's lock): a process of its own, in
    its own session, that stops with the Voilà server (the kernel's parent), its log in
    ``<cache>/live/<log>.refresher.log``. True when one was started. Not outside Voilà (a
    notebook or a test builds pages in its own process), nor with ``SEGKIT_REFRESHER=0``."""
    in_voila = any(name in os.environ for name in ("VOILA_KERNEL_ID", "VOILA_PREHEAT", "VOILA_BASE_URL"))
    if not refresher_wanted() or not in_voila or feed.follower() is not None:
        return False
    lock = _try_lock(_lock_path(feed))
    if lock is None:  # one runs, or is starting
        return False
    try:
        if feed.follower() is not None:  # another page started one meanwhile
            return False
        output = open(feed.folder / f"{feed.snapshot_key({})}.refresher.log", "ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "segkit.live.refresher", "--data", str(feed.source), "--artifacts",
             str(artifacts), "--watch-pid", str(os.getppid())],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=output, cwd=PROJECT_ROOT,
            start_new_session=True)
        output.close()
        # Its heartbeat until it writes its own (a few seconds): the snapshot this page holds, so
        # pages opening meanwhile (a pool filling) neither start another refresher nor compute.
        feed.publish(pid=process.pid)
    finally:
        lock.close()
    threading.Thread(target=process.wait, daemon=True).start()  # reaped when it ends
    log.info("started the page refresher (pid %s) for %s", process.pid, feed.source)
    return True


#: The process that started this one: when it is the one watched and this process was handed
#: to another parent, it has ended (even if its pid was reused since).
_PARENT = os.getppid()


def _running(pid: int) -> bool:
    if pid == _PARENT and os.getppid() != pid:
        return False
    return pid_alive(pid)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m segkit.live.refresher", description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="folder or glob the page follows (default: the page's data)")
    parser.add_argument("--artifacts", default=None, help="saved model folder (default: the page's)")
    parser.add_argument("--watch-pid", type=int, default=os.getppid(),
                        help="stop when this process ends (default: the parent, the Voila server)")
    parser.add_argument("--once", action="store_true", help="check once, print the result and exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="segkit refresher: %(message)s")
    refresher = PageRefresher(args.data, args.artifacts)
    reason = refresher.why_not()
    if reason:
        print(f"not following: {reason}", flush=True)
        return
    if args.once:
        refresher.step()
        print(refresher._ready_text(), flush=True)
        return

    def stop(_signum, _frame):
        refresher.stopped.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def ready(text: str) -> None:
        print(text, flush=True)
        # Nothing more on standard output: the server that waited for this line stops reading it.
        sys.stdout = sys.stderr

    refresher.run(args.watch_pid, ready)


if __name__ == "__main__":
    main()
