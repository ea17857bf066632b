"""What a page that follows a folder (or glob) of files needs from the live feed, without
widgets: whether its data is such a folder (``follows_folder``), its ``LiveFeed`` with the
saved model's rules and window (``page_feed``, shared with the page refresher so both name
the same snapshots), and the ``CustomerData`` of the feed's current snapshot
(``live_customer_data``). The panel that shows it is ``segkit.dashboard.live_panel``.
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
    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from segkit.live.feed import LiveFeed

    return LiveFeed(source, model, rules=training_rules(model), allow_short_window=True, follower=follower)


def live_customer_data(feed: LiveFeed) -> CustomerData:
    """The ``CustomerData`` a page shows from the feed's snapshot: its clean lines and its
    customers' features (the segment columns left to the page's model, as for any data)."""
    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from segkit.live.live_log import SEGMENT_COLUMNS

    customers = feed.customers.drop(columns=[c for c in SEGMENT_COLUMNS if c in feed.customers.columns])
    name = Path(str(feed.source)).name
    window, _ = scoring_window(feed.model)
    # The feed cleans with the saved model's rules (open_live_state), as the page does any log.
    return CustomerData(f"{name} ({len(feed.files)} files)", False, training_rules(feed.model), None, feed.lines,
                        feed.report, customers, window)

