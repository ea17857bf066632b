"""segkit.live.heartbeat: a page trusts a refresher only while its heartbeat is fresh and its process runs."""
from __future__ import annotations

import os
import subprocess
import sys
import time

from segkit.live.heartbeat import FOLLOWER_STALE_SECONDS, read_heartbeat, write_heartbeat


def test_a_fresh_heartbeat_is_read_back_with_its_snapshot_and_error(tmp_path):
    beat = tmp_path / "beats" / "refresher.json"
    write_heartbeat(beat, "snapshot-key", error="the log folder is gone")
    read = read_heartbeat(beat)
    assert read["key"] == "snapshot-key" and read["error"] == "the log folder is gone" and read["pid"] == os.getpid()
    assert [p.name for p in beat.parent.iterdir()] == ["refresher.json"]  # written whole, no temporary left


def test_a_stale_heartbeat_or_a_stopped_refresher_is_not_trusted(tmp_path):
    beat = tmp_path / "refresher.json"
    write_heartbeat(beat, "snapshot-key")
    old = time.time() - FOLLOWER_STALE_SECONDS - 5
    os.utime(beat, (old, old))
    assert read_heartbeat(beat) is None  # pages compute their refreshes again

    stopped = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    write_heartbeat(beat, "snapshot-key", pid=int(stopped.stdout))
    assert read_heartbeat(beat) is None


def test_a_missing_or_half_written_heartbeat_is_no_refresher(tmp_path):
    assert read_heartbeat(tmp_path / "none.json") is None
    (tmp_path / "broken.json").write_text('{"pid": ')
    assert read_heartbeat(tmp_path / "broken.json") is None
