"""Removing old live snapshots: of each log (folder, model and options) the newest few are
kept; raw parts stay while a kept snapshot lists them; an earlier segkit's snapshots go
once they are a day old."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from segkit.files.locks import file_lock, modified_time, remove_lock

__all__ = ["prune_snapshots", "other_version_snapshots", "OTHER_VERSION_SECONDS"]

#: Snapshots written by another snapshot version (an earlier segkit) are removed once they
#: are this old (a kernel of that version may still be reading a younger one).
OTHER_VERSION_SECONDS = 86400.0


def prune_snapshots(folder: Path, family: str, current: str, keep: int, version: int) -> None:
    """Remove the snapshots of the log ``family`` in ``folder`` but the ``keep`` newest (and
    ``current``), under the log's lock, and those of other snapshot versions than ``version``
    (``other_version_snapshots``). The JSON goes first, so a snapshot is gone before its
    parts; a raw part stays while a snapshot lists it. A page that read a snapshot holds what
    it read; one caught between the JSON and the parts of a removed snapshot reads again
    (``LiveFeed.check``); a kernel rebuilding its state from one falls back to an older one or
    to the files."""
    with file_lock(folder / f"{family}.prune.lock"):
        metas = []
        for path in sorted(folder.glob("*.json"), key=modified_time, reverse=True):
            try:
                meta = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if meta.get("family") == family:
                metas.append(meta)
        kept = [m for i, m in enumerate(metas) if i < keep or m.get("key") == current]
        gone = [m for m in metas if m not in kept] + other_version_snapshots(folder, version)
        for meta in gone:
            (folder / f"{meta['key']}.json").unlink(missing_ok=True)
            for part in ("lines.arrow", "customers.arrow", "hashes.npz"):
                (folder / f"{meta['key']}.{part}").unlink(missing_ok=True)
        # Raw parts, once no snapshot (of any log) lists them.
        listed = set()
        for path in folder.glob("*.json"):
            try:
                meta = json.loads(path.read_text())
                listed.update(meta.get("raw_parts") or [meta["key"]])
            except (OSError, ValueError, KeyError):
                continue
        for path in folder.glob("*.raw.parquet"):
            key = path.name.split(".")[0]
            if key not in listed and not (folder / f"{key}.json").exists():
                path.unlink(missing_ok=True)
        for meta in gone:
            remove_lock(folder / f"{meta['key']}.lock")


def other_version_snapshots(folder: Path, version: int) -> list[dict[str, Any]]:
    """The snapshots (of any log) in ``folder`` that another snapshot version than ``version``
    wrote, over ``OTHER_VERSION_SECONDS`` old: an earlier segkit's, which no kernel of this one reads."""
    old = []
    for path in folder.glob("*.json"):
        if path.name.endswith(".follower.json") or time.time() - modified_time(path) < OTHER_VERSION_SECONDS:
            continue
        try:
            meta = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(meta, dict) and meta.get("key") == path.stem and meta.get("version") != version:
            old.append(meta)
    return old
