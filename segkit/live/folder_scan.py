"""The settled files of a followed log, by content: ``FileState`` (one file as last read) and
``FolderScan`` (which files are ready, which are still being written)."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from segkit.config import settle_seconds
from segkit.errors import SegkitDataError
from segkit.ingest.read_cache import file_digest, file_digests, prefix_digest
from segkit.ingest.logs import log_files, source_labels

__all__ = ["FileState", "FolderScan"]


@dataclass(frozen=True)
class FileState:
    """One file of a log as last read: name (``SourceFile``), path, SHA-256 of its bytes,
    size (bytes), modification time (ns) and lines read from it. For a CSV file that grew:
    ``grew_from``, the digest of the version whose lines were kept (only the new lines were
    read), and ``plain``, whether its cells read the same alone as in the whole file
    (``load.plain_cells``; ``None``: not checked)."""

    name: str
    path: str
    digest: str
    size: int
    mtime_ns: int
    lines: int = 0
    grew_from: str = ""
    plain: bool | None = None


class FolderScan:
    """The settled files of a log, by content.

    A file counts once it is settled: its modification time is at least ``settle``
    seconds old (``SEGKIT_SETTLE_SECONDS``, default 10), or its size and time are the same
    as at the previous check. A file still growing is listed in ``waiting`` and read at a
    later check. Names a copy uses while writing (``*.tmp``, ``*.part``, dotfiles) are never
    read; writing under such a name and renaming is the safe way to drop a file in. Hashes
    are kept per (path, size, time), so an unchanged file is not read again.
    """

    def __init__(self, source: str | Path, settle: float | None = None) -> None:
        self.source = source
        self.settle = settle_seconds() if settle is None else float(settle)
        self._seen: dict[str, tuple[int, int]] = {}
        self._digests: dict[tuple[str, int, int], str] = {}
        self._hashed: dict[str, int] = {}  # path -> size of the version last hashed
        #: (path, size, time, earlier size) -> digest of the earlier size's bytes, taken while hashing a
        #: file that grew (``prefix``): its earlier bytes are not read a second time to check them.
        self._prefixes: dict[tuple[str, int, int, int], str] = {}

    def check(self, now: float | None = None) -> tuple[dict[str, FileState], list[str]]:
        """``(ready, waiting)``: settled files by name, and names of files still being written."""
        now = time.time() if now is None else now
        try:
            paths = log_files(self.source)
        except SegkitDataError:
            if Path(str(self.source)).expanduser().exists() or any(c in str(self.source) for c in "*?["):
                return {}, []  # an empty folder: no files yet
            raise
        labels = source_labels(paths)
        ready: dict[str, FileState] = {}
        waiting: list[str] = []
        seen: dict[str, tuple[int, int]] = {}
        for path in paths:
            try:
                stat = path.stat()
            except OSError:  # removed between listing and stat
                continue
            stamp = (stat.st_size, stat.st_mtime_ns)
            seen[str(path)] = stamp
            settled = (now - stat.st_mtime >= self.settle) or self._seen.get(str(path)) == stamp
            if not settled or stat.st_size == 0:
                waiting.append(labels[path])
                continue
            key = (str(path), *stamp)
            if key not in self._digests:
                earlier = self._hashed.get(str(path), 0)
                if 0 < earlier < stat.st_size:
                    self._prefixes[(*key, earlier)], self._digests[key] = file_digests(path, earlier)
                else:
                    self._digests[key] = file_digest(path)
                self._hashed[str(path)] = stat.st_size
            ready[labels[path]] = FileState(labels[path], str(path), self._digests[key], *stamp)
        self._seen = seen
        current = {(s.path, s.size, s.mtime_ns) for s in ready.values()}
        self._prefixes = {k: v for k, v in self._prefixes.items() if k[:3] in current}
        return ready, waiting

    def prefix(self, state: FileState, size: int) -> str:
        """SHA-256 of the first ``size`` bytes of ``state``'s file: taken while hashing it when
        this scan hashed that file at ``size`` before (a file that grew), else read now."""
        known = self._prefixes.get((state.path, state.size, state.mtime_ns, size))
        return known if known is not None else prefix_digest(Path(state.path), size)

