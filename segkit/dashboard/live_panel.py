"""The live page: a dashboard whose data is a folder (or glob) of files follows it.

``open_live_state`` builds the page's state from a ``segkit.live.feed.LiveFeed`` (the snapshot
shared by every kernel) and the *saved* model, whatever data it was trained on: a live
page never trains or retrains a model. ``LivePanel`` then checks the folder every
``SEGKIT_REFRESH_SECONDS`` (default 60) from a task on the kernel's event loop (the
check itself runs in a worker thread, the widgets are updated on the loop, so their
messages reach the browser like a click's), once the page is shown in a browser: a
pre-heated kernel waiting for its visitor checks when its page is opened. When the page
refresher (``segkit.live.refresher``, started by ``segkit.server.serve``) follows the log,
no page computes: each polls its heartbeat every ``FOLLOWER_POLL_SECONDS`` and reads the
snapshot it names. A new snapshot replaces the state's data
(``DashboardState.set_data``): filters, sort and table page stay as the viewer set them.

What the panel shows (stable CSS classes):

- ``seg-data-status``: "Data up to 9 Dec 2011 12:50, updated 14:03 UTC";
- ``seg-live-notice``: what the last update brought (new lines, new customers, files
  dropped or still being written) and one button per segment move (``seg-live-move``;
  ``seg-live-move-matters`` for VIP or Loyal to a silent segment, listed first), each
  filtering the table to those customers;
- ``seg-customer-filter``: the customer filter such a button set, with a button that
  clears it.

Without a saved model a folder page is built as before (a model trained once for the
page) and does not follow the folder; the status line says so.
"""
from __future__ import annotations

import asyncio
import html
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import ipywidgets as W
import pandas as pd

from segkit.config import Settings, default_data_path, refresh_seconds
from segkit.dashboard.state import DashboardState, ModelStatus, saved_status
from segkit.dashboard.widgets import classed, event_loop, guarded
from segkit.errors import SegkitArtifactError, SegkitError
from segkit.live.live_page import live_customer_data, page_feed
from segkit.pipeline.artifacts import load_artifacts

if TYPE_CHECKING:  # segkit.live.feed imports the cleaning (ibis): only a page that follows a folder loads it
    from segkit.live.feed import LiveFeed
    from segkit.live.refresh_changes import LiveUpdate

__all__ = ["log", "MOVE_BUTTONS", "FOLLOWER_POLL_SECONDS", "FIRST_SNAPSHOT_WAIT_SECONDS", "RESTART_REFRESHER_SECONDS", "open_live_state", "live_status", "MoveGroup", "move_groups", "notice_lines", "status_text", "LivePanel"]


log = logging.getLogger(__name__)


#: Segment moves offered as buttons; the rest are counted in one "all who moved" button.
MOVE_BUTTONS = 6


#: How often an open page asks the page refresher (``segkit.live.refresher``), when one
#: follows its log, for a newer snapshot: a small file read, so a new file reaches the page
#: within this of the refresher's computing it, not a whole refresh interval later.
FOLLOWER_POLL_SECONDS = 2.0


#: How long a page opening while the refresher reads the log waits for its first snapshot
#: before it computes one itself.
FIRST_SNAPSHOT_WAIT_SECONDS = 120.0


#: A page whose refresher stopped answering starts another at most this often.
RESTART_REFRESHER_SECONDS = 600.0


def open_live_state(data, artifacts: Path, settings: Settings | None = None, theme: str = "light"
                    ) -> tuple[DashboardState | None, LiveFeed | None, LiveUpdate | str]:
    """``(state, feed, first update)`` of a page following ``data`` (a folder or glob; see
    ``follows_folder``) with the saved model in ``artifacts``.

    Without a readable saved model: ``(None, None, reason)``; the caller builds the page as
    for any data, and ``LivePanel`` shows the reason.
    """
    source = default_data_path() if data is None else data
    try:
        model = load_artifacts(artifacts)
    except SegkitArtifactError as exc:
        # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
        from segkit.dashboard.state import server_log

        server_log(f"segkit: the page does not follow {source}: it needs a saved model ({str(exc).rstrip('.')}).")
        return None, None, (f"This page shows {Path(str(source)).name} as read when it opened; it does not follow "
                            "new files (no saved model).")
    feed = page_feed(source, model)
    update = feed.check(wait=FIRST_SNAPSHOT_WAIT_SECONDS)
    if update is None or feed.customers is None:  # cannot happen on a first check; said plainly if it does
        raise SegkitError(f"'{source}' could not be read as a log; check that it holds transaction files.")
    if feed.follower() is None:
        # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
        from segkit.live.refresher import start_for_page

        # In Voila without a page refresher (a plain `voila dashboard.ipynb`): start one. Else this
        # kernel may compute the next refresh: get it ready when it only read this one.
        if not start_for_page(feed, artifacts) and update.how == "snapshot":
            feed.prepare()
    state = DashboardState(live_customer_data(feed), model, model.card_, live_status(Path(artifacts), model.card_),
                           artifacts, settings, None, theme)
    state.live_log = feed.snapshot_key({})  # its page caches are pruned apart from other pages'
    return state, feed, update


def live_status(artifacts: Path, card: dict) -> ModelStatus:
    """``saved_status`` and what a live page does with the model: the data it was trained
    on, and that new data is scored with it, never trained on."""
    trained = card.get("training_data") or {}
    customers = trained.get("customers")
    on = f"trained on {trained.get('source', 'unknown data')}" + (
        f", {customers:,} customers" if isinstance(customers, int) else "")
    status = saved_status(artifacts, card)
    return ModelStatus(True, status.text.rstrip(".") + f", {on}; new files are scored with it, never trained on.")


@dataclass(frozen=True)
class MoveGroup:
    """The customers who went from one segment to another in one update."""

    source: str
    target: str
    customers: tuple[str, ...]
    matters: bool

    @property
    def label(self) -> str:
        n = len(self.customers)
        return f"{n:,} {self.source} → {self.target}"

    @property
    def description(self) -> str:
        n = len(self.customers)
        return f"the {n:,} customer{'s' if n != 1 else ''} who moved {self.source} → {self.target}"


def move_groups(moves: pd.DataFrame) -> list[MoveGroup]:
    """``LiveUpdate.moves`` grouped by (from, to), in the order of their first customer
    (``order_moves``: VIP or Loyal to a silent segment first, then other moves into a silent one
    or Lost, then out of them, then the rest; larger spenders first)."""
    groups: dict[tuple[str, str], list[str]] = {}
    matters: dict[tuple[str, str], bool] = {}
    for customer, row in zip(moves.index.astype(str), moves[["From", "To", "Matters"]].itertuples(index=False)):
        key = (str(row.From), str(row.To))
        groups.setdefault(key, []).append(customer)
        matters[key] = bool(row.Matters)
    return [MoveGroup(a, b, tuple(ids), matters[(a, b)]) for (a, b), ids in groups.items()]


def notice_lines(update: LiveUpdate) -> list[str]:
    """The notice after an update, one plain sentence a line (moves are buttons)."""
    return update.sentences(": choose a move to see those customers in the table") or ["No change in the customers."]


def status_text(update: LiveUpdate | None, interval: float) -> str:
    """The header's data line: ``Data up to 9 Dec 2011 12:50, updated 14:03 UTC``."""
    if update is None:
        return ""
    text = update.header()
    return text[:1].upper() + text[1:] + f" · new files are checked for every {interval:g} s"


class LivePanel:
    """The header's live part; follows ``feed`` when given (``start()``), else says why not.

    Reads the state's filters; writes ``state.filters`` (the customer filter of a move
    button, and clearing it) and the state's data (``set_data``) after an update.
    """

    def __init__(self, state: DashboardState, feed: LiveFeed | None, first: LiveUpdate | str | None = None,
                 interval: float | None = None):
        self.state, self.feed = state, feed
        self.interval = refresh_seconds() if interval is None else float(interval)
        self.last: LiveUpdate | None = None if first is None or isinstance(first, str) else first
        self.updates = 0  # updates applied since the page opened
        self.checks = 0
        self.check_seconds: list[float] = []  # CPU seconds of each check that brought an update (feed + page)
        self._task: asyncio.Task | None = None
        self._refresher_tried = time.monotonic()  # when this page last started (or saw) a page refresher
        self._loop: asyncio.AbstractEventLoop | None = None
        self._checking: asyncio.Lock | None = None
        #: Shown in a browser (``page_opened``): a pre-heated kernel waiting for a visitor does not
        #: redraw for nobody; it checks the folder when its page is opened, then every interval.
        self.opened = False
        self._filter_label = ""
        self._problem = ""
        self.status = classed(W.HTML(), "seg-data-status")
        self.notice_text = classed(W.HTML(), "seg-live-notice-text")
        self.moves = classed(W.HBox(layout=W.Layout(flex_flow="row wrap", grid_gap="4px")), "seg-live-moves")
        self.dismiss = classed(W.Button(description="Dismiss", layout=W.Layout(width="auto")), "seg-live-dismiss")
        self.notice = classed(W.VBox([self.notice_text, self.moves],
                                     layout=W.Layout(display="none")), "seg-live-notice")
        self.filter_text = classed(W.HTML(), "seg-customer-filter-text")
        self.clear_filter = classed(W.Button(description="Show all customers", icon="times",
                                             layout=W.Layout(width="auto")), "seg-clear-customer-filter")
        self.filter_chip = classed(W.HBox([self.filter_text, self.clear_filter],
                                          layout=W.Layout(display="none", align_items="center", grid_gap="8px")),
                                   "seg-customer-filter")
        self.widget = classed(W.VBox([self.status, self.notice, self.filter_chip]), "seg-live")
        self.dismiss.on_click(guarded(state, lambda _b: self._hide_notice()))
        self.clear_filter.on_click(guarded(state, lambda _b: self._set_customers(None)))
        state.observe(guarded(state, lambda _c: self._show_filter()), names=["filters", "data_version"])
        if feed is None:
            self.status.value = (f'<span class="seg-meta">{html.escape(first)}</span>'
                                 if isinstance(first, str) else "")
        else:
            self._show_status()
            if self.last is not None and (self.last.notices or self.last.waiting_files):
                # What the first read has to say (a log shorter than the model's window, a file still being written).
                self._show_notice(replace(self.last, added_files=[], changed_files=[], new_customers=[]))

    # ------------------------------------------------------------ following the folder
    def check(self, now: float | None = None) -> LiveUpdate | None:
        """Check the folder once and show what changed; ``None`` when nothing did."""
        cpu = time.process_time()
        update = self.feed.check(now)
        self._checked(update, cpu)
        return update

    def _checked(self, update: LiveUpdate | None, cpu: float) -> None:
        self.checks += 1
        if update is not None:
            self.apply(update)
            # process_time counts every thread of the kernel: the check and the redraw.
            self.check_seconds.append(time.process_time() - cpu)
        elif self._problem:
            self._show_status()  # the folder reads again: the failure is no longer news

    def apply(self, update: LiveUpdate) -> None:
        """Show the feed's new snapshot: the state's data, the status line and the notice."""
        self.state.set_data(live_customer_data(self.feed))
        self.last = update
        self.updates += 1
        self._show_status()
        self._show_notice(update)

    def start(self) -> bool:
        """Check every ``interval`` seconds from a task on the kernel's event loop (the
        check in a worker thread, the widgets on the loop): the folder when the page follows
        one, and on every page whether a newer model was saved (``check_model``). False
        outside an event loop (plain Python, tests): call ``check()`` instead."""
        if self._task is not None:
            return True
        loop = event_loop()
        if loop is None:
            return False
        self._loop, self._checking = loop, asyncio.Lock()
        self._task = loop.create_task(self._follow())
        return True

    def page_opened(self) -> None:
        """The page is shown in a browser: check now, then every interval."""
        self.opened = True
        if self._task is not None and self._loop is not None:
            self._loop.create_task(self._check_once())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _follow(self) -> None:
        since = 0.0  # seconds since the last check
        while True:
            tick = min(self.interval, FOLLOWER_POLL_SECONDS) if self.feed is not None else self.interval
            await asyncio.sleep(tick)
            since += tick
            if not self.opened:
                continue
            # Every interval; sooner when the page refresher has a snapshot this page has not shown.
            if since >= self.interval or (self.feed is not None and self.feed.has_news()):
                since = 0.0
                await self._check_once()

    def check_model(self) -> bool:
        """Take a model saved since the page opened (``state.reload_saved_model``: it says
        so in the page's notice); True when the page changed model."""
        try:
            return self.state.reload_saved_model()
        except Exception:  # noqa: BLE001 - a damaged card must not end the following
            log.exception("checking for a newer saved model failed")
            return False

    async def _check_once(self) -> None:
        async with self._checking:  # one check at a time (the timer's and the page opening's)
            self.check_model()
            if self.feed is None:
                return
            self._restart_refresher()
            cpu = time.process_time()
            try:
                update = await asyncio.get_running_loop().run_in_executor(None, self.feed.check)
            except Exception as exc:  # noqa: BLE001 - a bad check must not end the following
                self._check_failed(exc)
                return
            try:  # not ``guarded``: that clears the viewer's message line at every check
                self._checked(update, cpu)
            except Exception as exc:  # noqa: BLE001 - the page must survive any failure
                self._check_failed(exc)

    def _restart_refresher(self) -> None:
        """The page refresher stopped answering (in Voila): start another, at most once every
        ``RESTART_REFRESHER_SECONDS``; this page computes meanwhile."""
        if time.monotonic() - self._refresher_tried < RESTART_REFRESHER_SECONDS or self.feed.follower() is not None:
            return
        # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
        from segkit.live.refresher import start_for_page

        self._refresher_tried = time.monotonic()
        try:
            start_for_page(self.feed, self.state.artifacts)
        except OSError:
            log.exception("starting the page refresher failed")

    def _check_failed(self, exc: Exception) -> None:
        if not isinstance(exc, SegkitError):
            log.exception("live check failed")
        reason = str(exc) if isinstance(exc, SegkitError) else f"{type(exc).__name__}: {str(exc)[:200]}"
        when = pd.Timestamp.now(tz="UTC").strftime("%H:%M")
        self._show_status(f"The check at {when} UTC failed ({reason}); the page shows the data as before and "
                          "checks again.")

    # ------------------------------------------------------------ drawing
    def _show_status(self, problem: str = "") -> None:
        self._problem = problem
        text = html.escape(status_text(self.last, self.interval))
        extra = f' <span class="seg-error">{html.escape(problem)}</span>' if problem else ""
        self.status.value = f'<div class="seg-meta seg-data-status-text">{text}{extra}</div>'

    def _show_notice(self, update: LiveUpdate) -> None:
        lines = notice_lines(update)
        heading = "New data." if update.changed else "About the data."
        self.notice_text.value = (f'<div class="seg-banner seg-live-notice-lines"><b>{heading}</b> '
                                  + " ".join(html.escape(line) for line in lines) + "</div>")
        buttons = []
        if update.new_customers:
            ids = tuple(update.new_customers)
            buttons.append(self._button(f"{len(ids):,} new", f"the {len(ids):,} new customers", ids,
                                        "seg-live-new"))
        groups = move_groups(update.moves)
        for group in groups[:MOVE_BUTTONS]:
            buttons.append(self._button(group.label, group.description, group.customers,
                                        "seg-live-move", *(("seg-live-move-matters",) if group.matters else ()),
                                        style="warning" if group.matters else ""))
        if len(groups) > MOVE_BUTTONS:
            ids = tuple(str(c) for c in update.moves.index)
            buttons.append(self._button(f"all {len(ids):,} who moved", f"the {len(ids):,} customers who moved "
                                        "segment", ids, "seg-live-move-all"))
        self.moves.children = [*buttons, self.dismiss]
        self.notice.layout.display = ""

    def _button(self, label: str, description: str, customers: tuple[str, ...], *classes: str,
                style: str = "") -> W.Button:
        button = classed(W.Button(description=label, tooltip=f"Show {description} in the table", button_style=style,
                                  layout=W.Layout(width="auto")), *classes)
        button.on_click(guarded(self.state, lambda _b: self._set_customers(customers, description)))
        return button

    def _hide_notice(self) -> None:
        self.notice.layout.display = "none"

    def _set_customers(self, customers: tuple[str, ...] | None, label: str = "") -> None:
        self._filter_label = label
        self.state.filters = replace(self.state.filters, customers=customers)

    def _show_filter(self) -> None:
        chosen = self.state.filters.customers
        if chosen is None:
            self.filter_chip.layout.display = "none"
            self.filter_text.value = ""
            return
        what = self._filter_label or f"the {len(chosen):,} chosen customers"
        shown = len(self.state.selection)
        hidden = "" if shown == len(chosen) else f" ({shown:,} of them pass the other filters)"
        self.filter_text.value = (f'<span class="seg-ok seg-chip">The table shows {html.escape(what)}{hidden}.</span>')
        self.filter_chip.layout.display = ""
