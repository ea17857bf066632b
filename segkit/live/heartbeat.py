"""The page refresher's heartbeat (``segkit.live.refresher``): a small JSON file it touches
every ``FOLLOWER_BEAT_SECONDS`` naming its newest snapshot, read by every page of the log."""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from segkit.files.atomic import write_text_atomically

__all__ = ["FOLLOWER_BEAT_SECONDS", "FOLLOWER_STALE_SECONDS", "read_heartbeat", "write_heartbeat", "pid_alive"]

#: A page refresher (``segkit.live.refresher``) touches its heartbeat file this often ...
FOLLOWER_BEAT_SECONDS = 2.0
#: ... and is taken for gone (pages compute their refreshes again) when it is older than this.
FOLLOWER_STALE_SECONDS = 10.0


def pid_alive(pid: Any) -> bool:
    """True when a process ``pid`` runs on this machine (or it cannot be told)."""
    try:
        os.kill(int(pid), 0)
    except (TypeError, ValueError, ProcessLookupError):
        return False
    except OSError:  # another user's process
        return True
    return True


def read_heartbeat(path: Path) -> dict[str, Any] | None:
    """The heartbeat at ``path`` (``{"pid", "host", "key", "error", "written"}``) when its
    refresher is alive: touched within ``FOLLOWER_STALE_SECONDS`` and, on this machine, its
    process running; else ``None``."""
    try:
        if time.time() - path.stat().st_mtime > FOLLOWER_STALE_SECONDS:
            return None
        beat = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if beat.get("host") == socket.gethostname() and not pid_alive(beat.get("pid")):
        return None
    return beat


def write_heartbeat(path: Path, key: str | None, error: str = "", pid: int | None = None) -> None:
    """Write the heartbeat whole under a temporary name: the newest snapshot ``key``, and
    with ``error`` why the last check failed; ``pid``: the refresher's process (default this one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomically(json.dumps({"pid": pid or os.getpid(), "host": socket.gethostname(), "key": key,
                                      "error": error or None, "written": time.time()}), path)
