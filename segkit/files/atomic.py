"""Writing a file all or nothing: readers see the old file or the whole new one, never half."""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

__all__ = ["replaced_atomically", "write_text_atomically"]


@contextmanager
def replaced_atomically(target: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a hidden temporary path beside ``target``; when the block ends without an
    error it replaces ``target`` in one step (``os.replace``), otherwise it is removed."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=suffix)
    os.close(fd)
    temporary = Path(name)
    try:
        yield temporary
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def write_text_atomically(text: str, target: str | Path, durable: bool = False) -> None:
    """Write ``text`` to ``target`` all or nothing; ``durable`` also syncs it to disk first."""
    with replaced_atomically(target) as temporary:
        with open(temporary, "w") as handle:
            handle.write(text)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
