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
  ``seg-live-move-matters`` for VIP or Loyal to At risk or Lost, listed first), each
  filtering the table to those customers;
- ``seg-customer-filter``: the customer filter such a button set, with a button that
  clears it.

Without a saved model a folder page is built as before (a model trained once for the
page) and does not follow the folder; the status line says so.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from segkit.config import default_data_path, is_multi_file
from segkit.pipeline.workflow import CustomerData, scoring_window, training_rules

if TYPE_CHECKING:  # segkit.live.feed imports the cleaning (ibis): only a page that follows a folder loads it
    from segkit.live.feed import LiveFeed

__all__ = ["follows_folder", "page_feed", "live_customer_data"]


def follows_folder(data) -> bool:
    """True when a page built from ``data`` (``Dashboard``'s argument; ``None``: the default
    data) reads a folder or glob of files, the data a page can follow."""
    if data is None:
        data = default_data_path()
    return isinstance(data, (str, Path)) and is_multi_file(data)


def page_feed(source, model, follower: bool = False) -> LiveFeed:
    """The ``LiveFeed`` of a page following ``source`` with the saved ``model``: cleaned with
    the model's rules, a log shorter than its window scored with a notice. The page refresher
    builds its feed here too (``follower``), so both name the same snapshots."""
    from segkit.live.feed import LiveFeed

    return LiveFeed(source, model, rules=training_rules(model), allow_short_window=True, follower=follower)


def live_customer_data(feed: LiveFeed) -> CustomerData:
    """The ``CustomerData`` a page shows from the feed's snapshot: its clean lines and its
    customers' features (the segment columns left to the page's model, as for any data)."""
    from segkit.live.live_log import SEGMENT_COLUMNS

    customers = feed.customers.drop(columns=[c for c in SEGMENT_COLUMNS if c in feed.customers.columns])
    name = Path(str(feed.source)).name
    window, _ = scoring_window(feed.model)
    # The feed cleans with the saved model's rules (open_live_state), as the page does any log.
    return CustomerData(f"{name} ({len(feed.files)} files)", False, training_rules(feed.model), None, feed.lines,
                        feed.report, customers, window)

