"""Content digests of files and the parquet cache of what was read (keyed by the file's
bytes and the read options), written atomically."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Mapping

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from segkit.config import (
    cache_dir,
    currency,
)
from segkit.ingest.options import ReadOptions

__all__ = ["CACHE_VERSION", "cache_path", "file_digest", "keyed_cache_path", "file_digests", "prefix_digest", "read_table_with_metadata", "write_parquet_atomically", "write_table_atomically"]


# Bump when the canonical frame changes so old cache files are not reused.
CACHE_VERSION = 4


def prefix_digest(path: Path, size: int) -> str:
    """SHA-256 of the first ``size`` bytes of a file (``file_digest`` of what it held at that size)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        left = size
        while left > 0:
            block = fh.read(min(1 << 20, left))
            if not block:
                break
            digest.update(block)
            left -= len(block)
    return digest.hexdigest()


def file_digests(path: Path, at: int) -> tuple[str, str]:
    """``(prefix_digest(path, at), file_digest(path))`` in one pass over the file: a file that
    grew is hashed once, its earlier bytes' digest taken on the way."""
    digest, prefix = hashlib.sha256(), None
    with open(path, "rb") as fh:
        done = 0
        for block in iter(lambda: fh.read(1 << 20), b""):
            if prefix is None and done + len(block) >= at:
                digest.update(block[:at - done])
                prefix = digest.hexdigest()
                digest.update(block[at - done:])
            else:
                digest.update(block)
            done += len(block)
    return (prefix if prefix is not None else digest.hexdigest()), digest.hexdigest()


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes (0.02-0.04 s for the 26 MB UCI workbook, from the page cache)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_path(path: Path, options: ReadOptions) -> Path:
    """Cache file keyed by the file's content (not its name, size or mtime) and the reading options."""
    return keyed_cache_path(path, *options.key())


def keyed_cache_path(path: Path, *parts) -> Path:
    """Cache file keyed by the file's content and ``parts`` (JSON-ready: what decides the result)."""
    # The currency shown is part of the key: a file is checked against it when read (check_one_currency).
    key = json.dumps([file_digest(path), *parts, currency(), CACHE_VERSION])
    digest = hashlib.sha256(key.encode()).hexdigest()[:20]
    return cache_dir() / f"{path.stem}-{digest}.parquet"


def write_parquet_atomically(frame: pd.DataFrame, target: Path) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
        os.close(fd)
        # microseconds: Spark 4 refuses parquet timestamps in nanoseconds
        frame.to_parquet(tmp, index=False, coerce_timestamps="us", allow_truncated_timestamps=True)
        os.replace(tmp, target)
    except OSError:
        # A read-only cache folder only costs speed.
        Path(locals().get("tmp", target.with_suffix(".tmp"))).unlink(missing_ok=True)


def write_table_atomically(frame: pd.DataFrame, path: Path, metadata: Mapping[str, str]) -> None:
    """Write ``frame`` (index kept) with ``metadata`` in the parquet footer, all or nothing
    (a reader sees the old file or the whole new one); timestamps in microseconds. A cache
    folder that cannot be written only costs the next reader the computation."""
    table = pa.Table.from_pandas(frame)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           **{k.encode(): str(v).encode() for k, v in metadata.items()}})
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, partial, coerce_timestamps="us", allow_truncated_timestamps=True)
        os.replace(partial, path)
    except OSError:
        partial.unlink(missing_ok=True)


def read_table_with_metadata(path: Path) -> tuple[pd.DataFrame, dict[str, str]] | None:
    """A frame written by ``write_table_atomically`` (nanosecond timestamps, string index,
    as segkit computes them) and its metadata; ``None`` when missing or unreadable."""
    try:
        table = pq.read_table(path)
        metadata = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
        frame = table.to_pandas()
    except Exception:  # a damaged cache entry is computed again
        return None
    stamps = [c for c in frame.columns if pd.api.types.is_datetime64_any_dtype(frame[c])]
    frame = frame.astype({c: "datetime64[ns]" for c in stamps})
    frame.index = frame.index.astype("string")
    return frame, metadata


