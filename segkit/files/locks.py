"""A lock between processes on one machine, for caches several kernels write."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Callable, Iterator, TypeVar

T = TypeVar("T")

__all__ = ["file_lock", "computed_once", "remove_lock", "modified_time"]


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
            # optional: fcntl, absent on Windows
            import fcntl
        except ImportError:  # Windows
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def computed_once(lock_path: Path, read: Callable[[], T | None], compute: Callable[[], T]) -> T:
    """A cache entry several processes may want at once: ``read()`` it, or else, holding
    the lock on ``lock_path``, read it again (another process may just have written it)
    and only then ``compute()`` it (``compute`` writes the entry for the next reader).
    Kernels started together (Voilà fills its pool at once) so compute it once."""
    found = read()
    if found is not None:
        return found
    with file_lock(lock_path):
        found = read()
        return found if found is not None else compute()


def remove_lock(path: Path) -> None:
    """Remove the lock file ``path`` of a cache entry that is gone, when no process holds it
    (else leave it). A process that opened it just before may still take the removed lock
    and another a new one: then both compute the entry, which is harmless."""
    try:
        handle = open(path, "a+b")
    except OSError:
        return
    with handle:
        try:
            # optional: fcntl, absent on Windows
            import fcntl

            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (ImportError, OSError):  # held by someone, or no fcntl: leave it
            return
        path.unlink(missing_ok=True)


def modified_time(path: Path) -> float:
    """``path``'s modification time, 0 when it was removed meanwhile (newest-first sorting of cache entries)."""
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
