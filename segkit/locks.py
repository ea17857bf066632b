"""A lock between processes on one machine, for caches several kernels write."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

__all__ = ["file_lock"]


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` between processes (``fcntl.flock``). Without it (no
    ``fcntl``, or a folder that cannot be written) no lock: two processes may then compute
    the same cache entry, harmlessly."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+b")
    except OSError:
        yield
        return
    with handle:
        try:
            import fcntl
        except ImportError:  # Windows
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
