"""Download the UCI Online Retail workbook into ``data/`` and check it."""
from __future__ import annotations

import io
import os
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pandas as pd

from segkit.config import DATA_DIR
from segkit.errors import SegkitDataError
from segkit.schema import CANONICAL_COLUMNS

__all__ = ["UCI_URL", "WORKBOOK_NAME", "fetch_data"]

UCI_URL = "https://archive.ics.uci.edu/static/public/352/online+retail.zip"
WORKBOOK_NAME = "Online Retail.xlsx"


def fetch_data(dest: str | Path = DATA_DIR, url: str = UCI_URL, timeout: float = 120) -> Path:
    """Download the UCI archive, check it holds the Online Retail workbook, save it to ``dest``.

    The workbook is written under a temporary name and moved into place only after the
    check, so a failed download never leaves a half-written file.
    """
    dest = Path(dest)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            payload = response.read()
    except urllib.error.HTTPError as exc:
        raise SegkitDataError(f"Downloading {url} failed with HTTP {exc.code}; check the address or try again later.") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SegkitDataError(
            f"Could not download {url} ({reason}); check the internet connection, or download it by hand and put "
            f"'{WORKBOOK_NAME}' in {dest}."
        ) from None
    try:
        archive = zipfile.ZipFile(io.BytesIO(payload))
    except zipfile.BadZipFile:
        raise SegkitDataError(f"The download from {url} is not a zip archive ({len(payload):,} bytes); try again later.") from None
    members = [m for m in archive.namelist() if m.lower().endswith(".xlsx")]
    if not members:
        raise SegkitDataError(
            f"The archive from {url} holds no .xlsx workbook (found: {', '.join(archive.namelist()) or 'nothing'}); "
            "the UCI page may have changed: download the file by hand."
        )
    dest.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest, prefix=".download.", suffix=".xlsx")
    os.close(fd)
    tmp = Path(tmp)
    try:
        tmp.write_bytes(archive.read(members[0]))
        try:
            header = pd.read_excel(tmp, engine="calamine", nrows=5)
        except Exception as exc:
            raise SegkitDataError(f"The workbook in the download from {url} cannot be read ({exc}); try again later.") from None
        missing = [c for c in CANONICAL_COLUMNS if c not in header.columns]
        if missing:
            raise SegkitDataError(
                f"The workbook downloaded from {url} lacks the column(s) {', '.join(missing)}; it is not the Online Retail data."
            )
        target = dest / WORKBOOK_NAME
        os.replace(tmp, target)
        return target
    finally:
        tmp.unlink(missing_ok=True)
