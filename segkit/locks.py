"""A lock between processes on one machine, for caches several kernels write."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

__all__ = ["file_lock"]


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` between processes (``fcntl.flock``; on systems
    without it, no lock: two kernels may then compute the same snapshot, harmlessly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
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
